// StatementKiller over the FakeDatabase: KILL QUERY for the call's attached
// connection from a side connection, and the socket cut when the statement
// does not return within the grace period. Conditions are awaited, never
// slept for.
#include "server/runner/statement_killer.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/db/session_identity.h"
#include "tests/unit/fake_database.h"

namespace txgate::runner {
namespace {

using ::testing::ElementsAre;
using testing::FakeDatabase;

template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class StatementKillerTest : public ::testing::Test {
 protected:
  std::unique_ptr<db::Connection> Connect() { return *db_.Factory()(absl::Seconds(1)); }
  FakeDatabase db_;
};

TEST_F(StatementKillerTest, KillsTheQueryOfTheAttachedConnection) {
  auto running = Connect();  // thread id 1
  auto call = std::make_shared<CallContext>(absl::InfiniteFuture());
  call->Attach(running.get());
  {
    StatementKiller killer(db_.Factory(), /*grace=*/absl::Seconds(30));
    killer.Kill(call);
    ASSERT_TRUE(Eventually([&] { return !db_.Commands("KILL QUERY").empty(); }));
    call->Detach();  // the statement returned, as the server stopped it
  }                  // joins the killer's threads
  EXPECT_THAT(db_.Commands("KILL"), ElementsAre("KILL QUERY 1"));
  EXPECT_FALSE(running->broken());  // stopped in time: the connection lives on
}

TEST_F(StatementKillerTest, KillsNoSessionThatTookTheIdAfterARestart) {
  auto running = Connect();  // thread id 1
  db_.Restart();             // ids start again from 1
  auto bystander = db_.Bystander(running->thread_id(), "txgate");
  auto call = std::make_shared<CallContext>(absl::InfiniteFuture());
  call->Attach(running.get());
  {
    StatementKiller killer(db_.Factory(), /*grace=*/absl::Milliseconds(20));
    killer.Kill(call);
    // The process list shows the id, but as another session: no KILL.
    ASSERT_TRUE(Eventually([&] { return !db_.Commands(db::kSessionIdentitySelect).empty(); }));
    call->Detach();
  }  // joins the killer's threads: a KILL after the check would be logged

  EXPECT_TRUE(db_.Commands("KILL").empty());
  EXPECT_FALSE(bystander->broken());
}

TEST_F(StatementKillerTest, CutsTheConnectionWhenTheStatementDoesNotReturn) {
  auto stuck = Connect();
  auto call = std::make_shared<CallContext>(absl::InfiniteFuture());
  call->Attach(stuck.get());
  StatementKiller killer(db_.Factory(), /*grace=*/absl::Milliseconds(20));
  killer.Kill(call);
  EXPECT_TRUE(Eventually([&] { return stuck->broken(); }));
  call->Detach();
}

TEST_F(StatementKillerTest, CutsTheConnectionWhenTheDatabaseCannotBeReached) {
  auto stuck = Connect();
  db_.set_down(true);  // no side connection can open
  auto call = std::make_shared<CallContext>(absl::InfiniteFuture());
  call->Attach(stuck.get());
  StatementKiller killer(db_.Factory(), /*grace=*/absl::Milliseconds(20));
  killer.Kill(call);
  EXPECT_TRUE(Eventually([&] { return stuck->broken(); }));
  call->Detach();
  EXPECT_TRUE(db_.Commands("KILL").empty());
}

// A hung server does not answer the killer either: the cut does not wait
// for the KILL, and the caller's Detach() of the cut connection does not
// wait for it.
TEST_F(StatementKillerTest, CutsTheConnectionWhileTheKillHangs) {
  auto stuck = Connect();
  std::mutex mu;
  std::condition_variable cv;
  bool arrived = false;
  bool answer = false;
  testing::Reply hangs;
  hangs.on_arrival = [&] {
    std::unique_lock<std::mutex> lock(mu);
    arrived = true;
    cv.notify_all();
    cv.wait(lock, [&] { return answer; });
  };
  db_.Expect(db::kSessionIdentitySelect, hangs);
  auto call = std::make_shared<CallContext>(absl::InfiniteFuture());
  call->Attach(stuck.get());
  StatementKiller killer(db_.Factory(), /*timeout=*/absl::Milliseconds(20));
  killer.Kill(call);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return arrived; });
  }
  EXPECT_TRUE(Eventually([&] { return stuck->broken(); }));
  call->Detach();  // returns although the KILL is still in flight
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(answer);
    answer = true;
  }
  cv.notify_all();
}

TEST_F(StatementKillerTest, DoesNothingWhenNoStatementRuns) {
  auto call = std::make_shared<CallContext>(absl::InfiniteFuture());
  {
    StatementKiller killer(db_.Factory(), absl::Seconds(30));
    killer.Kill(call);
  }
  EXPECT_TRUE(db_.Log().empty());
  EXPECT_EQ(db_.connects(), 0);
}

}  // namespace
}  // namespace txgate::runner
