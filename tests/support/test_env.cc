#include "tests/support/test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/mysql/connection.h"

namespace txgate::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const TestDatabase& Database() {
  static const TestDatabase* db = [] {
    auto* d = new TestDatabase;
    d->dir = Env("TXGATE_TEST_DB_DIR");
    if (d->dir.empty() || !absl::SimpleAtoi(Env("TXGATE_TEST_MYSQL_PORT"), &d->port)) {
      std::fprintf(stderr,
                   "TXGATE_TEST_DB_DIR and TXGATE_TEST_MYSQL_PORT must name the test MariaDB "
                   "(run the tests through tests/run.sh)\n");
      std::abort();
    }
    d->password = ReadFile(d->dir + "/password");
    d->ro_password = ReadFile(d->dir + "/ro-password");
    return d;
  }();
  return *db;
}

service::ServerOptions DefaultServerOptions() {
  service::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.mysql.host = "127.0.0.1";
  o.mysql.port = Database().port;
  o.mysql.user = "txgate";
  o.mysql.password = Database().password;
  o.mysql.database = "txgate";
  o.mysql_ro_user = "txgate_ro";
  o.mysql_ro_password = Database().ro_password;
  o.pool.min_idle = 2;
  o.pool.max_size = 8;
  o.pool.acquire_timeout = absl::Seconds(3);
  o.pool.connect_timeout = absl::Seconds(2);
  o.pool.maintenance_interval = absl::Milliseconds(200);
  o.shutdown_grace = absl::Seconds(5);
  return o;
}

namespace {

// Runs `sql` with `params` on `conn` and reads its result whole.
absl::StatusOr<txgate::v1::ResultSet> ReadAll(mysql::Connection& conn, const std::string& sql,
                                              const std::vector<txgate::v1::Value>& params) {
  google::protobuf::RepeatedPtrField<txgate::v1::Value> bound(params.begin(), params.end());
  if (absl::Status s = conn.Start(sql, bound); !s.ok()) return s;
  txgate::v1::ResultSet result;
  conn.AppendColumns(result.mutable_columns());
  for (;;) {
    txgate::v1::Row row;
    size_t bytes = 0;
    absl::StatusOr<bool> more = conn.Next(&row, &bytes);
    if (!more.ok()) return more.status();
    if (!*more) break;
    *result.add_rows() = std::move(row);
  }
  if (absl::Status s = conn.Done().status(); !s.ok()) return s;
  return result;
}

}  // namespace

