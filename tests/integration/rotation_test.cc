// Rotation without restart, on a live server with real files: a new TLS
// certificate (signed by a new CA, made by the openssl CLI) and a new
// client CA serve the next handshakes while established connections and
// calls in flight go on; a new tokens file refuses the old token and
// accepts the new one; a new database password (ALTER USER on MariaDB,
// the file rewritten, the pool's sessions KILLed) serves the new
// connections. A bad new file keeps the old material; every reload is
// counted in txgate_config_reloads_total.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/certs.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

// Replaces `path` at once (write aside, rename), as a deployment tool does.
void Replace(const std::string& path, const std::string& contents) {
  const std::string aside = path + ".new";
  {
    std::ofstream out(aside);
    out << contents;
  }
  ASSERT_EQ(std::rename(aside.c_str(), path.c_str()), 0) << path;
}

// A temporary directory with two CAs, a server certificate from each, and a
// client certificate from each.
class Certs : public TestCertificates {
 public:
  Certs()
      : TestCertificates({"ca1", "ca2"}, {{"server1", "ca1", "DNS:localhost,IP:127.0.0.1"},
                                          {"server2", "ca2", "DNS:localhost,IP:127.0.0.1"},
                                          {"client1", "ca1", "DNS:client1"},
                                          {"client2", "ca2", "DNS:client2"}}) {}
};

// A channel of its own (no subchannel shared with earlier channels), so
// that its first call makes a new TLS handshake.
std::shared_ptr<grpc::Channel> TlsChannel(const Certs& certs, int port, const std::string& ca,
                                          const std::string& client = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = certs.pem(ca + ".crt");
  if (!client.empty()) {
    ssl.pem_cert_chain = certs.pem(client + ".crt");
    ssl.pem_private_key = certs.pem(client + ".key");
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(ssl),
                                   args);
}

grpc::Status Select1(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
  auto stub = txgate::v1::DatabaseService::NewStub(channel);
  txgate::v1::ExecuteRequest req;
  req.set_sql("SELECT 1");
  txgate::v1::ExecuteResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  return stub->Execute(ctx.get(), req, &resp);
}

double Reloads(service::Server& server, const std::string& what, const std::string& result) {
  return Counter(Scrape(server.metrics_port()), "txgate_config_reloads_total",
                 {absl::StrCat("what=\"", what, "\""), absl::StrCat("result=\"", result, "\"")});
}

// Options with TLS material copied into files of the test's own, which the
// test then replaces.
service::ServerOptions TlsOptions(const Certs& certs, bool mutual) {
  service::ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:0";
  o.reload_interval = absl::ZeroDuration();  // reloads by Reload() (SIGHUP) only
  o.tls_cert_file = certs.path("tls.crt");
  o.tls_key_file = certs.path("tls.key");
  Replace(o.tls_cert_file, certs.pem("server1.crt"));
  Replace(o.tls_key_file, certs.pem("server1.key"));
  if (mutual) {
    o.tls_client_ca_file = certs.path("client-ca.crt");
    Replace(o.tls_client_ca_file, certs.pem("ca1.crt"));
  }
  return o;
}

