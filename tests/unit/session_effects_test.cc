// SessionEffectsOf: which statements may leave state on a pooled session
// (reset after the call) and which read what an earlier statement left
// (start on an unused session). A miss leaks one caller's session into the
// next; a false alarm costs a reset, so plain statements must stay plain.
#include "server/sql/session_effects.h"

#include <string>

#include "gtest/gtest.h"

namespace txgate::sql {
namespace {

struct Case {
  const char* sql;
  bool leaves;
  bool reads;
};

class SessionEffectsTest : public ::testing::TestWithParam<Case> {};

TEST_P(SessionEffectsTest, Classifies) {
  const SessionEffects e = SessionEffectsOf(GetParam().sql);
  EXPECT_EQ(e.leaves_state, GetParam().leaves) << "leaves_state: " << GetParam().sql;
  EXPECT_EQ(e.reads_leftovers, GetParam().reads) << "reads_leftovers: " << GetParam().sql;
}

INSTANTIATE_TEST_SUITE_P(
    Plain, SessionEffectsTest,
    ::testing::Values(
        Case{"SELECT 1", false, false}, Case{"select c from sbtest1 where id = ?", false, false},
        Case{"INSERT INTO t (a, b) VALUES (?, ?)", false, false},
        Case{"INSERT t (a) VALUES (1)", false, false},
        Case{"INSERT IGNORE INTO db.t (a) VALUES (NOW())", false, false},
        Case{"REPLACE INTO t (a) VALUES (1)", false, false},
        Case{"UPDATE t SET v = v + 1, u = COALESCE(u, 'x') WHERE id = ?", false, false},
        Case{"DELETE FROM t WHERE id IN (1, 2)", false, false},
        Case{"INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)", false, false},
        Case{"SELECT COUNT(*), MAX(v), CAST(v AS DECIMAL(10,2)) FROM t GROUP BY (v)", false, false},
        Case{"SELECT a FROM t1 JOIN t2 USING (id) WHERE EXISTS (SELECT 1)", false, false},
        Case{"WITH c AS (SELECT 1) SELECT * FROM c", false, false},
        Case{"SELECT 'a@b.com', \"@x := 1\", `we@ird` FROM t", false, false},
        Case{"SELECT GET_LOCK FROM t -- GET_LOCK('x', 0)", false, false},
        Case{"SELECT 1 /* @x := 1 */", false, false},
        Case{"SELECT * FROM t FOR UPDATE", false, false},
        Case{"SELECT @@version, @@session.time_zone", false, false},
        Case{"SHOW TABLES", false, false}, Case{"EXPLAIN SELECT 1", false, false},
        Case{"SELECT errors, warnings FROM stats", false, false},
        Case{"SELECT JSON_EXTRACT(doc, '$.a') FROM t", false, false}));

INSTANTIATE_TEST_SUITE_P(
    LeavesState, SessionEffectsTest,
    ::testing::Values(
        // Every statement that is not plain.
        Case{"USE other_db", true, false}, Case{"SET @x = 1", true, false},
        Case{"SET time_zone = '+05:00'", true, false},
        Case{"SET TRANSACTION READ ONLY", true, false}, Case{"LOCK TABLES t READ", true, false},
        Case{"FLUSH TABLES WITH READ LOCK", true, false}, Case{"HANDLER t OPEN", true, false},
        Case{"XA START 'x'", true, false}, Case{"START TRANSACTION", true, false},
        Case{"CREATE TEMPORARY TABLE tmp (id INT)", true, false},
        Case{"DO GET_LOCK('a', 0)", true, true}, Case{"BACKUP STAGE START", true, false},
        Case{"PREPARE s FROM 'SELECT 1'", true, false},
        // Plain statements made unplain by what is inside them.
        Case{"SELECT @x := 5", true, false}, Case{"SELECT 6 INTO @x", true, false},
        Case{"SELECT v INTO @`quoted` FROM t", true, false},
        Case{"SELECT GET_LOCK('job-42', 0)", true, true},
        Case{"SELECT get_lock ('job', 0)", true, true}, Case{"SELECT NEXTVAL(seq1)", true, true},
        Case{"SELECT NEXT VALUE FOR seq1", true, false},
        Case{"SELECT LAST_INSERT_ID(42)", true, true}, Case{"SELECT f_lock()", true, true},
        Case{"SELECT db.f(1)", true, true}, Case{"SELECT `f`(1)", true, true},
        Case{"INSERT INTO t (a) VALUES (my_func(1))", true, true},
        Case{"UPDATE t SET v = @v", true, false}, Case{"SELECT 1 /*! , @x := 2 */", true, false},
        Case{"SELECT 1 /*M!100000 , GET_LOCK('a', 0) */", true, true}));

INSTANTIATE_TEST_SUITE_P(ReadsLeftovers, SessionEffectsTest,
                         ::testing::Values(Case{"SELECT FOUND_ROWS()", true, true},
                                           Case{"SELECT ROW_COUNT()", true, true},
                                           Case{"SELECT LASTVAL(seq1)", true, true},
                                           Case{"SELECT PREVIOUS VALUE FOR seq1", false, true},
                                           Case{"SHOW WARNINGS", false, true},
                                           Case{"SHOW ERRORS", false, true},
                                           Case{"SHOW COUNT(*) WARNINGS", false, true},
                                           Case{"SELECT @@warning_count", false, true},
                                           Case{"SELECT @@session.last_insert_id", false, true},
                                           Case{"GET DIAGNOSTICS @n = NUMBER", true, true},
                                           Case{"CALL p(1)", true, true}));

TEST(FirstKeywordTest, ReadsTheLeadingKeywordAsTheServerWould) {
  EXPECT_EQ(FirstKeyword("  select 1"), "SELECT");
  EXPECT_EQ(FirstKeyword("/* why */ -- note\n# more\nINSERT INTO t VALUES (1)"), "INSERT");
  EXPECT_EQ(FirstKeyword("((SELECT 1))"), "SELECT");
  EXPECT_EQ(FirstKeyword("/*!50000 DROP TABLE t */"), "DROP");  // executable: code
  EXPECT_EQ(FirstKeyword("--x\nSELECT 1"), "");  // "--x" is no comment: MySQL needs a space
  EXPECT_EQ(FirstKeyword("'str'"), "");
  EXPECT_EQ(FirstKeyword(""), "");
  EXPECT_EQ(FirstKeyword("AVERYLONGKEYWORDTHATGOESON"), "AVERYLONGKEYWORD");
}

}  // namespace
}  // namespace txgate::sql
