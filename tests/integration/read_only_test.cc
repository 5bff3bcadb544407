// Read-only tokens against a real MariaDB: every route to a write (or to
// the server's files and password hashes) that we could list, through all
// four RPCs, fails with a precise status, and the database shows nothing
// changed. The read-only token's work runs as txgate_ro, granted SELECT on
// database txgate only (deploy/local/mariadb.sh); the admin (root) sets up
// the routines and checks the database. Also: txgate refuses to start when
// the read-only account can do more than read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/mysql/connection.h"
#include "server/sql/error.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

std::string Sha256Hex(const std::string& s) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), hash);
  std::string hex;
  for (unsigned char c : hash) absl::StrAppendFormat(&hex, "%02x", c);
  return hex;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path);
  out << contents;
}

constexpr char kWriter[] = "ro-test-writer-5e21";
constexpr char kReader[] = "ro-test-reader-9f07";

// A tokens file with one rw and one ro token.
std::string TokensFile() {
  static const std::string* path = [] {
    auto* p = new std::string("/tmp/txgate-ro-tokens-" + std::to_string(getpid()));
    WriteFile(*p,
              absl::StrCat(Sha256Hex(kWriter), " rw app\n", Sha256Hex(kReader), " ro report\n"));
    return p;
  }();
  return *path;
}

service::ServerOptions Options() {
  service::ServerOptions o = DefaultServerOptions();
  o.auth_tokens_file = TokensFile();
  return o;
}

std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
  auto ctx = WithDeadline(absl::Seconds(10));
  ctx->AddMetadata("authorization", "Bearer " + token);
  return ctx;
}

// A way to write (or to escape the database): the statements that try it,
// run in order; the last one is the write.
struct Route {
  std::string name;
  std::vector<std::string> statements;
};

// The file INTO OUTFILE/DUMPFILE would write (in the server's own /tmp).
std::string OutFile() { return "/tmp/txgate-ro-outfile-" + std::to_string(getpid()); }

std::vector<Route> WriteRoutes() {
  return {
      {"DDL: CREATE TABLE", {"CREATE TABLE ro_made (id INT)"}},
      {"DDL: DROP TABLE", {"DROP TABLE ro_acct"}},
      {"DDL: CREATE TEMPORARY TABLE", {"CREATE TEMPORARY TABLE ro_tmp (id INT)"}},
      {"DML: INSERT", {"INSERT INTO ro_acct VALUES (9, 9)"}},
      {"DML: UPDATE", {"UPDATE ro_acct SET n = n + 1"}},
      {"DML: DELETE", {"DELETE FROM ro_acct"}},
      {"DML: REPLACE", {"REPLACE INTO ro_acct VALUES (1, 5)"}},
      {"locking read", {"SELECT n FROM ro_acct FOR UPDATE"}},
      {"LOCK TABLES", {"LOCK TABLES ro_acct WRITE"}},
      {"SET GLOBAL", {"SET GLOBAL max_connections = 999"}},
      {"SET @@global", {"SET @@global.max_connections = 998"}},
      {"INTO OUTFILE", {absl::StrCat("SELECT 1 INTO OUTFILE '", OutFile(), "'")}},
      {"INTO DUMPFILE", {absl::StrCat("SELECT 'x' INTO DUMPFILE '", OutFile(), "'")}},
      {"CALL of a DEFINER procedure doing DDL and DML", {"CALL ro_p_write()"}},
      {"function with side effects", {"SELECT ro_f_write()"}},
      {"function with side effects in a WHERE", {"SELECT n FROM ro_acct WHERE ro_f_write() = 1"}},
      {"sequence NEXTVAL", {"SELECT NEXTVAL(ro_seq)"}},
      {"sequence SETVAL", {"SELECT SETVAL(ro_seq, 100)"}},
      {"PREPARE/EXECUTE",
       {"PREPARE ro_s FROM 'INSERT INTO ro_acct VALUES (7, 7)'", "EXECUTE ro_s"}},
      {"EXECUTE IMMEDIATE", {"EXECUTE IMMEDIATE 'INSERT INTO ro_acct VALUES (8, 8)'"}},
      {"executable comment", {"/*!INSERT INTO ro_acct VALUES (6, 6) */"}},
      {"versioned executable comment", {"/*!100000 DELETE FROM ro_acct */"}},
      {"reading mysql.user", {"SELECT User, authentication_string FROM mysql.user"}},
      {"reading mysql.global_priv", {"SELECT * FROM mysql.global_priv"}},
      {"granting", {"GRANT INSERT ON txgate.* TO CURRENT_USER"}},
  };
}

