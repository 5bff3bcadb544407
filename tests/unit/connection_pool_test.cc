// BasicPool's bookkeeping, driven with a fake connection type and a fake
// database: warm-up, limits, waiting, cleaning on return, discarding dead
// connections, backoff while the database is down, recovery, eviction and
// Close. These tests also run under ThreadSanitizer (ctest label "pool").
//
// Nothing here sleeps to synchronise: conditions are awaited with a bounded
// polling loop (Eventually), and waiting is only used to measure a window.
#include "server/pool/connection_pool.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sql/error.h"

namespace txgate::pool {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Polls `condition` every millisecond until it holds or `timeout` passes.
// Returns whether it held.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void RaiseMax(std::atomic<int>& max, int value) {
  int seen = max.load();
  while (value > seen && !max.compare_exchange_weak(seen, value)) {
  }
}

// What the test knows about one fake connection. It outlives the connection,
// so a test can see that the pool closed it and what the pool did with it.
struct ConnState {
  explicit ConnState(int conn_id) : id(conn_id) {}
  const int id;
  std::atomic<bool> closed{false};
  // Knobs: how the connection behaves.
  std::atomic<bool> broken{false};
  std::atomic<bool> idle_alive{true};
  std::atomic<bool> ping_ok{true};
  std::atomic<bool> in_transaction{false};
  std::atomic<bool> session_changed{false};
  std::atomic<bool> cleanup_fails{false};
  std::atomic<bool> pending_result{false};  // given back in the middle of a result
  std::atomic<bool> slow_close{false};      // closing waits at the database's close gate
  // What the pool did with it.
  std::atomic<int> idle_checks{0};
  std::atomic<int> pings{0};
  std::atomic<int> rollbacks{0};
  std::atomic<int> other_queries{0};
  std::atomic<int> resets{0};
};

absl::Status LostConnection() {
  return sql::ToStatus(sql::MysqlError{2013, "HY000", "Lost connection to server during query"});
}

class FakeDatabase;

// The pool's Conn: a connection to FakeDatabase.
class FakeConn {
 public:
  FakeConn(FakeDatabase* db, std::shared_ptr<ConnState> state);
  ~FakeConn();
  FakeConn(const FakeConn&) = delete;
  FakeConn& operator=(const FakeConn&) = delete;

  bool broken() const { return state_->broken; }
  bool pending_result() const { return state_->pending_result; }
  bool IdleAlive() const {
    ++state_->idle_checks;
    return state_->idle_alive;
  }
  absl::Status Ping() {
    ++state_->pings;
    return state_->ping_ok ? absl::OkStatus() : LostConnection();
  }
  bool InTransaction() { return state_->in_transaction; }
  bool HasOpenTransaction() { return state_->in_transaction; }
  absl::Status Query(absl::string_view) {
    ++state_->other_queries;
    return absl::OkStatus();
  }
  absl::Status RollbackTransaction() {
    ++state_->rollbacks;
    if (state_->cleanup_fails) return LostConnection();
    state_->in_transaction = false;
    return absl::OkStatus();
  }
  bool session_changed() const { return state_->session_changed; }
  absl::Status ResetSession() {
    ++state_->resets;
    if (state_->cleanup_fails) return LostConnection();
    state_->session_changed = false;
    return absl::OkStatus();
  }

  int id() const { return state_->id; }
  ConnState& state() { return *state_; }

 private:
  FakeDatabase* const db_;
  const std::shared_ptr<ConnState> state_;
};

// A database the fake connections talk to. It can be taken down, made to
// fail every n-th connect, slowed down, or made to hold connects (and the
// closing of slow_close connections) at a gate.
class FakeDatabase {
 public:
  using Factory = BasicPool<FakeConn>::Factory;

  Factory factory() {
    return [this](absl::Duration timeout) { return Connect(timeout); };
  }

  // Connects fail while down. Going down also kills every open connection,
  // as a server restart would.
  void Down() {
    up_ = false;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : conns_) c->idle_alive = false;
  }
  void Up() { up_ = true; }
  void FailEvery(int n) { fail_every_ = n; }
  void SetConnectLatency(absl::Duration d) { latency_us_ = absl::ToInt64Microseconds(d); }

  // While held, connects wait at a gate inside the factory.
  void HoldConnects() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = true;
  }
  void ReleaseConnects() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = false;
    cv_.notify_all();
  }
  int AtGate() {
    std::lock_guard<std::mutex> lock(mu_);
    return at_gate_;
  }
  void HoldCloses() {
    std::lock_guard<std::mutex> lock(mu_);
    closes_held_ = true;
  }
  void ReleaseCloses() {
    std::lock_guard<std::mutex> lock(mu_);
    closes_held_ = false;
    cv_.notify_all();
  }
  int AtCloseGate() {
    std::lock_guard<std::mutex> lock(mu_);
    return at_close_gate_;
  }

  // The state of the id-th connection made (1-based).
  std::shared_ptr<ConnState> conn(int id) {
    std::lock_guard<std::mutex> lock(mu_);
    return conns_.at(id - 1);
  }
  std::vector<absl::Duration> timeouts() {
    std::lock_guard<std::mutex> lock(mu_);
    return timeouts_;
  }

  int calls() const { return calls_; }
  int live() const { return live_; }
  int max_live() const { return max_live_; }
  int in_flight() const { return in_flight_; }
  int max_in_flight() const { return max_in_flight_; }
  void ResetMaxInFlight() { max_in_flight_ = in_flight_.load(); }

 private:
  friend class FakeConn;

  absl::StatusOr<std::unique_ptr<FakeConn>> Connect(absl::Duration timeout) {
    RaiseMax(max_in_flight_, ++in_flight_);
    const int call = ++calls_;
    {
      std::unique_lock<std::mutex> lock(mu_);
      timeouts_.push_back(timeout);
      ++at_gate_;
      cv_.wait(lock, [this] { return !held_; });
      --at_gate_;
    }
    // Simulated network latency, not synchronisation.
    const int64_t latency_us = latency_us_;
    if (latency_us > 0) absl::SleepFor(absl::Microseconds(latency_us));
    absl::StatusOr<std::unique_ptr<FakeConn>> result;
    if (!up_ || (fail_every_ > 0 && call % fail_every_ == 0)) {
      result = sql::ToStatus(
          sql::MysqlError{2003, "HY000", "Can't connect to MySQL server on 'db' (111)"});
    } else {
      std::shared_ptr<ConnState> state;
      {
        std::lock_guard<std::mutex> lock(mu_);
        conns_.push_back(std::make_shared<ConnState>(static_cast<int>(conns_.size()) + 1));
        state = conns_.back();
      }
      result = std::make_unique<FakeConn>(this, std::move(state));
    }
    --in_flight_;
    return result;
  }

  std::atomic<bool> up_{true};
  std::atomic<int> fail_every_{0};
  std::atomic<int64_t> latency_us_{0};
  std::atomic<int> calls_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::atomic<int> live_{0};
  std::atomic<int> max_live_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int at_gate_ = 0;
  bool closes_held_ = false;
  int at_close_gate_ = 0;
  std::vector<std::shared_ptr<ConnState>> conns_;
  std::vector<absl::Duration> timeouts_;
};