absl::StatusOr<txgate::v1::ResultSet> RunOnNewSession(const std::string& sql,
                                                      std::vector<txgate::v1::Value> params,
                                                      const std::vector<std::string>& before) {
  absl::StatusOr<std::unique_ptr<mysql::Connection>> conn =
      mysql::Connection::Open(DefaultServerOptions().mysql, absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  for (const std::string& b : before) {
    if (absl::Status s = (*conn)->Query(b); !s.ok()) return s;
  }
  return ReadAll(**conn, sql, params);
}

absl::StatusOr<std::vector<std::vector<std::string>>> AdminQuery(const std::string& sql) {
  mysql::ConnectOptions o;
  o.socket = Database().socket();
  o.user = "root";
  absl::StatusOr<std::unique_ptr<mysql::Connection>> conn =
      mysql::Connection::Open(o, absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  absl::StatusOr<txgate::v1::ResultSet> result = ReadAll(**conn, sql, {});
  if (!result.ok()) return result.status();
  std::vector<std::vector<std::string>> rows;
  for (const txgate::v1::Row& row : result->rows()) {
    std::vector<std::string> out;
    for (const txgate::v1::Value& v : row.values()) {
      switch (v.kind_case()) {
        case txgate::v1::Value::kInt64Value:
          out.push_back(absl::StrCat(v.int64_value()));
          break;
        case txgate::v1::Value::kUint64Value:
          out.push_back(absl::StrCat(v.uint64_value()));
          break;
        case txgate::v1::Value::kStringValue:
          out.push_back(v.string_value());
          break;
        case txgate::v1::Value::kBytesValue:
          out.push_back(v.bytes_value());
          break;
        case txgate::v1::Value::kDecimalValue:
          out.push_back(v.decimal_value());
          break;
        case txgate::v1::Value::kDoubleValue:
          out.push_back(absl::StrCat(v.double_value()));
          break;
        case txgate::v1::Value::kNullValue:
          out.push_back("NULL");
          break;
        default:
          out.push_back(v.ShortDebugString());
          break;
      }
    }
    rows.push_back(std::move(out));
  }
  return rows;
}

std::vector<std::vector<std::string>> Admin(const std::string& sql) {
  absl::StatusOr<std::vector<std::vector<std::string>>> rows = AdminQuery(sql);
  EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status();
  return rows.ok() ? *rows : std::vector<std::vector<std::string>>{};
}

std::vector<std::string> TxgateSessionIds() {
  std::vector<std::string> ids;
  for (const auto& row :
       Admin("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'txgate'")) {
    ids.push_back(row[0]);
  }
  return ids;
}

int KillTxgateSessions() {
  const std::vector<std::string> ids = TxgateSessionIds();
  for (const std::string& id : ids) (void)AdminQuery("KILL CONNECTION " + id);
  // The kill is done once the sessions are gone from the process list.
  EXPECT_TRUE(Eventually(
      [&] {
        const std::string list = absl::StrJoin(ids, ",");
        return ids.empty() ||
               Admin("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (" + list +
                     ")")[0][0] == "0";
      },
      absl::Seconds(10)));
  return static_cast<int>(ids.size());
}

bool MariadbCtl(const std::string& command) {
  const std::string script = absl::StrCat(TXGATE_SOURCE_DIR, "/deploy/local/mariadb.sh");
  const std::string line =
      absl::StrCat("bash ", script, " ", command, " ", Database().dir,
                   command == "start" ? absl::StrCat(" ", Database().port) : "");
  return std::system(line.c_str()) == 0;
}

bool SignalMariadb(int signal) {
  std::ifstream in(Database().dir + "/mysqld.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  return ::kill(pid, signal) == 0;
}

MariadbStall::MariadbStall() : stopped_(SignalMariadb(SIGSTOP)) {
  EXPECT_TRUE(stopped_) << "cannot SIGSTOP mariadbd";
}

MariadbStall::~MariadbStall() { End(); }

void MariadbStall::End() {
  if (!stopped_) return;
  EXPECT_TRUE(SignalMariadb(SIGCONT)) << "cannot SIGCONT mariadbd";
  stopped_ = false;
}

SessionKiller::SessionKiller(const std::string& sql, int max_kills)
    : thread_([this, like = absl::StrCat(sql, "%"), max_kills] {
        while (!stop_) {
          for (const auto& row : Admin(absl::StrCat(
                   "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '", like, "'"))) {
            if (AdminQuery("KILL CONNECTION " + row[0]).ok()) killed_.insert(row[0]);
            if (max_kills > 0 && static_cast<int>(killed_.size()) >= max_kills) return;
          }
          absl::SleepFor(absl::Milliseconds(10));  // a poll interval, not a wait for a condition
        }
      }) {}

std::set<std::string> SessionKiller::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return killed_;
}

TransactionStream::TransactionStream(txgate::v1::DatabaseService::Stub& stub)
    : ctx_(WithDeadline(absl::Seconds(60))), rw_(stub.Transaction(ctx_.get())) {}

bool TransactionStream::Send(const txgate::v1::TransactionRequest& req,
                             txgate::v1::TransactionResponse* resp) {
  return rw_->Write(req) && rw_->Read(resp);
}

bool TransactionStream::Begin() {
  txgate::v1::TransactionRequest req;
  req.mutable_begin();
  txgate::v1::TransactionResponse resp;
  return Send(req, &resp) && resp.has_begun();
}

bool TransactionStream::Statement(const std::string& sql) {
  txgate::v1::TransactionRequest req;
  req.mutable_statement()->set_sql(sql);
  txgate::v1::TransactionResponse resp;
  return Send(req, &resp) && resp.has_result();
}

bool TransactionStream::Commit() {
  txgate::v1::TransactionRequest req;
  req.mutable_commit();
  txgate::v1::TransactionResponse resp;
  return Send(req, &resp) && resp.has_committed();
}

grpc::Status TransactionStream::Ended() {
  txgate::v1::TransactionResponse resp;
  while (rw_->Read(&resp)) {
  }
  return rw_->Finish();
}

grpc::Status TransactionStream::Close() {
  rw_->WritesDone();
  return Ended();
}

bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

TestServer::TestServer(service::ServerOptions options) {
  absl::StatusOr<std::unique_ptr<service::Server>> server = service::Server::Start(options);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    std::abort();
  }
  server_ = std::move(*server);
  channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  stub_ = txgate::v1::DatabaseService::NewStub(channel_);
  // Ready once the pool reached the database.
  EXPECT_TRUE(Eventually([&] { return server_->pool_stats().reachable; }, absl::Seconds(10)));
}

TestServer::~TestServer() { server_->Shutdown(); }

std::string TestServer::address() const { return absl::StrCat("127.0.0.1:", server_->port()); }

bool TestServer::AwaitPoolQuiet(absl::Duration timeout) {
  return Eventually(
      [&] {
        pool::PoolStats s = server_->pool_stats();
        return s.in_use == 0 && s.waiters == 0 && s.connecting == 0;
      },
      timeout);
}

namespace {

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

TxgateProcess::TxgateProcess(const std::vector<std::string>& flags) : port_(FreePort()) {
  const std::string build = Env("TXGATE_BUILD_DIR");
  const std::string logs = Env("TXGATE_LOG_DIR").empty() ? "/tmp" : Env("TXGATE_LOG_DIR");
  std::vector<std::string> args = {
      build + "/txgate-server", absl::StrCat("--listen=127.0.0.1:", port_),
      "--mysql_host=127.0.0.1", absl::StrCat("--mysql_port=", Database().port),
      "--mysql_user=txgate",    "--mysql_database=txgate",
  };
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {"TXGATE_MYSQL_PASSWORD=" + Database().password};
  for (char** e = environ; *e != nullptr; ++e) {
    if (absl::string_view(*e).substr(0, 7) != "TXGATE_") env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log = absl::StrCat(logs, "/txgate-", port_, ".log");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    return;
  }
  pid_ = pid;
  // It listens within moments: retry the connect every 100 ms, not with
  // gRPC's default backoff of seconds.
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  // A refused connect makes the channel re-resolve the address; the DNS
  // resolver's default cooldown between resolutions (30 s) held the first
  // successful connect back 5-10 s.
  channel_args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  channel_ = grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), channel_args);
  stub_ = txgate::v1::DatabaseService::NewStub(channel_);
  auto health = grpc::health::v1::Health::NewStub(channel_);
  EXPECT_TRUE(Eventually(
      [&] {
        grpc::health::v1::HealthCheckResponse resp;
        auto ctx = WithDeadline(absl::Milliseconds(500));
        return health->Check(ctx.get(), grpc::health::v1::HealthCheckRequest(), &resp).ok() &&
               resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      },
      absl::Seconds(10)))
      << "txgate-server did not serve; see " << log;
}