TEST(TlsRotationTest, NewHandshakesUseTheNewCertificateWhileCallsInFlightGoOn) {
  Certs certs;
  service::ServerOptions o = TlsOptions(certs, false);
  TestServer server(o);
  const int port = server.server().port();
  std::shared_ptr<grpc::Channel> before = TlsChannel(certs, port, "ca1");
  ASSERT_TRUE(Select1(before).ok());

  // A call in flight across the rotation, on the connection made before it.
  auto stub = txgate::v1::DatabaseService::NewStub(before);
  std::future<grpc::Status> sleeping = std::async(std::launch::async, [&stub] {
    return Exec(*stub, "SELECT SLEEP(2)", {}, nullptr, absl::Seconds(30));
  });

  Replace(o.tls_cert_file, certs.pem("server2.crt"));
  Replace(o.tls_key_file, certs.pem("server2.key"));
  server.server().Reload();
  EXPECT_EQ(Reloads(server.server(), "tls", "ok"), 1);

  grpc::Status s = Select1(TlsChannel(certs, port, "ca2"));
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  s = Select1(TlsChannel(certs, port, "ca1"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << "old certificate still served";
  s = sleeping.get();
  EXPECT_TRUE(s.ok()) << "in-flight call: " << s.error_code() << " " << s.error_message();
  EXPECT_TRUE(Select1(before).ok()) << "an established connection was cut";
}

TEST(TlsRotationTest, ABadNewFileKeepsTheOldCertificate) {
  Certs certs;
  service::ServerOptions o = TlsOptions(certs, false);
  TestServer server(o);
  const int port = server.server().port();

  // A key that does not belong to the certificate, then no certificate.
  Replace(o.tls_key_file, certs.pem("server2.key"));
  server.server().Reload();
  EXPECT_EQ(Reloads(server.server(), "tls", "error"), 1);
  EXPECT_TRUE(Select1(TlsChannel(certs, port, "ca1")).ok());

  Replace(o.tls_cert_file, "not a certificate\n");
  server.server().Reload();
  EXPECT_EQ(Reloads(server.server(), "tls", "error"), 2);
  EXPECT_TRUE(Select1(TlsChannel(certs, port, "ca1")).ok());
  // The same bad contents are not tried again.
  server.server().Reload();
  EXPECT_EQ(Reloads(server.server(), "tls", "error"), 2);

  // Fixed: the next check takes it.
  Replace(o.tls_cert_file, certs.pem("server2.crt"));
  server.server().Reload();
  EXPECT_EQ(Reloads(server.server(), "tls", "ok"), 1);
  EXPECT_TRUE(Select1(TlsChannel(certs, port, "ca2")).ok());
}

TEST(TlsRotationTest, ANewClientCaServesTheNextHandshakes) {
  Certs certs;
  service::ServerOptions o = TlsOptions(certs, true);
  TestServer server(o);
  const int port = server.server().port();
  ASSERT_TRUE(Select1(TlsChannel(certs, port, "ca1", "client1")).ok());
  EXPECT_EQ(Select1(TlsChannel(certs, port, "ca1", "client2")).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  Replace(o.tls_client_ca_file, certs.pem("ca2.crt"));
  server.server().Reload();
  grpc::Status s = Select1(TlsChannel(certs, port, "ca1", "client2"));
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(Select1(TlsChannel(certs, port, "ca1", "client1")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

std::string Sha256Hex(const std::string& token) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), hash);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(hash), sizeof(hash)));
}

TEST(TokenRotationTest, TheFileWatchRefusesTheOldTokenAndAcceptsTheNew) {
  char tmpl[] = "/tmp/txgate-tokens.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string file = dir + "/tokens";
  Replace(file, Sha256Hex("old-token") + " rw old\n");
  service::ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:0";
  o.auth_tokens_file = file;
  o.reload_interval = absl::Milliseconds(100);  // the watch, not Reload()
  TestServer server(o);
  ASSERT_TRUE(Select1(server.channel(), "old-token").ok());
  EXPECT_EQ(Select1(server.channel(), "new-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  Replace(file, Sha256Hex("new-token") + " rw new\n");
  EXPECT_TRUE(
      Eventually([&] { return Reloads(server.server(), "tokens", "ok") == 1; }, absl::Seconds(10)));
  EXPECT_TRUE(Select1(server.channel(), "new-token").ok());
  EXPECT_EQ(Select1(server.channel(), "old-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A file with no token would lock everyone out: refused, the new token
  // still works.
  Replace(file, "# nothing\n");
  EXPECT_TRUE(Eventually([&] { return Reloads(server.server(), "tokens", "error") == 1; },
                         absl::Seconds(10)));
  EXPECT_TRUE(Select1(server.channel(), "new-token").ok());
  (void)std::system(absl::StrCat("rm -rf ", dir).c_str());
}

TEST(TokenRotationTest, SighupReloadsTheTokensOfTheServerProcess) {
  char tmpl[] = "/tmp/txgate-tokens.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string file = dir + "/tokens";
  Replace(file, Sha256Hex("old-token") + " rw old\n");
  TxgateProcess txgate({"--auth_tokens_file=" + file, "--reload_interval=0"});
  ASSERT_TRUE(txgate.running());
  ASSERT_TRUE(Select1(txgate.channel(), "old-token").ok());

  Replace(file, Sha256Hex("new-token") + " rw new\n");
  ASSERT_TRUE(txgate.Signal(SIGHUP));
  // The signal is taken by the server's main thread, so the reload follows
  // it by a moment.
  EXPECT_TRUE(
      Eventually([&] { return Select1(txgate.channel(), "new-token").ok(); }, absl::Seconds(10)));
  EXPECT_EQ(Select1(txgate.channel(), "old-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(txgate.running());
  (void)std::system(absl::StrCat("rm -rf ", dir).c_str());
}

// KILL CONNECTION on every session of `user`; waits until they are gone.
// Their number.
size_t KillSessionsOf(const std::string& user) {
  std::vector<std::string> ids;
  for (const auto& row :
       Admin("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '" + user + "'")) {
    ids.push_back(row[0]);
    (void)AdminQuery("KILL CONNECTION " + row[0]);
  }
  EXPECT_TRUE(Eventually(
      [&] {
        return ids.empty() || Admin(
                                  "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE "
                                  "ID IN (" +
                                  absl::StrJoin(ids, ",") + ")")[0][0] == "0";
      },
      absl::Seconds(10)));
  return ids.size();
}

// A database account of the test's own, `user` granted `grant` on txgate.*,
// with password "first-password"; and a directory for its password file.
class PasswordRotationTest : public ::testing::Test {
 protected:
  void Create(const std::string& user, const std::string& grant) {
    user_ = user;
    Admin("DROP USER IF EXISTS " + user);
    Admin("CREATE USER " + user + " IDENTIFIED BY 'first-password'");
    Admin("GRANT " + grant + " ON txgate.* TO " + user);
    char tmpl[] = "/tmp/txgate-password.XXXXXX";
    dir_ = mkdtemp(tmpl);
    Replace(password_file(), "first-password\n");
  }
  ~PasswordRotationTest() override {
    if (!user_.empty()) (void)AdminQuery("DROP USER IF EXISTS " + user_);
    if (!dir_.empty()) (void)std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }
  std::string password_file() const { return dir_ + "/password"; }

  // ALTER USER to a new password (its open sessions keep working), the
  // new password file, a reload, then KILL of every session of the
  // account: `call` must succeed again, on connections made with the new
  // password.
  void Rotate(service::Server& server, const std::string& what,
              const std::function<grpc::Status()>& call) {
    ASSERT_TRUE(call().ok());
    Admin("ALTER USER " + user_ + " IDENTIFIED BY 'second-password'");
    Replace(password_file(), "second-password\n");
    server.Reload();
    EXPECT_EQ(Reloads(server, what, "ok"), 1);
    EXPECT_GT(KillSessionsOf(user_), 0u);
    for (int i = 0; i < 3; ++i) {
      grpc::Status s = call();
      EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    }
  }

 private:
  std::string user_;
  std::string dir_;
};

TEST_F(PasswordRotationTest, NewConnectionsUseTheNewPassword) {
  Create("txgate_rotated", "ALL");
  service::ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:0";
  o.mysql.user = "txgate_rotated";
  o.mysql.password = "not-this-one";  // the file wins
  o.mysql_password_file = password_file();
  o.reload_interval = absl::ZeroDuration();
  TestServer server(o);
  Rotate(server.server(), "mysql_password", [&] { return Select1(server.channel()); });
}

TEST_F(PasswordRotationTest, TheReadOnlyAccountsNewConnectionsUseItsNewPassword) {
  Create("txgate_rotated_ro", "SELECT");
  const std::string tokens = password_file() + "-tokens";
  Replace(tokens, Sha256Hex("ro-token") + " ro reader\n");
  service::ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:0";
  o.auth_tokens_file = tokens;
  o.mysql_ro_user = "txgate_rotated_ro";
  o.mysql_ro_password = "not-this-one";
  o.mysql_ro_password_file = password_file();
  o.reload_interval = absl::ZeroDuration();
  TestServer server(o);
  Rotate(server.server(), "mysql_ro_password",
         [&] { return Select1(server.channel(), "ro-token"); });
}

}  // namespace
}  // namespace txgate::testing