FakeConn::FakeConn(FakeDatabase* db, std::shared_ptr<ConnState> state)
    : db_(db), state_(std::move(state)) {
  RaiseMax(db_->max_live_, ++db_->live_);
}

FakeConn::~FakeConn() {
  if (state_->slow_close) {
    std::unique_lock<std::mutex> lock(db_->mu_);
    ++db_->at_close_gate_;
    db_->cv_.wait(lock, [this] { return !db_->closes_held_; });
    --db_->at_close_gate_;
  }
  state_->closed = true;
  --db_->live_;
}

// Real time shifted by an offset the test advances. Counts its reads.
class FakeClock {
 public:
  absl::Time Now() {
    ++reads_;
    return absl::Now() + absl::Nanoseconds(offset_ns_.load());
  }
  void Advance(absl::Duration d) { offset_ns_ += absl::ToInt64Nanoseconds(d); }
  int64_t reads() const { return reads_; }

 private:
  std::atomic<int64_t> offset_ns_{0};
  std::atomic<int64_t> reads_{0};
};

using Pool = BasicPool<FakeConn>;
using Lease = Pool::Lease;

class PoolTest : public ::testing::Test {
 protected:
  // Options under which little happens unless a test asks for it: nothing
  // expires, and the maintenance thread runs at start, when signalled and
  // every few seconds. (Not rarer: a Close() that races with its refill
  // waits out a whole interval, see CloseDuringAConnectLeavesNothingOpen.)
  static PoolOptions Quiet() {
    PoolOptions o;
    o.min_idle = 1;
    o.max_size = 4;
    o.acquire_timeout = absl::Seconds(20);
    o.connect_timeout = absl::Seconds(10);
    o.validation_interval = absl::Hours(1);
    o.idle_timeout = absl::Hours(1);
    o.max_lifetime = absl::Hours(2);
    o.maintenance_interval = absl::Seconds(3);
    o.backoff.initial = absl::Milliseconds(1);
    o.backoff.max = absl::Milliseconds(10);
    return o;
  }

  std::unique_ptr<Pool> Make(const PoolOptions& o) {
    return std::make_unique<Pool>(
        o, db_.factory(), [this] { return clock_.Now(); },
        [this](bool reachable) {
          std::lock_guard<std::mutex> lock(events_mu_);
          reachability_.push_back(reachable);
        });
  }

  // Waits until exactly `n` connections are idle and nothing else is
  // happening, i.e. the maintenance thread has finished its refill.
  static bool AwaitIdle(const Pool& pool, int n) {
    return Eventually([&] {
      const PoolStats s = pool.Stats();
      return s.idle == n && s.connecting == 0 && s.in_use == 0;
    });
  }

  static Lease MustAcquire(Pool& pool, absl::Duration wait = absl::Seconds(20)) {
    absl::StatusOr<Lease> lease = pool.Acquire(absl::Now() + wait);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() ? std::move(*lease) : Lease();
  }

  std::vector<bool> reachability() {
    std::lock_guard<std::mutex> lock(events_mu_);
    return reachability_;
  }

  FakeDatabase db_;
  FakeClock clock_;
  std::mutex events_mu_;
  std::vector<bool> reachability_;
};

// ------------------------------------------------------------- warm-up

TEST_F(PoolTest, MaintenanceWarmsUpMinIdle) {
  PoolOptions o = Quiet();
  o.min_idle = 3;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 3));
  const PoolStats s = pool->Stats();
  EXPECT_EQ(s.open, 3);
  EXPECT_EQ(s.connects, 3);
  EXPECT_EQ(s.connect_failures, 0);
  EXPECT_TRUE(s.reachable);
  EXPECT_EQ(db_.live(), 3);
  EXPECT_THAT(reachability(), ElementsAre(true));
}

TEST_F(PoolTest, KeepsOneConnectionToProbeReachabilityEvenWithMinIdleZero) {
  PoolOptions o = Quiet();
  o.min_idle = 0;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  EXPECT_TRUE(pool->reachable());
}

