// TLS, mutual TLS, the plaintext health port (readiness and liveness) and
// bearer tokens, against the real MariaDB. Certificates are made by the
// openssl CLI in a temporary directory for each run: a CA, a server
// certificate for 127.0.0.1/localhost and a client certificate signed by it,
// and a second CA with a client certificate of its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/support/certs.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path);
  out << contents;
}

// The certificates of one run: a CA, a server certificate for
// 127.0.0.1/localhost and a client certificate signed by it, and a second
// CA with a client certificate of its own.
using Certs = TestCertificates;

const Certs& TheCerts() {
  static const Certs* certs =
      new Certs({"ca", "otherca"}, {{"server", "ca", "DNS:localhost,IP:127.0.0.1"},
                                    {"client", "ca", "DNS:client"},
                                    {"stranger", "otherca", "DNS:stranger"}});
  return *certs;
}

service::ServerOptions TlsOptions(bool mutual) {
  service::ServerOptions o = DefaultServerOptions();
  o.tls_cert_file = TheCerts().path("server.crt");
  o.tls_key_file = TheCerts().path("server.key");
  if (mutual) o.tls_client_ca_file = TheCerts().path("ca.crt");
  return o;
}

std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& trusted_ca,
                                          const std::string& client = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = TheCerts().pem(trusted_ca);
  if (!client.empty()) {
    ssl.pem_cert_chain = TheCerts().pem(client + ".crt");
    ssl.pem_private_key = TheCerts().pem(client + ".key");
  }
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(ssl));
}

std::shared_ptr<grpc::Channel> PlainChannel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

grpc::Status Select1(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = txgate::v1::DatabaseService::NewStub(channel);
  return Exec(*stub, "SELECT 1", {}, nullptr, absl::Seconds(5));
}

// The status of grpc.health.v1.Health/Check for `service`, or the error.
absl::StatusOr<HealthCheckResponse::ServingStatus> Health(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  auto ctx = WithDeadline(absl::Seconds(5));
  grpc::Status s = stub->Check(ctx.get(), req, &resp);
  if (!s.ok())
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return resp.status();
}