// The MySQL errors that mean "this account may not": table, database,
// routine, privilege and FILE access denied, and a read-only transaction.
const std::set<std::string>& DeniedErrnos() {
  static const auto* errnos =
      new std::set<std::string>{"1142", "1044", "1045", "1227", "1370", "1792", "1143"};
  return *errnos;
}

class ReadOnlyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Admin("DROP TABLE IF EXISTS txgate.ro_acct, txgate.ro_log, txgate.ro_made");
    Admin("DROP SEQUENCE IF EXISTS txgate.ro_seq");
    Admin("CREATE TABLE txgate.ro_acct (id INT PRIMARY KEY, n INT NOT NULL)");
    Admin("INSERT INTO txgate.ro_acct VALUES (1, 100), (2, 200)");
    Admin("CREATE TABLE txgate.ro_log (v INT)");
    Admin("CREATE SEQUENCE txgate.ro_seq");
    // Created by root: SQL SECURITY DEFINER runs them with root's rights,
    // so only the missing EXECUTE privilege stops a read-only caller.
    Admin(
        "CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE txgate.ro_p_write() "
        "SQL SECURITY DEFINER BEGIN CREATE TABLE IF NOT EXISTS txgate.ro_made (id INT); "
        "INSERT INTO txgate.ro_log VALUES (1); END");
    Admin(
        "CREATE OR REPLACE DEFINER = 'root'@'localhost' FUNCTION txgate.ro_f_write() "
        "RETURNS INT SQL SECURITY DEFINER BEGIN INSERT INTO txgate.ro_log VALUES (2); "
        "RETURN 1; END");
    max_connections_ = Admin("SELECT @@global.max_connections")[0][0];
    std::remove(OutFile().c_str());
    server_ = new TestServer(Options());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    Admin("DROP PROCEDURE IF EXISTS txgate.ro_p_write");
    Admin("DROP FUNCTION IF EXISTS txgate.ro_f_write");
    Admin("DROP TABLE IF EXISTS txgate.ro_acct, txgate.ro_log, txgate.ro_made");
    Admin("DROP SEQUENCE IF EXISTS txgate.ro_seq");
  }
  void TearDown() override { EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10))); }

  static txgate::v1::DatabaseService::Stub& stub() { return server_->stub(); }

  // Each statement as its own Execute call; the first failure.
  static grpc::Status ViaExecute(const Route& r) {
    for (const std::string& sql : r.statements) {
      txgate::v1::ExecuteRequest req;
      req.set_sql(sql);
      txgate::v1::ExecuteResponse resp;
      grpc::Status s = stub().Execute(As(kReader).get(), req, &resp);
      if (!s.ok()) return s;
    }
    return grpc::Status::OK;
  }

  static grpc::Status ViaStreamQuery(const Route& r) {
    for (const std::string& sql : r.statements) {
      txgate::v1::StreamQueryRequest req;
      req.set_sql(sql);
      auto ctx = As(kReader);
      auto reader = stub().StreamQuery(ctx.get(), req);
      txgate::v1::StreamQueryResponse chunk;
      while (reader->Read(&chunk)) {
      }
      grpc::Status s = reader->Finish();
      if (!s.ok()) return s;
    }
    return grpc::Status::OK;
  }

  // All statements in one transaction, with an idempotency key (which a
  // read-only token's transaction ignores: nothing to record).
  static grpc::Status ViaRunTransaction(const Route& r) {
    txgate::v1::RunTransactionRequest req;
    for (const std::string& sql : r.statements) req.add_statements()->set_sql(sql);
    req.set_idempotency_key("ro-" + r.name);
    txgate::v1::RunTransactionResponse resp;
    return stub().RunTransaction(As(kReader).get(), req, &resp);
  }

  // The statements one by one on a Transaction stream, then a commit.
  static grpc::Status ViaTransaction(const Route& r) {
    auto ctx = As(kReader);
    auto stream = stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest req;
    txgate::v1::TransactionResponse resp;
    bool open = true;
    for (const std::string& sql : r.statements) {
      req.Clear();
      req.mutable_statement()->set_sql(sql);
      open = open && stream->Write(req) && stream->Read(&resp);
    }
    if (open) {
      req.Clear();
      req.mutable_commit()->set_idempotency_key("ro-stream-" + r.name);
      if (stream->Write(req)) (void)stream->Read(&resp);
    }
    stream->WritesDone();
    while (stream->Read(&resp)) {
    }
    return stream->Finish();
  }

  // Fails the test unless `s` is a refusal:
  //  - txgate's early ones: PERMISSION_DENIED / READ_ONLY_TOKEN (Execute
  //    and StreamQuery take only reads from a read-only token), and in a
  //    transaction INVALID_ARGUMENT / IMPLICIT_COMMIT_REFUSED (DDL, LOCK
  //    TABLES, GRANT, executable comments);
  //  - the database's: PERMISSION_DENIED with the errno of a missing
  //    privilege, FAILED_PRECONDITION 1792 (a write in a READ ONLY
  //    transaction), or 1295 (PREPARE and EXECUTE IMMEDIATE cannot run
  //    through the prepared-statement protocol txgate binds with).
  static void ExpectRefused(const grpc::Status& s, const std::string& what) {
    ASSERT_FALSE(s.ok()) << what << " succeeded";
    const google::rpc::ErrorInfo info = ErrorInfoOf(s);
    const auto errno_it = info.metadata().find("mysql_errno");
    const std::string errnum = errno_it == info.metadata().end() ? "" : errno_it->second;
    if (info.reason() == "READ_ONLY_TOKEN") {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what;
      return;
    }
    if (info.reason() == "IMPLICIT_COMMIT_REFUSED") {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
      return;
    }
    if (errnum == "1295") {
      EXPECT_THAT(what, ::testing::HasSubstr("EXECUTE"));
      return;
    }
    EXPECT_TRUE(DeniedErrnos().count(errnum) > 0)
        << what << ": " << s.error_code() << " " << info.reason() << " errno " << errnum << ": "
        << s.error_message();
    if (errnum == "1792") {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << what;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << what << ": " << s.error_message();
    }
  }

  // Asserts the database is as SetUpTestSuite left it.
  static void ExpectNothingChanged(const std::string& what) {
    EXPECT_EQ(Admin("SELECT GROUP_CONCAT(id, ':', n ORDER BY id) FROM txgate.ro_acct")[0][0],
              "1:100,2:200")
        << what;
    EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.ro_log")[0][0], "0") << what;
    EXPECT_EQ(Admin("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                    "'txgate' AND TABLE_NAME = 'ro_made'")[0][0],
              "0")
        << what;
    EXPECT_EQ(Admin("SELECT next_not_cached_value FROM txgate.ro_seq")[0][0], "1") << what;
    EXPECT_EQ(Admin("SELECT @@global.max_connections")[0][0], max_connections_) << what;
    EXPECT_NE(access(OutFile().c_str(), F_OK), 0) << what << ": " << OutFile() << " was written";
    const std::vector<std::vector<std::string>> grants =
        Admin("SHOW GRANTS FOR 'txgate_ro'@'127.0.0.1'");
    ASSERT_EQ(grants.size(), 2u) << what;
    EXPECT_EQ(grants[1][0], "GRANT SELECT ON `txgate`.* TO `txgate_ro`@`127.0.0.1`") << what;
  }

  static TestServer* server_;
  static std::string max_connections_;
};
TestServer* ReadOnlyTest::server_ = nullptr;
std::string ReadOnlyTest::max_connections_;