TEST_F(PoolTest, MinIdleIsClampedToMaxSize) {
  PoolOptions o = Quiet();
  o.min_idle = 10;
  o.max_size = 2;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  EXPECT_EQ(pool->Stats().open, 2);
  EXPECT_EQ(db_.max_live(), 2);
}

// ------------------------------------------------------- limits, waiting

TEST_F(PoolTest, OpensUpToMaxSizeThenGivesUpAtTheDeadline) {
  PoolOptions o = Quiet();
  o.max_size = 3;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  std::vector<Lease> leases;
  std::set<int> ids;
  for (int i = 0; i < 3; ++i) {
    leases.push_back(MustAcquire(*pool));
    ASSERT_TRUE(leases.back());
    ids.insert(leases.back()->id());
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(pool->Stats().in_use, 3);

  const absl::Time deadline = absl::Now() + absl::Milliseconds(100);
  const absl::StatusOr<Lease> extra = pool->Acquire(deadline);
  const absl::Time returned = absl::Now();
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sql::GetReason(extra.status()), "DATABASE_UNAVAILABLE");
  EXPECT_THAT(std::string(extra.status().message()), HasSubstr("all in use"));
  EXPECT_GE(returned, deadline);
  EXPECT_LT(returned - deadline, absl::Seconds(10));
  EXPECT_EQ(db_.calls(), 3);
  EXPECT_EQ(db_.max_live(), 3);
  EXPECT_EQ(pool->Stats().waiters, 0);
}

TEST_F(PoolTest, AcquireTimeoutBoundsAFarDeadline) {
  PoolOptions o = Quiet();
  o.max_size = 1;
  o.acquire_timeout = absl::Milliseconds(100);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease held = MustAcquire(*pool);
  const absl::Time start = absl::Now();
  const absl::StatusOr<Lease> lease = pool->Acquire(absl::Now() + absl::Hours(1));
  const absl::Duration waited = absl::Now() - start;
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(waited, absl::Milliseconds(100));
  EXPECT_LT(waited, absl::Seconds(10));
}

TEST_F(PoolTest, WaiterPromptlyGetsAReturnedConnection) {
  PoolOptions o = Quiet();
  o.max_size = 1;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease held = MustAcquire(*pool);
  const int held_id = held->id();

  absl::StatusOr<Lease> got = absl::UnknownError("not run");
  absl::Time got_at;
  std::thread waiter([&] {
    got = pool->Acquire(absl::Now() + absl::Seconds(6));
    got_at = absl::Now();
  });
  EXPECT_TRUE(Eventually([&] { return pool->Stats().waiters == 1; }));
  const absl::Time returned_at = absl::Now();
  held.Return();
  waiter.join();

  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->id(), held_id);
  // Woken by the return, not by its deadline.
  EXPECT_LT(got_at - returned_at, absl::Seconds(3));
  EXPECT_EQ(db_.calls(), 1);
}

TEST_F(PoolTest, WaitersAreServedOneConnectionEach) {
  PoolOptions o = Quiet();
  o.max_size = 2;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  Lease b = MustAcquire(*pool);
  std::atomic<int> served{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      absl::StatusOr<Lease> lease = pool->Acquire(absl::Now() + absl::Seconds(20));
      EXPECT_TRUE(lease.ok()) << lease.status();
      ++served;
    });
  }
  EXPECT_TRUE(Eventually([&] { return pool->Stats().waiters == 4; }));
  const absl::Time start = absl::Now();
  a.Return();
  b.Return();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(served, 4);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "waiters slept until their deadlines";
  EXPECT_EQ(db_.calls(), 2);
  EXPECT_EQ(db_.max_live(), 2);
}

TEST_F(PoolTest, ConnectNeverOutlastsTheCallersDeadline) {
  PoolOptions o = Quiet();
  o.connect_timeout = absl::Seconds(10);
  o.acquire_timeout = absl::Seconds(20);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  // The maintenance thread's connect may take the full connect timeout.
  ASSERT_EQ(db_.timeouts().size(), 1u);
  EXPECT_EQ(db_.timeouts()[0], absl::Seconds(10));

  Lease a = MustAcquire(*pool);  // the idle one
  Lease b = MustAcquire(*pool, absl::Milliseconds(300));
  ASSERT_EQ(db_.timeouts().size(), 2u);
  EXPECT_GT(db_.timeouts()[1], absl::ZeroDuration());
  EXPECT_LE(db_.timeouts()[1], absl::Milliseconds(300));

  o.acquire_timeout = absl::Milliseconds(200);
  auto short_pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*short_pool, 1));
  Lease c = MustAcquire(*short_pool, absl::Hours(1));
  Lease d = MustAcquire(*short_pool, absl::Hours(1));
  ASSERT_EQ(db_.timeouts().size(), 4u);
  EXPECT_LE(db_.timeouts()[3], absl::Milliseconds(200));
}

TEST_F(PoolTest, AConnectionBeingClosedStillCountsTowardMaxSize) {
  PoolOptions o = Quiet();
  o.max_size = 1;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  a->state().broken = true;
  a->state().slow_close = true;
  db_.HoldCloses();
  std::thread returner([&] { a.Return(); });
  EXPECT_TRUE(Eventually([&] { return db_.AtCloseGate() == 1; }));
  // Connection 1 is still open at the database while it closes.
  const absl::StatusOr<Lease> b = pool->Acquire(absl::Now() + absl::Milliseconds(100));
  db_.ReleaseCloses();
  returner.join();
  EXPECT_LE(db_.max_live(), 1) << "a second connection opened while the first was closing";
}

