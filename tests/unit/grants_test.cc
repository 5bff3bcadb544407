// sql::NonReadGrants over SHOW GRANTS lines as MariaDB 10.11 prints them:
// what a read-only account may hold, and every grant that refuses it.
#include "server/sql/grants.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace txgate::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

TEST(NonReadGrantsTest, ReadingGrantsPass) {
  for (const char* line : {
           "GRANT USAGE ON *.* TO `txgate_ro`@`localhost` IDENTIFIED BY PASSWORD "
           "'*FC89DC9B8F4800C47B326E26CF73ADE576A72AFA'",
           "GRANT SELECT ON `txgate`.* TO `txgate_ro`@`%`",
           "GRANT SELECT, SHOW VIEW ON `txgate`.* TO `txgate_ro`@`127.0.0.1`",
           "GRANT SELECT ON `txgate`.`acct` TO `ro`@`%`",
           "GRANT SELECT (`id`, `balance`) ON `txgate`.`acct` TO `ro`@`%`",
           "GRANT USAGE ON *.* TO `ro`@`%` REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 10",
           "grant select on `txgate`.* to `ro`@`%`",
           "SET DEFAULT ROLE NONE FOR `ro`@`%`",
       }) {
    EXPECT_THAT(NonReadGrants(line), IsEmpty()) << line;
  }
}

TEST(NonReadGrantsTest, EachWritingOrEscapingPrivilegeIsNamedWithItsObject) {
  struct Case {
    const char* line;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"GRANT INSERT ON `txgate`.* TO `ro`@`%`", {"INSERT ON `txgate`.*"}},
      {"GRANT SELECT, INSERT, UPDATE ON `txgate`.* TO `ro`@`%`",
       {"INSERT ON `txgate`.*", "UPDATE ON `txgate`.*"}},
      {"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
       {"ALL PRIVILEGES ON *.*", "GRANT OPTION ON *.*"}},
      {"GRANT EXECUTE ON `txgate`.* TO `ro`@`%`", {"EXECUTE ON `txgate`.*"}},
      {"GRANT EXECUTE ON PROCEDURE `txgate`.`p` TO `ro`@`%`",
       {"EXECUTE ON PROCEDURE `txgate`.`p`"}},
      {"GRANT FILE ON *.* TO `ro`@`%`", {"FILE ON *.*"}},
      {"GRANT PROCESS, SUPER ON *.* TO `ro`@`%`", {"PROCESS ON *.*", "SUPER ON *.*"}},
      {"GRANT CREATE TEMPORARY TABLES ON `txgate`.* TO `ro`@`%`",
       {"CREATE TEMPORARY TABLES ON `txgate`.*"}},
      {"GRANT UPDATE (`balance`) ON `txgate`.`acct` TO `ro`@`%`", {"UPDATE ON `txgate`.`acct`"}},
      {"GRANT SELECT ON `txgate`.* TO `ro`@`%` WITH GRANT OPTION", {"GRANT OPTION ON `txgate`.*"}},
      {"GRANT PROXY ON ''@'%' TO `ro`@`%`", {"PROXY ON ''@'%'"}},
      {"GRANT `admin` TO `ro`@`%`", {"role `admin`"}},
      {"GRANT `r1`, `r2` TO `ro`@`%` WITH ADMIN OPTION", {"role `r1`", "role `r2`"}},
      {"GRANT INSERT ON `txgate`.* TO PUBLIC", {"INSERT ON `txgate`.*"}},
      {"GRANT SELECT ON *.* TO `ro`@`%`", {"SELECT ON *.* (reads the server's password hashes)"}},
      {"GRANT SELECT ON `mysql`.`user` TO `ro`@`%`",
       {"SELECT ON `mysql`.`user` (reads the server's password hashes)"}},
      {"GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO `ro`@`%`",
       {"SLAVE MONITOR ON *.*", "BINLOG MONITOR ON *.*"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NonReadGrants(c.line), c.want) << c.line;
  }
}

TEST(NonReadGrantsTest, ALineThatCannotBeParsedIsRefused) {
  for (const char* line : {"", "REVOKE SELECT ON *.* FROM `ro`", "GRANT SELECT",
                           "GRANT SELECT ON `txgate.* TO `ro`@`%`", "GRANT SELECT ON `txgate`.*"}) {
    const std::vector<std::string> found = NonReadGrants(line);
    ASSERT_EQ(found.size(), 1u) << line;
    EXPECT_THAT(found[0], HasSubstr("cannot parse")) << line;
  }
}

TEST(NonReadGrantsTest, NoItemHoldsThePasswordHash) {
  const std::vector<std::string> found = NonReadGrants(
      "GRANT INSERT ON *.* TO `ro`@`%` IDENTIFIED BY PASSWORD "
      "'*FC89DC9B8F4800C47B326E26CF73ADE576A72AFA'");
  ASSERT_THAT(found, ElementsAre("INSERT ON *.*"));
  EXPECT_THAT(found[0], Not(HasSubstr("FC89")));
}

}  // namespace
}  // namespace txgate::sql