TEST_F(ReadOnlyTest, EveryWriteRouteFailsThroughEveryRpcAndNothingChanges) {
  struct Rpc {
    const char* name;
    grpc::Status (*call)(const Route&);
  };
  const std::vector<Rpc> rpcs = {{"Execute", &ViaExecute},
                                 {"StreamQuery", &ViaStreamQuery},
                                 {"RunTransaction", &ViaRunTransaction},
                                 {"Transaction", &ViaTransaction}};
  for (const Route& route : WriteRoutes()) {
    for (const Rpc& rpc : rpcs) {
      const std::string what = absl::StrCat(route.name, " via ", rpc.name);
      ExpectRefused(rpc.call(route), what);
      ExpectNothingChanged(what);
    }
  }
}

// Routes the account's grants alone would let through — a definer-rights
// view whose function writes (SELECT on the view is a grant the account
// has), a shared-lock read that holds writers back, a named lock that takes
// an application's lock — are refused by txgate: the read-only session
// (every transaction READ ONLY, autocommit statements too) and the check
// that a read-only token sends only plain reads.
TEST_F(ReadOnlyTest, WhatTheGrantsAloneAllowIsRefusedToo) {
  Admin(
      "CREATE OR REPLACE DEFINER = 'root'@'localhost' SQL SECURITY DEFINER VIEW "
      "txgate.ro_v_write AS SELECT id, txgate.ro_f_write() AS w FROM txgate.ro_acct");
  const std::vector<Route> routes = {
      {"a definer-rights view whose function writes", {"SELECT * FROM ro_v_write"}},
      {"a shared-lock read", {"SELECT n FROM ro_acct WHERE id = 1 LOCK IN SHARE MODE"}},
      {"a named lock", {"SELECT GET_LOCK('ro-app-lock', 0)"}},
  };
  const std::vector<std::pair<const char*, grpc::Status (*)(const Route&)>> rpcs = {
      {"Execute", &ViaExecute},
      {"StreamQuery", &ViaStreamQuery},
      {"RunTransaction", &ViaRunTransaction},
      {"Transaction", &ViaTransaction}};
  for (const Route& route : routes) {
    for (const auto& [name, call] : rpcs) {
      const std::string what = absl::StrCat(route.name, " via ", name);
      ExpectRefused(call(route), what);
      ExpectNothingChanged(what);
      EXPECT_EQ(Admin("SELECT IS_USED_LOCK('ro-app-lock') IS NULL")[0][0], "1") << what;
    }
  }
  Admin("DROP VIEW txgate.ro_v_write");
}