// ------------------------------------------------------------- reuse

TEST_F(PoolTest, ReusesTheMostRecentlyReturnedConnection) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  Lease b = MustAcquire(*pool);
  Lease c = MustAcquire(*pool);
  const int a_id = a->id();
  const int b_id = b->id();
  const int c_id = c->id();
  a.Return();
  b.Return();
  c.Return();
  Lease first = MustAcquire(*pool);
  Lease second = MustAcquire(*pool);
  Lease third = MustAcquire(*pool);
  EXPECT_EQ(first->id(), c_id);
  EXPECT_EQ(second->id(), b_id);
  EXPECT_EQ(third->id(), a_id);
}

TEST_F(PoolTest, LeaseReturnsItsConnectionExactlyOnce) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  ASSERT_TRUE(a);
  Lease moved = std::move(a);
  EXPECT_EQ(pool->Stats().in_use, 1);
  moved.Return();
  EXPECT_FALSE(moved);
  moved.Return();  // a second return is a no-op
  EXPECT_EQ(pool->Stats().idle, 1);
  EXPECT_EQ(pool->Stats().open, 1);

  // Assigning over a lease returns the connection it held.
  Lease x = MustAcquire(*pool);
  Lease y = MustAcquire(*pool);
  x = std::move(y);
  const PoolStats s = pool->Stats();
  EXPECT_EQ(s.in_use, 1);
  EXPECT_EQ(s.idle, 1);
}

// ------------------------------------------------------ cleaning, discarding

TEST_F(PoolTest, CleanConnectionGoesBackUntouched) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  std::shared_ptr<ConnState> st = db_.conn(a->id());
  a.Return();
  EXPECT_EQ(st->rollbacks, 0);
  EXPECT_EQ(st->other_queries, 0);
  EXPECT_EQ(st->resets, 0);
  EXPECT_FALSE(st->closed);
  EXPECT_EQ(pool->Stats().idle, 1);
}

TEST_F(PoolTest, RollsBackAnOpenTransactionOnReturn) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  std::shared_ptr<ConnState> st = db_.conn(a->id());
  st->in_transaction = true;
  a.Return();
  EXPECT_EQ(st->rollbacks, 1);
  EXPECT_EQ(st->resets, 0);
  EXPECT_FALSE(st->closed);
  Lease again = MustAcquire(*pool);
  EXPECT_EQ(again->id(), st->id);
  EXPECT_FALSE(again->InTransaction());
}

TEST_F(PoolTest, ResetsAChangedSessionOnReturn) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  std::shared_ptr<ConnState> st = db_.conn(a->id());
  st->session_changed = true;
  a.Return();
  EXPECT_EQ(st->resets, 1);
  EXPECT_EQ(st->rollbacks, 0);
  EXPECT_FALSE(st->closed);
  Lease again = MustAcquire(*pool);
  EXPECT_EQ(again->id(), st->id);
  EXPECT_FALSE(again->session_changed());
}

TEST_F(PoolTest, ConnectionThatCannotBeCleanedIsClosed) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  for (bool in_transaction : {true, false}) {
    SCOPED_TRACE(in_transaction ? "rollback fails" : "session reset fails");
    Lease a = MustAcquire(*pool);
    std::shared_ptr<ConnState> st = db_.conn(a->id());
    st->in_transaction = in_transaction;
    st->session_changed = !in_transaction;
    st->cleanup_fails = true;
    const int64_t discarded = pool->Stats().discarded;
    a.Return();
    EXPECT_TRUE(st->closed);
    EXPECT_EQ(pool->Stats().discarded, discarded + 1);
    Lease next = MustAcquire(*pool);
    EXPECT_NE(next->id(), st->id);
  }
}

// Reading the rest of a result could take as long as the result is large
// or the server is slow: the connection is closed, not cleaned.
TEST_F(PoolTest, ConnectionGivenBackInTheMiddleOfAResultIsClosedUncleaned) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  std::shared_ptr<ConnState> st = db_.conn(a->id());
  st->pending_result = true;
  st->in_transaction = true;
  st->session_changed = true;
  const int64_t discarded = pool->Stats().discarded;
  a.Return();
  EXPECT_TRUE(st->closed);
  EXPECT_EQ(st->rollbacks, 0);
  EXPECT_EQ(st->resets, 0);
  EXPECT_EQ(pool->Stats().discarded, discarded + 1);
  Lease next = MustAcquire(*pool);
  EXPECT_NE(next->id(), st->id);
}

TEST_F(PoolTest, BrokenConnectionIsClosedOnReturn) {
  auto pool = Make(Quiet());
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease a = MustAcquire(*pool);
  std::shared_ptr<ConnState> st = db_.conn(a->id());
  st->broken = true;
  st->in_transaction = true;
  a.Return();
  EXPECT_TRUE(st->closed);
  EXPECT_EQ(st->rollbacks, 0);  // nothing is sent on a broken connection
  EXPECT_EQ(pool->Stats().discarded, 1);
  Lease next = MustAcquire(*pool);
  EXPECT_NE(next->id(), st->id);
}

TEST_F(PoolTest, DeadIdleConnectionsAreNeverHandedOut) {
  PoolOptions o = Quiet();
  o.min_idle = 2;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  db_.conn(1)->idle_alive = false;
  db_.conn(2)->broken = true;
  Lease a = MustAcquire(*pool);
  EXPECT_GT(a->id(), 2);
  EXPECT_TRUE(Eventually([&] { return db_.conn(1)->closed && db_.conn(2)->closed; }));
  EXPECT_EQ(pool->Stats().in_use, 1);
}

