// txgate-cli, run as a program against the live txgate: its three formats,
// files of statements, --transaction and error reporting.
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_env.h"
#include "txgate/client.h"

namespace txgate::client {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { TXGATE_REQUIRE_LIVE(); }
  void TearDown() override {
    for (const std::string& f : files_) unlink(f.c_str());
  }

  CommandResult Cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {TXGATE_CLI_PATH, "--addr=" + testing::LiveAddr()});
    return testing::RunCommand(args, input);
  }

  std::string WriteFile(const std::string& text) {
    std::string path = "/tmp/txgate-cpp-cli-XXXXXX";
    int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0);
    close(fd);
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  std::vector<std::string> files_;
};

TEST(CliHelpTest, HelpListsEveryFlag) {
  CommandResult r = testing::RunCommand({TXGATE_CLI_PATH, "--help"}, "");
  for (const char* flag :
       {"--addr", "--format", "--timeout", "--transaction", "--tls", "--tls_ca_file",
        "--tls_cert_file", "--tls_key_file", "--tls_server_name", "--token_file"}) {
    EXPECT_THAT(r.out + r.err, HasSubstr(std::string(flag) + " (")) << flag;
  }
  EXPECT_THAT(r.out + r.err, ::testing::Not(HasSubstr("No flags matched")));
}

TEST_F(CliTest, Table) {
  CommandResult r = Cli({"-e", "SELECT 1 AS a, 'x,y' AS b, NULL AS c"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "+---+-----+------+\n"
            "| a | b   | c    |\n"
            "+---+-----+------+\n"
            "| 1 | x,y | NULL |\n"
            "+---+-----+------+\n"
            "1 row in set\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, Csv) {
  CommandResult r = Cli({"--format=csv", "--timeout=10s", "-e",
                         "SELECT 1 AS a, 'x,y' AS b, NULL AS c, 'say \"hi\"' AS d, '' AS e, "
                         "'two\nlines' AS f"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "a,b,c,d,e,f\r\n"
            "1,\"x,y\",,\"say \"\"hi\"\"\",\"\",\"two\nlines\"\r\n");
}

TEST_F(CliTest, Json) {
  CommandResult r = Cli({"--format", "json", "-e",
                         "SELECT 1 AS a, 'x\"y' AS b, NULL AS c, "
                         "CAST(1.5 AS DECIMAL(5,2)) AS d, "
                         "X'00FF' AS e, CAST(18446744073709551615 AS UNSIGNED) AS u, "
                         "'héllo' AS s FROM seq_1_to_2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string row =
      "{\"a\":1,\"b\":\"x\\\"y\",\"c\":null,\"d\":\"1.50\",\"e\":\"AP8=\","
      "\"u\":\"18446744073709551615\",\"s\":\"héllo\"}\n";
  EXPECT_EQ(r.out, row + row);
}

TEST_F(CliTest, FileOfStatementsAndTransaction) {
  Client db(testing::LiveAddr());
  ASSERT_TRUE(db.Execute("DROP TABLE IF EXISTS cpp_cli").ok());
  CommandResult r = Cli({"-f", WriteFile("-- a table of two rows\n"
                                         "CREATE TABLE cpp_cli (id INT PRIMARY KEY,\n"
                                         "  name VARCHAR(20));\n"
                                         "INSERT INTO cpp_cli VALUES (1, 'one'),\n"
                                         "  (2, 'two');\n"
                                         "SELECT id, name FROM cpp_cli ORDER BY id\n"
                                         ";\n")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Query OK, 0 rows affected\n"
            "Query OK, 2 rows affected\n"
            "+----+------+\n"
            "| id | name |\n"
            "+----+------+\n"
            "| 1  | one  |\n"
            "| 2  | two  |\n"
            "+----+------+\n"
            "2 rows in set\n");

  r = Cli({"--transaction", "--format=csv", "-f",
           WriteFile("INSERT INTO cpp_cli VALUES (3, 'three');\n"
                     "UPDATE cpp_cli SET name = 'uno' WHERE id = 1;\n"
                     "SELECT COUNT(*) AS n, MIN(name) AS first FROM cpp_cli;\n")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "n,first\r\n3,three\r\n");

  // All or nothing: the duplicate undoes the insert before it.
  r = Cli({"--transaction", "-f",
           WriteFile("INSERT INTO cpp_cli VALUES (4, 'four');\n"
                     "INSERT INTO cpp_cli VALUES (1, 'dup');\n")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("ALREADY_EXISTS"));
  EXPECT_THAT(r.err, HasSubstr("MySQL errno 1062, SQLSTATE 23000"));
  EXPECT_THAT(r.err, HasSubstr("idempotency key: "));
  r = Cli({"--format=csv", "-f", "-"}, "SELECT COUNT(*) AS n FROM cpp_cli;\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "n\r\n3\r\n");
}

TEST_F(CliTest, ErrorsGoToStderrWithTheMysqlDetail) {
  CommandResult r = Cli({"-e", "SELEC 1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT: "));
  EXPECT_THAT(r.err, HasSubstr("reason: MYSQL_ERROR"));
  EXPECT_THAT(r.err,
              HasSubstr("MySQL errno 1064, SQLSTATE 42000: You have an error in your SQL syntax"));

  // In a file, the first failing statement stops the run and is named.
  r = Cli({"--format=csv", "-f",
           WriteFile("SELECT 1 AS one;\nSELECT * FROM cpp_no_such_table;\nSELECT 3;\n")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "one\r\n1\r\n");
  EXPECT_THAT(r.err, HasSubstr("statement 2: error: NOT_FOUND"));
  EXPECT_THAT(r.err, HasSubstr("MySQL errno 1146, SQLSTATE 42S02"));
}

TEST_F(CliTest, BadUsageExitsWithTwo) {
  EXPECT_EQ(Cli({}).exit_code, 2);
  EXPECT_EQ(Cli({"-e", "SELECT 1", "-f", "x.sql"}).exit_code, 2);
  CommandResult r = Cli({"--format=xml", "-e", "SELECT 1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown format"));
  EXPECT_EQ(testing::RunCommand({TXGATE_CLI_PATH, "-e", "SELECT 1"}).exit_code, 2);  // no --addr
}

}  // namespace
}  // namespace txgate::client
