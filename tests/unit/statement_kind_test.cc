// ClassifyStatement decides two retry rules from SQL text: a read-only
// statement may be re-run after a lost connection, and a statement that
// commits implicitly is refused inside a transaction. Mistakes either way
// lose or duplicate data, so the cases are many.
#include "server/sql/statement_kind.h"

#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace txgate::sql {
namespace {

struct Case {
  const char* sql;
  bool empty;
  bool read_only;
  bool implicit_commit;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << '"' << c.sql << '"'; }

void Check(const Case& c) {
  const StatementKind k = ClassifyStatement(c.sql);
  EXPECT_EQ(k.empty, c.empty) << "empty: " << c;
  EXPECT_EQ(k.read_only, c.read_only) << "read_only: " << c;
  EXPECT_EQ(k.implicit_commit, c.implicit_commit) << "implicit_commit: " << c;
}

class Empty : public ::testing::TestWithParam<Case> {};
TEST_P(Empty, Classifies) { Check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(
    StatementKind, Empty,
    ::testing::Values(Case{"", true, false, false}, Case{"   \t\r\n ", true, false, false},
                      Case{"-- just a comment", true, false, false}, Case{"--", true, false, false},
                      Case{"# hash comment\n  ", true, false, false},
                      Case{"/* block */ /* another */", true, false, false},
                      Case{"/* multi\nline\n*/\n-- x\n# y", true, false, false}));

class ReadOnly : public ::testing::TestWithParam<Case> {};
TEST_P(ReadOnly, Classifies) { Check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(
    StatementKind, ReadOnly,
    ::testing::Values(
        Case{"SELECT 1", false, true, false},
        Case{"select * from t where id = ?", false, true, false},
        Case{"SeLeCt name FROM users", false, true, false},
        Case{"  \n\tSELECT 1", false, true, false},
        Case{"(SELECT 1) UNION (SELECT 2)", false, true, false},
        Case{"((select 1))", false, true, false}, Case{"/* why */ SELECT 1", false, true, false},
        Case{"-- note\nSELECT 1", false, true, false}, Case{"# note\nSELECT 1", false, true, false},
        Case{"SHOW TABLES", false, true, false},
        Case{"show variables like 'autocommit'", false, true, false},
        Case{"DESCRIBE t", false, true, false}, Case{"DESC t", false, true, false},
        Case{"EXPLAIN SELECT * FROM t", false, true, false},
        Case{"HELP 'SELECT'", false, true, false}, Case{"VALUES (1), (2)", false, true, false},
        Case{"TABLE t", false, true, false},
        // Words that merely contain a locking keyword.
        Case{"SELECT format, forecast, into_date, blocked FROM t", false, true, false},
        Case{"SELECT lock_id, for_user FROM t", false, true, false}));

class NotReadOnly : public ::testing::TestWithParam<Case> {};
TEST_P(NotReadOnly, Classifies) { Check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(
    StatementKind, NotReadOnly,
    ::testing::Values(
        // SELECT ... INTO writes variables or files.
        Case{"SELECT 1 INTO @x", false, false, false},
        Case{"SELECT * FROM t INTO OUTFILE '/tmp/x'", false, false, false},
        Case{"select a into @a from t", false, false, false},
        // Locking reads.
        Case{"SELECT * FROM t WHERE id = 1 FOR UPDATE", false, false, false},
        Case{"SELECT * FROM t for update", false, false, false},
        Case{"SELECT * FROM t FOR SHARE", false, false, false},
        Case{"SELECT * FROM t LOCK IN SHARE MODE", false, false, false},
        Case{"SELECT * FROM t\nFOR\tUPDATE", false, false, false},
        // Ordinary writes: not read-only, no implicit commit.
        Case{"INSERT INTO t VALUES (1)", false, false, false},
        Case{"insert into t select * from u", false, false, false},
        Case{"UPDATE t SET a = 1", false, false, false}, Case{"DELETE FROM t", false, false, false},
        Case{"REPLACE INTO t VALUES (1)", false, false, false},
        Case{"CALL proc()", false, false, false}, Case{"DO SLEEP(1)", false, false, false},
        Case{"SAVEPOINT s1", false, false, false},
        Case{"RELEASE SAVEPOINT s1", false, false, false},
        Case{"ROLLBACK TO SAVEPOINT s1", false, false, false},
        Case{"rollback to s1", false, false, false},
        Case{"LOAD DATA INFILE '/tmp/x' INTO TABLE t", false, false, false},
        Case{"SET @x = 1", false, false, false}, Case{"SET NAMES utf8mb4", false, false, false},
        Case{"SET SESSION sql_mode = ''", false, false, false},
        // Anything unrecognised is a write.
        Case{"WITH c AS (SELECT 1) SELECT * FROM c", false, false, false},
        Case{"!?", false, false, false}));

class ImplicitCommit : public ::testing::TestWithParam<Case> {};
TEST_P(ImplicitCommit, Classifies) { Check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(
    StatementKind, ImplicitCommit,
    ::testing::Values(
        Case{"CREATE TABLE t (id INT)", false, false, true},
        Case{"create index i on t (a)", false, false, true},
        Case{"ALTER TABLE t ADD COLUMN b INT", false, false, true},
        Case{"DROP TABLE t", false, false, true}, Case{"TRUNCATE TABLE t", false, false, true},
        Case{"RENAME TABLE a TO b", false, false, true},
        Case{"GRANT SELECT ON *.* TO u", false, false, true},
        Case{"REVOKE SELECT ON *.* FROM u", false, false, true},
        Case{"LOCK TABLES t WRITE", false, false, true}, Case{"UNLOCK TABLES", false, false, true},
        Case{"BEGIN", false, false, true}, Case{"begin work", false, false, true},
        Case{"START TRANSACTION", false, false, true},
        Case{"START TRANSACTION READ ONLY", false, false, true}, Case{"COMMIT", false, false, true},
        Case{"commit work", false, false, true}, Case{"ROLLBACK", false, false, true},
        Case{"rollback;", false, false, true}, Case{"XA START 'x'", false, false, true},
        Case{"FLUSH TABLES", false, false, true}, Case{"OPTIMIZE TABLE t", false, false, true},
        Case{"ANALYZE TABLE t", false, false, true},
        Case{"LOAD INDEX INTO CACHE t", false, false, true},
        Case{"SET autocommit = 1", false, false, true},
        Case{"set AUTOCOMMIT=0", false, false, true},
        Case{"SET @@autocommit := 1", false, false, true},
        Case{"SET SESSION autocommit = ON", false, false, true},
        Case{"SET @a = 1, autocommit = 1", false, false, true},
        Case{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", false, false, true},
        Case{"SET PASSWORD = PASSWORD('x')", false, false, true},
        // Leading noise does not hide the keyword.
        Case{"/* c */ DROP TABLE t", false, false, true},
        Case{"-- c\n  drop table t", false, false, true}, Case{"# c\nCOMMIT", false, false, true},
        Case{"\n\n  Create Table t (a int)", false, false, true},
        // Executable comments without a version are code; with one, the
        // server may run either text: opaque, refused, never read-only.
        Case{"/*!50000 DROP TABLE t */", false, false, true},
        Case{"/*!40101 SELECT 1 */", false, false, true},
        Case{"/*M!100100 SELECT 1 */", false, false, true},
        Case{"/*!99999 SELECT 1, */ 2", false, false, true},
        Case{"SELECT 1 /*!99999 FOR UPDATE */", false, false, true},
        Case{"  /* plain */ /*! COMMIT */", false, false, true},
        Case{"/*!COMMIT*/", false, false, true},
        Case{"/*M! CREATE TABLE x (a INT) */", false, false, true},
        // Every other route to a commit or the end of the transaction.
        Case{"SET STATEMENT max_statement_time = 1 FOR COMMIT", false, false, true},
        Case{"set statement lock_wait_timeout=5, sql_mode='' for create table t (a int)", false,
             false, true},
        Case{"SET STATEMENT x = 1 FOR SET STATEMENT y = 2 FOR DROP TABLE t", false, false, true},
        Case{"SET STATEMENT max_statement_time = 1", false, false, true},
        Case{"SET STATEMENT autocommit = 1 FOR SELECT 1", false, false, true},
        Case{"EXECUTE s", false, false, true}, Case{"EXECUTE s USING @a", false, false, true},
        Case{"EXECUTE IMMEDIATE 'COMMIT'", false, false, true},
        Case{"execute immediate concat('DROP', ' TABLE t')", false, false, true},
        Case{"XA END 'txgate-1'", false, false, true}, Case{"STOP SLAVE", false, false, true},
        Case{"STOP ALL REPLICAS", false, false, true},
        Case{"CHANGE MASTER TO master_host='x'", false, false, true},
        Case{"BINLOG 'AAAA'", false, false, true}, Case{"COMMIT AND CHAIN", false, false, true},
        Case{"ROLLBACK AND NO CHAIN", false, false, true}, Case{"SET ROLE r", false, false, true},
        Case{"SET DEFAULT ROLE r", false, false, true},
        Case{"RESET QUERY CACHE", false, false, true},
        Case{"BACKUP STAGE START", false, false, true}, Case{"CHECK TABLE t", false, false, true},
        Case{"REPAIR TABLE t", false, false, true}, Case{"CACHE INDEX t IN k", false, false, true},
        Case{"INSTALL SONAME 'x'", false, false, true}, Case{"SHUTDOWN", false, false, true},
        Case{"PURGE BINARY LOGS TO 'x'", false, false, true}, Case{"KILL 5", false, false, true}));

// SET STATEMENT ... FOR is what its inner statement is.
TEST(SetStatement, IsItsInnerStatement) {
  Check(Case{"SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t", false, true, false});
  Check(Case{"SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1", false, false, false});
  EXPECT_TRUE(ClassifyStatement("SET STATEMENT max_statement_time = 1 FOR SELECT 1 FOR UPDATE")
                  .locking_read);
}

// A CALL is no implicit commit by its text, but its procedure may commit.
TEST(Call, IsMarked) {
  EXPECT_TRUE(ClassifyStatement("CALL p()").calls_procedure);
  EXPECT_TRUE(ClassifyStatement("/* x */ call db.p(1, ?)").calls_procedure);
  EXPECT_FALSE(ClassifyStatement("SELECT 'CALL p()'").calls_procedure);
  EXPECT_FALSE(ClassifyStatement("CALL p()").implicit_commit);
}

// Keywords inside strings and quoted names are data, not code.
TEST(Strings, AreNotCode) {
  Check(Case{"SELECT * FROM t WHERE note = 'for update'", false, true, false});
  Check(Case{"SELECT `lock`, \"into\" FROM t", false, true, false});
  Check(Case{"SET @note = 'autocommit'", false, false, false});
}

// MySQL and MariaDB take "--" followed by any whitespace or control
// character (tab, newline), not only a space, as the start of a comment; a
// statement behind such a comment is still DDL and still commits.
class DoubleDashComment : public ::testing::TestWithParam<Case> {};
TEST_P(DoubleDashComment, Classifies) { Check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(StatementKind, DoubleDashComment,
                         ::testing::Values(Case{"--\tnote\nDROP TABLE t", false, false, true},
                                           Case{"--\nDROP TABLE t", false, false, true},
                                           Case{"--\r\nCOMMIT", false, false, true},
                                           Case{"--\tnote\nSELECT 1", false, true, false}));

// ROLLBACK [WORK] TO [SAVEPOINT] keeps the transaction open.
TEST(StatementKindRollbackTo, OptionalWorkKeyword) {
  Check(Case{"ROLLBACK WORK TO SAVEPOINT s1", false, false, false});
}

TEST(LockingRead, IsASelectThatOnlyTakesLocks) {
  EXPECT_TRUE(ClassifyStatement("SELECT * FROM t WHERE id = ? FOR UPDATE").locking_read);
  EXPECT_TRUE(ClassifyStatement("SELECT * FROM t LOCK IN SHARE MODE").locking_read);
  EXPECT_FALSE(ClassifyStatement("SELECT * FROM t").locking_read);  // a plain read
  EXPECT_FALSE(ClassifyStatement("SELECT * FROM t INTO OUTFILE '/tmp/x'").locking_read);
  EXPECT_FALSE(ClassifyStatement("SELECT 1 INTO @x FOR UPDATE").locking_read);
  EXPECT_FALSE(ClassifyStatement("UPDATE t SET v = 1").locking_read);
}

}  // namespace
}  // namespace txgate::sql