TEST_F(PoolTest, MaintenanceClosesDeadIdleConnectionsAndCountsThem) {
  PoolOptions o = Quiet();
  o.min_idle = 2;
  o.maintenance_interval = absl::Milliseconds(5);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  db_.conn(1)->idle_alive = false;
  db_.conn(2)->broken = true;
  // Both are replaced without anyone acquiring.
  ASSERT_TRUE(Eventually(
      [&] { return db_.conn(1)->closed && db_.conn(2)->closed && pool->Stats().idle == 2; }));
  EXPECT_EQ(pool->Stats().discarded, 2);
}

// ------------------------------------------------------ time-driven eviction

TEST_F(PoolTest, PingsOnlyConnectionsIdleLongerThanTheValidationInterval) {
  PoolOptions o = Quiet();
  o.validation_interval = absl::Minutes(1);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  std::shared_ptr<ConnState> st = db_.conn(1);

  MustAcquire(*pool).Return();
  EXPECT_EQ(st->pings, 0);

  clock_.Advance(absl::Minutes(2));
  Lease a = MustAcquire(*pool);
  EXPECT_EQ(a->id(), 1);
  EXPECT_EQ(st->pings, 1);
  a.Return();

  st->ping_ok = false;
  clock_.Advance(absl::Minutes(2));
  Lease b = MustAcquire(*pool);
  EXPECT_NE(b->id(), 1);
  EXPECT_EQ(st->pings, 2);
  EXPECT_TRUE(st->closed);
}

TEST_F(PoolTest, ExpiredConnectionIsNotHandedOut) {
  PoolOptions o = Quiet();
  o.max_lifetime = absl::Minutes(1);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  clock_.Advance(absl::Minutes(2));
  Lease a = MustAcquire(*pool);
  EXPECT_NE(a->id(), 1);
  EXPECT_TRUE(Eventually([&] { return db_.conn(1)->closed.load(); }));
}

TEST_F(PoolTest, MaintenanceReplacesConnectionsOlderThanMaxLifetime) {
  PoolOptions o = Quiet();
  o.min_idle = 2;
  o.max_lifetime = absl::Minutes(1);
  o.maintenance_interval = absl::Milliseconds(5);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  clock_.Advance(absl::Seconds(30));
  // Still young: sweeps pass them by.
  const int checks = db_.conn(1)->idle_checks;
  ASSERT_TRUE(Eventually([&] { return db_.conn(1)->idle_checks >= checks + 3; }));
  EXPECT_FALSE(db_.conn(1)->closed);
  EXPECT_FALSE(db_.conn(2)->closed);

  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(Eventually(
      [&] { return db_.conn(1)->closed && db_.conn(2)->closed && pool->Stats().idle == 2; }));
  EXPECT_EQ(db_.live(), 2);
  Lease a = MustAcquire(*pool);
  EXPECT_GT(a->id(), 2);
}

TEST_F(PoolTest, IdleTimeoutClosesSurplusConnectionsDownToMinIdle) {
  PoolOptions o = Quiet();
  o.min_idle = 1;
  o.max_size = 6;
  o.idle_timeout = absl::Minutes(1);
  o.maintenance_interval = absl::Milliseconds(5);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  {
    std::vector<Lease> leases;
    for (int i = 0; i < 4; ++i) leases.push_back(MustAcquire(*pool));
  }
  ASSERT_TRUE(Eventually([&] {
    const PoolStats s = pool->Stats();
    return s.in_use == 0 && s.connecting == 0 && s.idle >= 4;
  }));
  const int open = pool->Stats().open;

  // Not before the idle timeout.
  clock_.Advance(absl::Seconds(50));
  const int checks = db_.conn(1)->idle_checks;
  ASSERT_TRUE(Eventually([&] { return db_.conn(1)->idle_checks >= checks + 3; }));
  EXPECT_EQ(pool->Stats().open, open);

  clock_.Advance(absl::Seconds(20));
  ASSERT_TRUE(Eventually([&] { return pool->Stats().open == 1 && db_.live() == 1; }));
  const PoolStats s = pool->Stats();
  EXPECT_EQ(s.idle, 1);
  EXPECT_TRUE(s.reachable);
}

// ---------------------------------------------- the database down and back

TEST_F(PoolTest, GivesUpWithTheDatabasesErrorWhenConnectsFail) {
  db_.Down();
  auto pool = Make(Quiet());
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures >= 1; }));
  const absl::Time deadline = absl::Now() + absl::Milliseconds(200);
  const absl::StatusOr<Lease> lease = pool->Acquire(deadline);
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sql::GetReason(lease.status()), "DATABASE_UNAVAILABLE");
  EXPECT_THAT(std::string(lease.status().message()),
              HasSubstr("Can't connect to MySQL server on 'db'"));
  EXPECT_LT(absl::Now() - deadline, absl::Seconds(10));
  const PoolStats s = pool->Stats();
  EXPECT_FALSE(s.reachable);
  EXPECT_EQ(s.open, 0);
  EXPECT_EQ(s.connects, 0);
  EXPECT_EQ(s.waiters, 0);
  EXPECT_TRUE(reachability().empty());
}

TEST_F(PoolTest, FailsFastWhenNoConnectCanHappenBeforeTheDeadline) {
  PoolOptions o = Quiet();
  o.backoff.initial = absl::Seconds(20);
  o.backoff.max = absl::Seconds(20);
  db_.Down();
  auto pool = Make(o);
  // The maintenance thread's failed connect schedules the next one 10-20s out.
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures == 1; }));
  const absl::Time start = absl::Now();
  const absl::StatusOr<Lease> lease = pool->Acquire(start + absl::Seconds(2));
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1))
      << "waited for a deadline that no connect attempt could meet";
  EXPECT_EQ(db_.calls(), 1);
}