// Below txgate's own checks, the account itself refuses every route: the
// same statements on a plain session of txgate_ro, with the text protocol
// (multi-step routes on one session).
TEST_F(ReadOnlyTest, TheReadOnlyAccountItselfRefusesEveryWriteRoute) {
  mysql::ConnectOptions connect = DefaultServerOptions().mysql;
  connect.user = "txgate_ro";
  connect.password = Database().ro_password;
  for (const Route& route : WriteRoutes()) {
    // Not a write: SELECT lets the account lock rows it reads (txgate
    // refuses it early, and runs transactions READ ONLY).
    if (route.name == "locking read") continue;
    absl::StatusOr<std::unique_ptr<mysql::Connection>> conn =
        mysql::Connection::Open(connect, absl::Seconds(5));
    ASSERT_TRUE(conn.ok()) << conn.status();
    absl::Status status;
    for (const std::string& sql : route.statements) {
      status = (*conn)->Query(sql);
      if (!status.ok()) break;
    }
    ASSERT_FALSE(status.ok()) << route.name << " succeeded";
    const std::optional<sql::MysqlError> error = sql::GetMysqlError(status);
    ASSERT_TRUE(error.has_value()) << route.name << ": " << status;
    EXPECT_TRUE(DeniedErrnos().count(absl::StrCat(error->errnum)) > 0)
        << route.name << ": " << status;
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << route.name << ": " << status;
    ExpectNothingChanged(route.name);
  }
}

TEST_F(ReadOnlyTest, LoadFileReadsNothingOfTheDatabaseHost) {
  // A read-only token may send only plain reads: LOAD_FILE is refused
  // before it runs; and without the FILE privilege, the account would read
  // NULL whatever the file (TheReadOnlyAccountItself... covers the account).
  for (const char* path : {"/etc/hostname", "/etc/passwd"}) {
    txgate::v1::ExecuteRequest req;
    req.set_sql(absl::StrCat("SELECT LOAD_FILE('", path, "')"));
    txgate::v1::ExecuteResponse resp;
    grpc::Status s = stub().Execute(As(kReader).get(), req, &resp);
    EXPECT_EQ(ErrorInfoOf(s).reason(), "READ_ONLY_TOKEN") << path;
    EXPECT_EQ(resp.result().rows_size(), 0) << path;
  }
  // While the read-write account (which has no FILE either) gets NULL too.
  txgate::v1::ExecuteRequest req;
  req.set_sql("SELECT LOAD_FILE('/etc/hostname')");
  txgate::v1::ExecuteResponse resp;
  ASSERT_TRUE(stub().Execute(As(kWriter).get(), req, &resp).ok());
  EXPECT_TRUE(resp.result().rows(0).values(0).kind_case() == txgate::v1::Value::kNullValue);
}