// Server reflection's ListServices, as one request on the bidi method.
grpc::Status ListServices(const std::shared_ptr<grpc::Channel>& channel, std::string* out) {
  grpc::GenericStub stub(channel);
  const std::string request("\x3a\x00", 2);  // ServerReflectionRequest{list_services: ""}
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                 grpc::StubOptions(), &req, &resp,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    (void)resp.Dump(&slices);
    for (const grpc::Slice& s : slices)
      out->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

TEST(TlsTest, ServesTlsToAClientTrustingItsCa) {
  TestServer server(TlsOptions(false));
  grpc::Status s = Select1(TlsChannel(server.server().port(), "ca.crt"));
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
}

TEST(TlsTest, RefusesAPlaintextClient) {
  TestServer server(TlsOptions(false));
  grpc::Status s = Select1(PlainChannel(server.server().port()));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(TlsTest, AClientTrustingAnotherCaRefusesTheServer) {
  TestServer server(TlsOptions(false));
  grpc::Status s = Select1(TlsChannel(server.server().port(), "otherca.crt"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(MutualTlsTest, AcceptsAClientCertificateSignedByTheClientCa) {
  TestServer server(TlsOptions(true));
  grpc::Status s = Select1(TlsChannel(server.server().port(), "ca.crt", "client"));
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
}

TEST(MutualTlsTest, RefusesAClientWithoutCertificate) {
  TestServer server(TlsOptions(true));
  grpc::Status s = Select1(TlsChannel(server.server().port(), "ca.crt"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(MutualTlsTest, RefusesAClientCertificateOfAnotherCa) {
  TestServer server(TlsOptions(true));
  grpc::Status s = Select1(TlsChannel(server.server().port(), "ca.crt", "stranger"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(MutualTlsTest, RefusesAPlaintextClient) {
  TestServer server(TlsOptions(true));
  grpc::Status s = Select1(PlainChannel(server.server().port()));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(TlsConfigTest, BrokenSettingsFailAtStart) {
  service::ServerOptions o = TlsOptions(false);
  o.tls_key_file.clear();
  EXPECT_THAT(service::Server::Start(o).status().message(),
              ::testing::HasSubstr("both --tls_cert_file and --tls_key_file"));

  o = TlsOptions(false);
  o.tls_key_file = TheCerts().path("client.key");  // not the certificate's key
  EXPECT_THAT(service::Server::Start(o).status().message(),
              ::testing::HasSubstr("not the private key"));

  o = TlsOptions(true);
  o.tls_client_ca_file = TheCerts().path("server.key");
  EXPECT_THAT(service::Server::Start(o).status().message(),
              ::testing::HasSubstr("no PEM certificate"));

  o = DefaultServerOptions();
  o.tls_client_ca_file = TheCerts().path("ca.crt");
  EXPECT_FALSE(service::Server::Start(o).ok());
}

// The health port is plaintext even when the main port needs mTLS, serves
// Health and nothing else.
TEST(HealthPortTest, ServesOnlyHealthInPlaintextBesideMutualTls) {
  service::ServerOptions o = TlsOptions(true);
  o.health_listen = "127.0.0.1:0";
  TestServer server(o);
  ASSERT_NE(server.server().health_port(), 0);
  auto health = PlainChannel(server.server().health_port());
  EXPECT_EQ(Health(health, "").value_or(HealthCheckResponse::UNKNOWN),
            HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(health, "txgate.v1.DatabaseService").value_or(HealthCheckResponse::UNKNOWN),
            HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(health, "txgate.v1.Liveness").value_or(HealthCheckResponse::UNKNOWN),
            HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(health, "no.such.Service").status().code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(Select1(health).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  std::string listing;
  EXPECT_EQ(ListServices(health, &listing).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // The main port still lists its services to a client with a certificate.
  grpc::Status s = ListServices(TlsChannel(server.server().port(), "ca.crt", "client"), &listing);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(listing, ::testing::HasSubstr("txgate.v1.DatabaseService"));
}

// Without the database, readiness says NOT_SERVING and liveness SERVING, so
// that a database outage takes pods out of rotation without restarts.
TEST(HealthPortTest, LivenessStaysServingWhileTheDatabaseIsDown) {
  service::ServerOptions o = DefaultServerOptions();
  o.health_listen = "127.0.0.1:0";
  o.mysql.port = 1;  // nothing listens there
  o.pool.connect_timeout = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<service::Server>> server = service::Server::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto health = PlainChannel((*server)->health_port());
  EXPECT_EQ(Health(health, "").value_or(HealthCheckResponse::UNKNOWN),
            HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health(health, "txgate.v1.Liveness").value_or(HealthCheckResponse::UNKNOWN),
            HealthCheckResponse::SERVING);
  (*server)->Shutdown();
}

std::string Sha256Hex(const std::string& s) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), hash);
  std::string hex;
  for (unsigned char c : hash) absl::StrAppendFormat(&hex, "%02x", c);
  return hex;
}

constexpr char kWriter[] = "writer-token-8c1d2f";
constexpr char kReader[] = "reader-token-77ab3e";

class TokenTest : public ::testing::Test {
 protected:
  static service::ServerOptions Options() {
    static const std::string* file = [] {
      auto* path = new std::string("/tmp/txgate-tokens-" + std::to_string(getpid()));
      WriteFile(*path, absl::StrCat("# txgate tokens\n\n", Sha256Hex(kWriter), " rw app\n",
                                    Sha256Hex(kReader), "  ro  reports\n"));
      return path;
    }();
    service::ServerOptions o = DefaultServerOptions();
    o.auth_tokens_file = *file;
    return o;
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto ctx = WithDeadline(absl::Seconds(10));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  grpc::Status Execute(const std::string& token, const std::string& sql,
                       txgate::v1::ExecuteResponse* resp = nullptr) {
    txgate::v1::ExecuteRequest req;
    req.set_sql(sql);
    txgate::v1::ExecuteResponse ignored;
    return server_.stub().Execute(As(token).get(), req, resp ? resp : &ignored);
  }

  grpc::Status RunTransaction(const std::string& token, const std::string& sql) {
    txgate::v1::RunTransactionRequest req;
    req.add_statements()->set_sql(sql);
    txgate::v1::RunTransactionResponse resp;
    return server_.stub().RunTransaction(As(token).get(), req, &resp);
  }

  grpc::Status StreamQuery(const std::string& token, const std::string& sql) {
    txgate::v1::StreamQueryRequest req;
    req.set_sql(sql);
    auto ctx = As(token);
    auto reader = server_.stub().StreamQuery(ctx.get(), req);
    txgate::v1::StreamQueryResponse chunk;
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }

  // An interactive transaction of one statement, committed.
  grpc::Status Interactive(const std::string& token, const std::string& sql) {
    auto ctx = As(token);
    auto stream = server_.stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest req;
    req.mutable_statement()->set_sql(sql);
    txgate::v1::TransactionResponse resp;
    if (stream->Write(req) && stream->Read(&resp)) {
      req.Clear();
      req.mutable_commit();
      if (stream->Write(req)) (void)stream->Read(&resp);
    }
    stream->WritesDone();
    while (stream->Read(&resp)) {
    }
    return stream->Finish();
  }

  void SetUp() override {
    ASSERT_TRUE(Execute(kWriter, "DROP TABLE IF EXISTS tok").ok());
    ASSERT_TRUE(Execute(kWriter, "CREATE TABLE tok (id INT PRIMARY KEY)").ok());
  }

  std::string Count() { return Admin("SELECT COUNT(*) FROM txgate.tok")[0][0]; }

  TestServer server_{Options()};
};

TEST_F(TokenTest, CallsWithoutAValidTokenAreUnauthenticated) {
  for (const std::string& token : {std::string(), std::string("not-a-token")}) {
    EXPECT_EQ(Execute(token, "SELECT 1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(RunTransaction(token, "SELECT 1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(StreamQuery(token, "SELECT 1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(Interactive(token, "SELECT 1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // A Basic scheme, or the hash instead of the token, does not pass either.
  txgate::v1::ExecuteRequest req;
  req.set_sql("SELECT 1");
  txgate::v1::ExecuteResponse resp;
  auto ctx = WithDeadline(absl::Seconds(5));
  ctx->AddMetadata("authorization", std::string("Basic ") + kWriter);
  grpc::Status s = server_.stub().Execute(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "UNAUTHENTICATED");
  EXPECT_EQ(Execute(Sha256Hex(kWriter), "SELECT 1").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(TokenTest, AReadWriteTokenMayWrite) {
  EXPECT_TRUE(Execute(kWriter, "INSERT INTO tok VALUES (1)").ok());
  EXPECT_TRUE(RunTransaction(kWriter, "INSERT INTO tok VALUES (2)").ok());
  EXPECT_TRUE(Interactive(kWriter, "INSERT INTO tok VALUES (3)").ok());
  EXPECT_TRUE(StreamQuery(kWriter, "SELECT * FROM tok").ok());
  EXPECT_EQ(Count(), "3");
}

TEST_F(TokenTest, AReadOnlyTokenMayOnlyRead) {
  ASSERT_TRUE(Execute(kWriter, "INSERT INTO tok VALUES (1)").ok());
  txgate::v1::ExecuteResponse resp;
  EXPECT_TRUE(Execute(kReader, "SELECT id FROM tok", &resp).ok());
  EXPECT_EQ(resp.result().rows_size(), 1);
  EXPECT_TRUE(StreamQuery(kReader, "SELECT id FROM tok").ok());
  EXPECT_TRUE(RunTransaction(kReader, "SELECT id FROM tok").ok());
  EXPECT_TRUE(Interactive(kReader, "SELECT id FROM tok").ok());

  grpc::Status s = Execute(kReader, "INSERT INTO tok VALUES (2)");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "READ_ONLY_TOKEN");
  EXPECT_EQ(Execute(kReader, "DROP TABLE tok").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Execute(kReader, "SELECT id FROM tok FOR UPDATE").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(StreamQuery(kReader, "DELETE FROM tok").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // In transactions too, a read-only token may send only plain reads
  // (below that, the read-only account refuses the write: read_only_test).
  s = RunTransaction(kReader, "INSERT INTO tok VALUES (3)");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "READ_ONLY_TOKEN");
  s = Interactive(kReader, "INSERT INTO tok VALUES (4)");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "READ_ONLY_TOKEN");
  EXPECT_EQ(Count(), "1");
}

TEST_F(TokenTest, HealthAndReflectionNeedNoToken) {
  EXPECT_EQ(Health(server_.channel(), "").value_or(HealthCheckResponse::UNKNOWN),
            HealthCheckResponse::SERVING);
  std::string listing;
  grpc::Status s = ListServices(server_.channel(), &listing);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(listing, ::testing::HasSubstr("grpc.health.v1.Health"));
}

TEST(TokenConfigTest, BrokenTokensFilesFailAtStart) {
  const std::string path = "/tmp/txgate-bad-tokens-" + std::to_string(getpid());
  service::ServerOptions o = DefaultServerOptions();
  o.auth_tokens_file = path;
  WriteFile(path, "abc rw\n");
  EXPECT_THAT(service::Server::Start(o).status().message(), ::testing::HasSubstr("line 1"));
  WriteFile(path, absl::StrCat("# none\n", Sha256Hex("x"), " admin\n"));
  EXPECT_THAT(service::Server::Start(o).status().message(), ::testing::HasSubstr("ro or rw"));
  WriteFile(path, "# only comments\n");
  EXPECT_THAT(service::Server::Start(o).status().message(), ::testing::HasSubstr("no token"));
  std::remove(path.c_str());
  EXPECT_FALSE(service::Server::Start(o).ok());
}

// txgate-cli reaches a production-like txgate: TLS verified against the CA,
// a client certificate (mTLS) and a bearer token, each from its flag.
TEST(CliTlsTest, TheCliReachesAMutualTlsServerWithAToken) {
  const std::string tokens = "/tmp/txgate-cli-tokens-" + std::to_string(getpid());
  const std::string token = "/tmp/txgate-cli-token-" + std::to_string(getpid());
  WriteFile(tokens, absl::StrCat(Sha256Hex(kWriter), " rw cli\n"));
  WriteFile(token, absl::StrCat(kWriter, "\n"));
  service::ServerOptions o = TlsOptions(/*mutual=*/true);
  o.auth_tokens_file = tokens;
  TestServer server(o);
  // Runs txgate-cli with `flags` and -e 'SELECT 7 AS n'; its exit status and
  // output (stdout and stderr).
  auto cli = [&](const std::string& flags) {
    const std::string cmd =
        absl::StrCat(std::getenv("TXGATE_BUILD_DIR"),
                     "/client/cpp/txgate-cli --addr=127.0.0.1:", server.server().port(), " ", flags,
                     " -e 'SELECT 7 AS n' 2>&1");
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
    const int status = pclose(pipe);
    return std::pair<int, std::string>(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  const std::string tls = absl::StrCat("--tls_ca_file=", TheCerts().path("ca.crt"),
                                       " --tls_cert_file=", TheCerts().path("client.crt"),
                                       " --tls_key_file=", TheCerts().path("client.key"));
  auto [code, out] = cli(absl::StrCat(tls, " --token_file=", token, " --format=csv"));
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "n\r\n7\r\n");
  std::tie(code, out) = cli(tls);  // no token
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("UNAUTHENTICATED"));
  std::tie(code, out) =
      cli(absl::StrCat("--tls_ca_file=", TheCerts().path("ca.crt"), " --token_file=", token,
                       " --timeout=2s"));  // no client cert
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("UNAVAILABLE"));
  std::tie(code, out) = cli(absl::StrCat("--token_file=", token));  // a token in plaintext
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("--token_file needs --tls"));
  std::remove(tokens.c_str());
  std::remove(token.c_str());
}

}  // namespace
}  // namespace txgate::testing