TEST_F(PoolTest, BacksOffInsteadOfHammeringADownDatabase) {
  PoolOptions o = Quiet();
  o.backoff.initial = absl::Milliseconds(20);
  o.backoff.max = absl::Milliseconds(200);
  o.maintenance_interval = absl::Milliseconds(5);
  db_.Down();
  auto pool = Make(o);
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures >= 1; }));

  std::atomic<bool> stop{false};
  std::atomic<int> acquires{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      while (!stop) {
        const absl::StatusOr<Lease> lease = pool->Acquire(absl::Now() + absl::Milliseconds(30));
        EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
        ++acquires;
      }
    });
  }
  const int calls_before = db_.calls();
  // A measurement window, not synchronisation.
  absl::SleepFor(absl::Seconds(1));
  const int calls = db_.calls() - calls_before;
  stop = true;
  for (std::thread& t : callers) t.join();

  // Jittered delays of at least 10, 20, 40, 80, 100, 100, ... ms allow at
  // most 12 attempts in a second, however many callers there are.
  EXPECT_LE(calls, 13);
  EXPECT_GE(calls, 2);
  EXPECT_GT(acquires, 8);
}

TEST_F(PoolTest, OnlyOneConnectAtATimeWhileTheDatabaseIsDown) {
  PoolOptions o = Quiet();
  o.max_size = 16;
  o.backoff.initial = absl::Milliseconds(1);
  o.backoff.max = absl::Milliseconds(2);
  db_.SetConnectLatency(absl::Milliseconds(3));
  db_.Down();
  auto pool = Make(o);
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures >= 1; }));
  db_.ResetMaxInFlight();
  const int calls_before = db_.calls();

  std::vector<std::thread> callers;
  for (int i = 0; i < 32; ++i) {
    callers.emplace_back([&] {
      for (int n = 0; n < 5; ++n) {
        const absl::StatusOr<Lease> lease = pool->Acquire(absl::Now() + absl::Milliseconds(40));
        EXPECT_FALSE(lease.ok());
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_GT(db_.calls(), calls_before);
  EXPECT_EQ(db_.max_in_flight(), 1);
}

TEST_F(PoolTest, WaitersSleepWhileAConnectIsInFlight) {
  db_.Down();
  auto pool = Make(Quiet());
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures >= 1; }));
  // The next connect hangs at the gate; a second caller has to wait for it.
  db_.HoldConnects();
  std::thread first([&] { (void)pool->Acquire(absl::Now() + absl::Seconds(20)); });
  EXPECT_TRUE(Eventually([&] { return db_.AtGate() == 1; }));
  std::thread second([&] { (void)pool->Acquire(absl::Now() + absl::Seconds(20)); });
  EXPECT_TRUE(Eventually([&] { return pool->Stats().waiters == 1; }));
  // Every turn of the waiter's loop reads the pool's clock.
  const int64_t reads_before = clock_.reads();
  absl::SleepFor(absl::Milliseconds(300));  // a measurement window
  const int64_t reads = clock_.reads() - reads_before;
  db_.Up();
  db_.ReleaseConnects();
  first.join();
  second.join();
  EXPECT_LT(reads, 100) << "the waiter woke " << reads << " times in 300ms";
}

// ---------------------------------------------------------- recovery

TEST_F(PoolTest, RecoversWhenTheDatabaseComesBack) {
  PoolOptions o = Quiet();
  o.min_idle = 2;
  o.maintenance_interval = absl::Milliseconds(5);
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  EXPECT_THAT(reachability(), ElementsAre(true));

  db_.Down();
  ASSERT_TRUE(Eventually([&] { return !pool->reachable(); }));
  EXPECT_THAT(reachability(), ElementsAre(true, false));
  const absl::StatusOr<Lease> failed = pool->Acquire(absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);

  db_.Up();
  ASSERT_TRUE(Eventually([&] { return pool->reachable() && pool->Stats().idle == 2; }));
  EXPECT_THAT(reachability(), ElementsAre(true, false, true));
  EXPECT_TRUE(db_.conn(1)->closed);
  EXPECT_TRUE(db_.conn(2)->closed);
  Lease a = MustAcquire(*pool);
  EXPECT_GT(a->id(), 2);
}

TEST_F(PoolTest, CallerHealsThePoolWhenTheDatabaseReturns) {
  PoolOptions o = Quiet();
  o.min_idle = 0;
  db_.Down();
  auto pool = Make(o);
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures >= 1; }));
  db_.Up();
  // No maintenance cycle is due: the caller's own connect succeeds.
  Lease a = MustAcquire(*pool);
  EXPECT_TRUE(a);
  EXPECT_TRUE(pool->reachable());
  EXPECT_THAT(reachability(), ElementsAre(true));
}

// The reachability callback runs without the pool's lock (the server's
// one takes the health service's lock and calls gRPC), so it may call back
// into the pool. Under the lock this test would deadlock.
TEST_F(PoolTest, ReachabilityIsToldWithoutThePoolsLockHeld) {
  PoolOptions o = Quiet();
  o.min_idle = 0;
  db_.Down();
  std::atomic<Pool*> self{nullptr};
  std::mutex mu;
  std::vector<bool> told;
  std::vector<int> open_when_told;
  auto pool = std::make_unique<Pool>(
      o, db_.factory(), [this] { return clock_.Now(); },
      [&](bool reachable) {
        Pool* p = self.load();
        const int open = p != nullptr ? p->Stats().open : -1;
        std::lock_guard<std::mutex> lock(mu);
        told.push_back(reachable);
        open_when_told.push_back(open);
      });
  self = pool.get();
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connect_failures >= 1; }));
  db_.Up();
  Lease a = MustAcquire(*pool);  // the caller's connect tells "reachable"
  // Told before Acquire returned, and reachable() agrees only once told.
  EXPECT_TRUE(pool->reachable());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(told, ElementsAre(true));
  EXPECT_THAT(open_when_told, ElementsAre(1));
}