TEST_F(ReadOnlyTest, ReadsWorkThroughEveryRpcAsTheReadOnlyAccount) {
  {
    // A keyed transaction of the read-write token (creates the outcome table).
    txgate::v1::RunTransactionRequest req;
    req.add_statements()->set_sql("SELECT 1");
    req.set_idempotency_key("rw-key");
    txgate::v1::RunTransactionResponse resp;
    ASSERT_TRUE(stub().RunTransaction(As(kWriter).get(), req, &resp).ok());
  }
  const Route who{"who", {"SELECT CURRENT_USER(), (SELECT SUM(n) FROM ro_acct)"}};
  txgate::v1::ExecuteRequest req;
  req.set_sql(who.statements[0]);
  txgate::v1::ExecuteResponse resp;
  ASSERT_TRUE(stub().Execute(As(kReader).get(), req, &resp).ok());
  EXPECT_EQ(resp.result().rows(0).values(0).string_value(), "txgate_ro@127.0.0.1");
  EXPECT_TRUE(ViaStreamQuery(who).ok());
  EXPECT_TRUE(ViaRunTransaction(who).ok());
  EXPECT_TRUE(ViaTransaction(who).ok());
  // The read-only token's idempotency keys were ignored: nothing recorded.
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key LIKE "
                  "'ro-%'")[0][0],
            "0");
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key = "
                  "'rw-key'")[0][0],
            "1");
  // And the read-write token still runs as txgate.
  ASSERT_TRUE(stub().Execute(As(kWriter).get(), req, &resp).ok());
  EXPECT_EQ(resp.result().rows(0).values(0).string_value(), "txgate@127.0.0.1");
}

// --- the startup check ---------------------------------------------------

class ReadOnlyAccountCheckTest : public ::testing::Test {
 protected:
  void TearDown() override {
    Admin("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'txgate_ro'@'127.0.0.1'");
    Admin("GRANT SELECT ON txgate.* TO 'txgate_ro'@'127.0.0.1'");
  }
};

TEST_F(ReadOnlyAccountCheckTest, AnAccountThatCanDoMoreThanReadIsRefusedAtStart) {
  struct Case {
    const char* grant;
    const char* named;
  };
  for (const Case& c : std::vector<Case>{
           {"GRANT INSERT ON txgate.* TO 'txgate_ro'@'127.0.0.1'", "INSERT ON `txgate`.*"},
           {"GRANT EXECUTE ON txgate.* TO 'txgate_ro'@'127.0.0.1'", "EXECUTE ON `txgate`.*"},
           {"GRANT FILE ON *.* TO 'txgate_ro'@'127.0.0.1'", "FILE ON *.*"},
           {"GRANT SELECT ON mysql.* TO 'txgate_ro'@'127.0.0.1'", "SELECT ON `mysql`.*"},
           {"GRANT SELECT ON txgate.* TO 'txgate_ro'@'127.0.0.1' WITH GRANT OPTION",
            "GRANT OPTION ON `txgate`.*"},
       }) {
    Admin(c.grant);
    absl::StatusOr<std::unique_ptr<service::Server>> started =
        service::Server::Start(DefaultServerOptions());
    EXPECT_EQ(started.status().code(), absl::StatusCode::kFailedPrecondition) << c.grant;
    EXPECT_THAT(started.status().message(), ::testing::HasSubstr(c.named)) << c.grant;
    EXPECT_THAT(started.status().message(), ::testing::HasSubstr("txgate_ro")) << c.grant;
    TearDown();
  }
  // Back to SELECT only: it starts.
  absl::StatusOr<std::unique_ptr<service::Server>> started =
      service::Server::Start(DefaultServerOptions());
  EXPECT_TRUE(started.ok()) << started.status();
}

TEST_F(ReadOnlyAccountCheckTest, ReadOnlyTokensWithoutAReadOnlyAccountAreRefusedAtStart) {
  service::ServerOptions o = Options();
  o.mysql_ro_user.clear();
  absl::StatusOr<std::unique_ptr<service::Server>> started = service::Server::Start(o);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(started.status().message(), ::testing::HasSubstr("--mysql_ro_user"));
  // Without ro tokens, no read-only account is needed.
  o.auth_tokens_file.clear();
  started = service::Server::Start(o);
  EXPECT_TRUE(started.ok()) << started.status();
}

}  // namespace
}  // namespace txgate::testing