TxgateProcess::~TxgateProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

std::string TxgateProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

bool TxgateProcess::Signal(int signal) { return pid_ > 0 && ::kill(pid_, signal) == 0; }

std::optional<int> TxgateProcess::WaitExit(absl::Duration timeout) {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  std::optional<int> exited;
  Eventually(
      [&] {
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        exited = status;
        return true;
      },
      timeout);
  if (exited.has_value()) pid_ = -1;
  return exited;
}

std::unique_ptr<grpc::ClientContext> WithDeadline(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status rich;
  google::rpc::ErrorInfo info;
  if (!rich.ParseFromString(status.error_details())) return info;
  for (const google::protobuf::Any& any : rich.details()) {
    if (any.UnpackTo(&info)) return info;
  }
  return info;
}

txgate::v1::Value Int(int64_t v) {
  txgate::v1::Value x;
  x.set_int64_value(v);
  return x;
}
txgate::v1::Value Uint(uint64_t v) {
  txgate::v1::Value x;
  x.set_uint64_value(v);
  return x;
}
txgate::v1::Value Str(const std::string& v) {
  txgate::v1::Value x;
  x.set_string_value(v);
  return x;
}
txgate::v1::Value Bytes(const std::string& v) {
  txgate::v1::Value x;
  x.set_bytes_value(v);
  return x;
}
txgate::v1::Value Null() {
  txgate::v1::Value x;
  x.set_null_value(google::protobuf::NULL_VALUE);
  return x;
}

grpc::Status Exec(txgate::v1::DatabaseService::Stub& stub, const std::string& sql,
                  std::vector<txgate::v1::Value> params, txgate::v1::ExecuteResponse* response,
                  absl::Duration timeout) {
  txgate::v1::ExecuteRequest request;
  request.set_sql(sql);
  for (auto& p : params) *request.add_params() = std::move(p);
  txgate::v1::ExecuteResponse ignored;
  auto ctx = WithDeadline(timeout);
  return stub.Execute(ctx.get(), request, response != nullptr ? response : &ignored);
}

// GET http://127.0.0.1:port/metrics; the body, or "" on failure.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[8192];
      for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) response.append(buf, n);
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (!absl::StartsWith(response, "HTTP/1.") || body == std::string::npos) return "";
  return response.substr(body + 4);
}

// The sum of the samples of `name` whose labels include every one of
// `labels` (each `key="value"`); -1 if there is none.
double Sample(const std::string& text, const std::string& name,
              const std::vector<std::string>& labels) {
  double sum = -1;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    bool match = true;
    for (const std::string& l : labels) match = match && absl::StrContains(rest, l);
    if (!match) continue;
    double v = 0;
    if (!absl::SimpleAtod(rest.substr(rest.rfind(' ') + 1), &v)) continue;
    sum = (sum < 0 ? 0 : sum) + v;
  }
  return sum;
}

double Counter(const std::string& text, const std::string& name,
               const std::vector<std::string>& labels) {
  return std::max(0.0, Sample(text, name, labels));
}

}  // namespace txgate::testing