// A database that stops answering (hung, SIGSTOPped) keeps its idle
// connections looking alive: only the probe's round trip, bounded by
// probe_timeout, tells. Here the probe's own database stops answering.
TEST_F(PoolTest, AProbeWithoutAnswerMakesThePoolUnreachableAndHandOutNothing) {
  PoolOptions o = Quiet();
  o.min_idle = 2;
  o.maintenance_interval = absl::Milliseconds(5);
  o.probe_timeout = absl::Milliseconds(250);
  o.acquire_timeout = absl::Milliseconds(200);
  FakeDatabase probe_db;
  auto pool = std::make_unique<Pool>(
      o, db_.factory(), [this] { return clock_.Now(); },
      [this](bool reachable) {
        std::lock_guard<std::mutex> lock(events_mu_);
        reachability_.push_back(reachable);
      },
      probe_db.factory());
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  ASSERT_TRUE(Eventually([&] { return pool->reachable() && probe_db.calls() >= 1; }));
  EXPECT_THAT(probe_db.timeouts(), ::testing::Each(o.probe_timeout));
  const int connects = db_.calls();

  probe_db.conn(1)->ping_ok = false;  // the probe's ping gets no answer
  probe_db.Down();                    // nor does a new probe connection
  ASSERT_TRUE(Eventually([&] { return !pool->reachable(); }));
  const absl::Time start = absl::Now();
  absl::StatusOr<Lease> refused = pool->Acquire(absl::InfiniteFuture());
  const absl::Duration waited = absl::Now() - start;
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("no answer to a probe within"));
  EXPECT_GE(waited, o.acquire_timeout);  // it waited for the database to answer, no longer
  EXPECT_LT(waited, o.acquire_timeout + absl::Seconds(5));
  // The idle connections stayed idle (for when it answers again), and no
  // connect was tried.
  EXPECT_EQ(db_.calls(), connects);
  EXPECT_EQ(pool->Stats().idle, 2);

  probe_db.Up();  // it answers again
  ASSERT_TRUE(Eventually([&] { return pool->reachable(); }));
  Lease again = MustAcquire(*pool);
  EXPECT_TRUE(again);
  EXPECT_THAT(reachability(), ElementsAre(true, false, true));
}

// -------------------------------------------------------- stats, close

TEST_F(PoolTest, StatsAddUp) {
  PoolOptions o = Quiet();
  o.min_idle = 2;
  o.max_size = 6;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 2));
  std::vector<Lease> leases;
  for (int i = 0; i < 3; ++i) leases.push_back(MustAcquire(*pool));
  ASSERT_TRUE(Eventually([&] { return pool->Stats().connecting == 0; }));
  PoolStats s = pool->Stats();
  EXPECT_EQ(s.in_use, 3);
  EXPECT_EQ(s.open, s.idle + s.in_use + s.connecting);
  EXPECT_EQ(s.open, db_.live());
  leases.clear();
  // The returns may wake the maintenance thread to top up min_idle.
  ASSERT_TRUE(Eventually([&] {
    const PoolStats q = pool->Stats();
    return q.connecting == 0 && q.in_use == 0 && q.open == q.idle && q.open == db_.live();
  }));
  EXPECT_EQ(pool->Stats().connects, db_.calls());
}

TEST_F(PoolTest, CloseClosesIdleConnectionsAndRefusesAcquires) {
  PoolOptions o = Quiet();
  o.min_idle = 3;
  auto pool = Make(o);
  ASSERT_TRUE(AwaitIdle(*pool, 3));
  Lease held = MustAcquire(*pool);
  std::shared_ptr<ConnState> held_state = db_.conn(held->id());
  pool->Close();
  EXPECT_EQ(db_.live(), 1);
  const absl::StatusOr<Lease> after = pool->Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(after.status().message()), HasSubstr("closed"));
  held.Return();
  EXPECT_TRUE(held_state->closed);
  EXPECT_EQ(pool->Stats().open, 0);
  EXPECT_EQ(db_.live(), 0);
  pool->Close();  // idempotent
}

TEST_F(PoolTest, CloseDuringAConnectLeavesNothingOpen) {
  PoolOptions o = Quiet();
  o.max_size = 1;
  o.maintenance_interval = absl::Seconds(5);
  db_.HoldConnects();
  auto pool = Make(o);
  // The maintenance thread's warm-up connect is in flight.
  EXPECT_TRUE(Eventually([&] { return db_.AtGate() == 1; }));
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    pool->Close();
    closed = true;
  });
  EXPECT_TRUE(Eventually([&] {
    const absl::StatusOr<Lease> lease = pool->Acquire(absl::Now());
    return !lease.ok() && absl::StrContains(lease.status().message(), "closed");
  }));
  const absl::Time released = absl::Now();
  db_.ReleaseConnects();
  EXPECT_TRUE(Eventually([&] { return closed.load(); }));
  const absl::Duration close_took = absl::Now() - released;
  closer.join();
  // Close waits for the connect to finish, and no longer.
  EXPECT_LT(close_took, absl::Seconds(2)) << "Close() waited out the maintenance interval";
  EXPECT_EQ(pool->Stats().open, 0);
  EXPECT_EQ(db_.live(), 0) << "a connection opened during Close() stays open";
}

