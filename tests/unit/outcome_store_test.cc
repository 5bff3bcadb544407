// OutcomeStore over the scripted FakeDatabase: the SQL it sends for each of
// its jobs (create once, record inside the caller's transaction, plain and
// locking look-ups, batched purge) and how it reads the answers.
#include "server/runner/outcome_store.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sql/error.h"
#include "tests/unit/fake_database.h"

namespace txgate::runner {
namespace {

using ::testing::ElementsAre;
using testing::Fails;
using testing::FakeDatabase;
using ::testing::HasSubstr;
using testing::Reply;

class OutcomeStoreTest : public ::testing::Test {
 protected:
  OutcomeStoreTest() {
    pool::PoolOptions pool_options;
    pool_options.min_idle = 0;
    pool_options.maintenance_interval = absl::Hours(1);
    pool_ = std::make_unique<pool::ConnectionPool>(pool_options, db_.Factory());
    OutcomeOptions options;
    options.purge_interval = absl::Hours(1);
    options.purge_batch = 2;
    options.retention = absl::Hours(1);
    store_ = std::make_unique<OutcomeStore>(pool_.get(), options);
  }
  ~OutcomeStoreTest() override {
    store_.reset();
    pool_->Close();
  }

  std::unique_ptr<db::Connection> Connect() { return *db_.Factory()(absl::Seconds(1)); }

  FakeDatabase db_;
  std::unique_ptr<pool::ConnectionPool> pool_;
  std::unique_ptr<OutcomeStore> store_;
};

TEST_F(OutcomeStoreTest, CreatesItsTableOnceAndOnlyAfterSuccess) {
  auto conn = Connect();
  db_.Expect("CREATE TABLE", Fails(FakeDatabase::Error(1142, "42000", "CREATE denied")));
  EXPECT_EQ(store_->EnsureTable(*conn).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(store_->ensured());
  ASSERT_TRUE(store_->EnsureTable(*conn).ok());
  ASSERT_TRUE(store_->EnsureTable(*conn).ok());
  EXPECT_TRUE(store_->ensured());
  const std::vector<std::string> creates = db_.Commands("CREATE TABLE");
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_THAT(creates[0], HasSubstr("CREATE TABLE IF NOT EXISTS txgate_outcomes"));
  EXPECT_THAT(creates[0], HasSubstr("VARBINARY(128)"));  // max_key_bytes
}

TEST_F(OutcomeStoreTest, ARecordIsSeenOnlyOnceItsTransactionCommitted) {
  auto writer = Connect();
  auto reader = Connect();
  ASSERT_TRUE(writer->Query("START TRANSACTION").ok());
  ASSERT_TRUE(store_->Record(*writer, "k1", "request-1", "response-1").ok());
  absl::StatusOr<std::optional<OutcomeStore::Stored>> before =
      store_->Lookup(*reader, "k1", "request-1", /*locking=*/false);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(before->has_value());

  ASSERT_TRUE(writer->Query("COMMIT").ok());
  absl::StatusOr<std::optional<OutcomeStore::Stored>> after =
      store_->Lookup(*reader, "k1", "request-1", /*locking=*/true);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_TRUE(after->has_value());
  EXPECT_TRUE((*after)->same_request);
  EXPECT_EQ((*after)->response, "response-1");

  absl::StatusOr<std::optional<OutcomeStore::Stored>> other =
      store_->Lookup(*reader, "k1", "request-2", /*locking=*/false);
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_FALSE((*other)->same_request);

  const std::vector<std::string> lookups = db_.Commands("SELECT request_sha256");
  ASSERT_EQ(lookups.size(), 3u);
  EXPECT_FALSE(absl::StrContains(lookups[0], "LOCK IN SHARE MODE"));
  EXPECT_TRUE(absl::EndsWith(lookups[1], "LOCK IN SHARE MODE"));
}

TEST_F(OutcomeStoreTest, ASecondRecordOfACommittedKeyIsADuplicate) {
  auto conn = Connect();
  ASSERT_TRUE(store_->Record(*conn, "k1", "r", "a").ok());
  ASSERT_TRUE(conn->Query("COMMIT").ok());
  absl::Status again = store_->Record(*conn, "k1", "r", "b");
  ASSERT_TRUE(sql::GetMysqlError(again).has_value());
  EXPECT_EQ(sql::GetMysqlError(again)->errnum, 1062u);
}

TEST_F(OutcomeStoreTest, PurgeDeletesInBatchesUntilAShortOne) {
  Reply full;
  full.affected_rows = 2;  // a whole batch: there may be more
  db_.Expect("DELETE FROM txgate_outcomes", full, /*times=*/2);
  Reply last;
  last.affected_rows = 1;
  db_.Expect("DELETE FROM txgate_outcomes", last);
  absl::StatusOr<uint64_t> purged = store_->Purge();
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 5u);
  const std::vector<std::string> deletes = db_.Commands("DELETE");
  ASSERT_EQ(deletes.size(), 3u);
  EXPECT_THAT(deletes[0], HasSubstr("WHERE created_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?"));
}

TEST_F(OutcomeStoreTest, PurgeReportsAFailure) {
  db_.Expect("DELETE", Fails(FakeDatabase::Error(1205, "HY000", "Lock wait timeout")));
  EXPECT_EQ(store_->Purge().status().code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace txgate::runner