// ---------------------------------------------------------- concurrency

// 32 threads lease and return connections in a loop, while every fifth
// connect fails and returned connections are at random dirty, broken, dead
// or impossible to clean.
class PoolChurnTest : public PoolTest {
 protected:
  static constexpr int kThreads = 32;
  static constexpr int kCycles = 200;
  static constexpr int kMaxSize = 8;

  // Runs the churn; returns the most leases held at once.
  int Churn(Pool& pool) {
    std::atomic<int> leased{0};
    std::atomic<int> max_leased{0};
    std::atomic<int> served{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(t);
        std::uniform_int_distribution<int> percent(0, 99);
        for (int n = 0; n < kCycles; ++n) {
          absl::StatusOr<Lease> lease = pool.Acquire(absl::Now() + absl::Seconds(20));
          if (!lease.ok()) {
            ADD_FAILURE() << lease.status();
            continue;
          }
          RaiseMax(max_leased, ++leased);
          ++served;
          ConnState& st = (*lease)->state();
          EXPECT_FALSE(st.closed);
          EXPECT_FALSE(st.in_transaction) << "handed out dirty";
          EXPECT_FALSE(st.session_changed) << "handed out dirty";
          const int p = percent(rng);
          if (p < 5) {
            st.broken = true;
          } else if (p < 10) {
            st.idle_alive = false;
          } else if (p < 30) {
            st.in_transaction = true;
          } else if (p < 40) {
            st.session_changed = true;
          }
          if (percent(rng) < 5) st.cleanup_fails = true;
          if (percent(rng) < 50) std::this_thread::yield();
          --leased;
          lease->Return();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(served, kThreads * kCycles);
    return max_leased;
  }

  std::unique_ptr<Pool> MakeChurnPool() {
    PoolOptions o = Quiet();
    o.min_idle = 2;
    o.max_size = kMaxSize;
    o.maintenance_interval = absl::Milliseconds(2);
    o.backoff.initial = absl::Microseconds(200);
    o.backoff.max = absl::Milliseconds(2);
    db_.FailEvery(5);
    return Make(o);
  }
};

TEST_F(PoolChurnTest, NoConnectionLeaksAndNoLeaseBeyondMaxSize) {
  auto pool = MakeChurnPool();
  EXPECT_LE(Churn(*pool), kMaxSize);
  ASSERT_TRUE(Eventually([&] {
    const PoolStats s = pool->Stats();
    return s.connecting == 0 && s.in_use == 0 && s.open == s.idle && s.open == db_.live();
  }));
  const PoolStats s = pool->Stats();
  EXPECT_EQ(s.waiters, 0);
  EXPECT_LE(s.open, kMaxSize);
  EXPECT_GT(s.connect_failures, 0);
  EXPECT_GT(s.discarded, 0);
  pool.reset();
  EXPECT_EQ(db_.live(), 0);
}

TEST_F(PoolChurnTest, NeverMoreThanMaxSizeConnectionsAtTheDatabase) {
  auto pool = MakeChurnPool();
  Churn(*pool);
  EXPECT_LE(db_.max_live(), kMaxSize);
}

}  // namespace
}  // namespace txgate::pool

// --------------------------------------------- following a target (primary)

namespace txgate::pool {
namespace {

TEST_F(PoolTest, ATargetChangeRetiresEveryConnectionOpenedBeforeIt) {
  auto pool = std::make_unique<Pool>(
      Quiet(), db_.factory(), [this] { return clock_.Now(); }, nullptr, nullptr,
      Target{[] { return true; }, [](absl::Time) { return absl::OkStatus(); }, [](absl::Time) {}});
  ASSERT_TRUE(AwaitIdle(*pool, 1));
  Lease leased = MustAcquire(*pool);
  Lease other = MustAcquire(*pool);
  other.Return();  // idle, opened to the old target
  ASSERT_EQ(pool->Stats().idle, 1);

  pool->TargetChanged();
  EXPECT_EQ(pool->Stats().retired, 1);  // the idle one, at once
  leased.Return();                      // leased before the change: closed, not kept
  EXPECT_EQ(pool->Stats().retired, 2);
  ASSERT_TRUE(AwaitIdle(*pool, 1));  // a fresh one, to the new target
  const PoolStats s = pool->Stats();
  EXPECT_EQ(s.open, 1);
  EXPECT_EQ(s.connects, 3);
  EXPECT_EQ(s.discarded, 0);  // retired, not found broken
  EXPECT_EQ(db_.live(), 1);
}

TEST_F(PoolTest, AcquireWaitsForATargetAndAnswersItsBuffersStatus) {
  std::atomic<bool> known{false};
  std::atomic<int> awaited{0};
  auto pool = std::make_unique<Pool>(
      Quiet(), db_.factory(), [this] { return clock_.Now(); }, nullptr, nullptr,
      Target{[&known] { return known.load(); },
             [&](absl::Time) {
               ++awaited;
               return known ? absl::OkStatus() : absl::UnavailableError("no primary");
             },
             [](absl::Time) {}});
  absl::StatusOr<Lease> refused = pool->Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "no primary");
  EXPECT_EQ(awaited.load(), 1);
  known = true;
  Lease lease = MustAcquire(*pool);
  EXPECT_TRUE(static_cast<bool>(lease));
  EXPECT_TRUE(pool->follows_target());
}

}  // namespace
}  // namespace txgate::pool
