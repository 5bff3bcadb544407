// ConnectionPool: a bounded pool of database connections that heals itself.
//
// Invariants (all under mu_):
//   open_ = idle_.size() + leased + connecting + checking + closing, and
//   open_ <= max_size: a connection counts until it is closed.
//   A connection in idle_ had no open transaction and no changed session
//   state when it was returned.
// Acquire() hands out the most recently used idle connection after a cheap
// liveness check (and a ping when it sat idle longer than the validation
// interval), or opens a new one, or waits; it never waits past the caller's
// deadline nor the acquire timeout, and answers UNAVAILABLE when it gives up.
// After a failed connect, new connects wait out an exponential backoff with
// jitter and only one runs at a time, so a recovering database sees no
// stampede. A maintenance thread closes connections idle or alive too long,
// keeps min_idle warm, and probes the database so reachable() stays true only
// while it is reachable. The probe (when a probe factory is given) pings on a
// connection of its own whose every round trip is bounded by probe_timeout:
// a database that stops answering (hung, SIGSTOPped, a black-holed network)
// looks alive to every idle connection, so only a round trip with a short
// timeout tells. While the last probe failed, Acquire() neither hands out
// an idle connection nor connects: it waits for a probe (or the maintenance
// thread's connect) to succeed until its limit (the acquire timeout at
// most), then answers UNAVAILABLE. A statement already running when the
// database stalls is bounded by its call's deadline (the statement killer)
// or else by its connection's read timeout.
// Changes of reachability are told to on_reachable in order and without the
// pool's lock held (it may lock and call anything but Close()); reachable()
// reports a change once it has been told.
//
// With a Target (--mysql_hosts), the pool follows a server that may change
// (the writable primary): Acquire() first waits, in the target's buffer,
// while none is known; TargetChanged() (the topology monitor calls it)
// discards every idle connection, lets each leased one close when it comes
// back instead of returning to idle, and lifts the backoff, so no caller is
// ever handed a connection opened to an earlier target.
//
// The pool holds db::Connection (the seam every driver implements); its
// tests drive the bookkeeping with fakes of it. It is a template only so
// that a test may use a fake that implements just what the pool calls:
// broken(), pending_result(), IdleAlive(), Ping(), HasOpenTransaction(),
// RollbackTransaction(), session_changed(), ResetSession().
#ifndef TXGATE_SERVER_POOL_CONNECTION_POOL_H_
#define TXGATE_SERVER_POOL_CONNECTION_POOL_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"
#include "server/common/periodic_worker.h"
#include "server/pool/backoff.h"
#include "server/sql/error.h"

namespace txgate::pool {

// Pool settings; the defaults suit a small service.
struct PoolOptions {
  int min_idle = 2;   // connections kept open and idle, ready for use
  int max_size = 16;  // connections open at most (idle + leased + connecting)
  // Longest wait for a connection when the RPC has no sooner deadline.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Longest time one connect attempt may take.
  absl::Duration connect_timeout = absl::Seconds(5);
  // An idle connection unused for longer is pinged before it is handed out.
  absl::Duration validation_interval = absl::Seconds(30);
  // Idle connections beyond min_idle are closed after this long unused.
  absl::Duration idle_timeout = absl::Minutes(10);
  // Connections are closed (when idle) after this long open.
  absl::Duration max_lifetime = absl::Minutes(30);
  // How often the maintenance thread runs (and probes the database).
  absl::Duration maintenance_interval = absl::Seconds(1);
  // Longest wait for the probe's connect and ping; the database counts as
  // unreachable when it does not answer within it. The probe factory
  // should give its connections read/write timeouts this short.
  absl::Duration probe_timeout = absl::Seconds(2);
  BackoffOptions backoff;
};

// `options` with bad values corrected: max_size at least 1, min_idle
// within [0, max_size].
inline PoolOptions Sanitize(PoolOptions options) {
  options.max_size = std::max(1, options.max_size);
  options.min_idle = std::clamp(options.min_idle, 0, options.max_size);
  return options;
}

// A server the pool follows that may change (the writable primary of a
// replicated cluster); every member may be empty (then: one fixed server).
struct Target {
  // True while a target is known (the factory connects to it).
  std::function<bool()> known;
  // Waits until a target is known, at most until the deadline given and
  // its own bounds; OK, or the status to answer (e.g. UNAVAILABLE,
  // FAILOVER_IN_PROGRESS). Called without the pool's lock.
  std::function<absl::Status(absl::Time)> await;
  // Asks for the target to be checked again now and waits (until the
  // deadline given at most) for the answer: after the server refused a
  // write as read-only. Called without the pool's lock.
  std::function<void(absl::Time)> recheck;
};

// A snapshot of the pool's counters.
struct PoolStats {
  int open = 0;
  int idle = 0;
  int in_use = 0;
  int connecting = 0;
  int waiters = 0;
  int64_t connects = 0;          // successful connects, ever
  int64_t connect_failures = 0;  // failed connects, ever
  int64_t discarded = 0;         // connections closed because found broken
  int64_t retired = 0;           // connections closed because the target changed
  bool reachable = false;
};

template <typename Conn>
class BasicPool {
 public:
  // Opens a connection within a timeout. Called without the pool's lock.
  using Factory = std::function<absl::StatusOr<std::unique_ptr<Conn>>(absl::Duration)>;
  using Clock = std::function<absl::Time()>;

  // A leased connection; returns to the pool, cleaned, when destroyed.
  // Destroy it on a thread that may block (never a gRPC callback thread).
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept {
      Return();
      pool_ = std::exchange(other.pool_, nullptr);
      conn_ = std::move(other.conn_);
      opened_ = other.opened_;
      epoch_ = other.epoch_;
      return *this;
    }
    ~Lease() { Return(); }

    Conn* operator->() const { return conn_.get(); }
    Conn& operator*() const { return *conn_; }
    Conn* get() const { return conn_.get(); }
    explicit operator bool() const { return conn_ != nullptr; }

    // Returns the connection now (same as destroying the lease).
    void Return() {
      if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_), opened_, epoch_);
      pool_ = nullptr;
    }

   private:
    friend class BasicPool;
    Lease(BasicPool* pool, std::unique_ptr<Conn> conn, absl::Time opened, uint64_t epoch)
        : pool_(pool), conn_(std::move(conn)), opened_(opened), epoch_(epoch) {}
    BasicPool* pool_ = nullptr;
    std::unique_ptr<Conn> conn_;
    absl::Time opened_;
    uint64_t epoch_ = 0;  // the target's epoch it was opened in
  };

  // Starts the maintenance thread. `on_reachable` is told each change of
  // the database's reachability (from the maintenance thread or a caller).
  // `probe_factory` opens the probe's connection (one more than max_size);
  // without it nothing is probed. `target`: see Target (default: a fixed
  // server).
  BasicPool(PoolOptions options, Factory factory, Clock clock = &absl::Now,
            std::function<void(bool)> on_reachable = nullptr, Factory probe_factory = nullptr,
            Target target = {})
      : options_(options),
        factory_(std::move(factory)),
        probe_factory_(std::move(probe_factory)),
        target_(std::move(target)),
        clock_(std::move(clock)),
        on_reachable_(std::move(on_reachable)),
        backoff_(options.backoff, random_) {
    options_ = Sanitize(options_);
    maintenance_.emplace("txgate-pool", options_.maintenance_interval, [this] { Maintain(); });
    maintenance_->Wake();  // warm up now
  }

  // Stops maintenance and closes idle connections. Every Lease must have
  // been returned.
  ~BasicPool() { Close(); }

  BasicPool(const BasicPool&) = delete;
  BasicPool& operator=(const BasicPool&) = delete;

  // Leases a connection, waiting until `deadline` at most (and never longer
  // than the acquire timeout). UNAVAILABLE when none could be had.
  // With a Target, it first waits for one to be known (the failover
  // buffer), and again whenever none is known any more: until
  // `buffer_deadline` (default: `deadline`) at most, which may be later
  // than `deadline` (a call's deadline, where `deadline` is its bound on
  // waiting for a connection); after such a wait, the acquire timeout
  // counts from then, and `buffer_deadline` bounds it too.
  absl::StatusOr<Lease> Acquire(absl::Time deadline,
                                absl::Time buffer_deadline = absl::InfinitePast())
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (buffer_deadline == absl::InfinitePast()) buffer_deadline = deadline;
    if (target_.await && !target_.known()) {
      if (absl::Status s = target_.await(buffer_deadline); !s.ok()) return s;
      deadline = buffer_deadline;
    }
    absl::Time limit = std::min(deadline, clock_() + options_.acquire_timeout);
    DeliverOnExit deliver(this);  // after the lock below is released
    MutexLock lock(&mu_);
    for (;;) {
      if (closed_) return Unavailable("the pool is closed");
      if (target_.known && !target_.known()) {
        mu_.Unlock();
        absl::Status s = target_.await(buffer_deadline);
        mu_.Lock();
        if (!s.ok()) return s;
        deadline = buffer_deadline;
        limit = std::min(deadline, clock_() + options_.acquire_timeout);
        continue;
      }
      // While the database does not answer a probe, its idle connections
      // would hang too, and so would a connect (whose timeout the driver
      // rounds up to whole seconds, past the limit): the call waits for a
      // probe or the maintenance thread's connect to succeed.
      while (!probe_failed_ && !idle_.empty()) {
        Idle entry = std::move(idle_.back());
        idle_.pop_back();
        ++checking_;
        mu_.Unlock();
        const bool alive = Check(entry);
        mu_.Lock();
        --checking_;
        if (alive && entry.epoch == epoch_) {
          return Lease(this, std::move(entry.conn), entry.opened, entry.epoch);
        }
        if (alive) {
          CloseOne(std::move(entry.conn), /*broken=*/false);
          continue;
        }
        Discard(std::move(entry.conn));
      }
      const absl::Time now = clock_();
      if (!probe_failed_ && CanConnect(now)) {
        absl::StatusOr<Lease> lease = Connect(limit - now);
        if (lease.ok()) return lease;
        continue;  // the backoff now decides when to try again
      }
      const int leased =
          open_ - static_cast<int>(idle_.size()) - connecting_ - checking_ - closing_;
      // Nothing can free up or open before the deadline: fail now.
      const bool hopeless =
          !reachable_ && connecting_ == 0 && leased == 0 && next_connect_ >= limit;
      if (now >= limit || hopeless) {
        if (reachable_) {
          return Unavailable(absl::StrCat("no connection free within the deadline (", open_,
                                          " open, all in use)"));
        }
        return UnavailableBecause(absl::StrCat("database unreachable: ", last_error_.message()),
                                  last_error_);
      }
      absl::Time wake = limit;
      // A connect in flight signals when it ends; otherwise wake for the
      // next allowed connect.
      if (!probe_failed_ && open_ < options_.max_size && connecting_ == 0)
        wake = std::min(wake, next_connect_);
      ++waiters_;
      cv_.WaitWithDeadline(&mu_, std::max(wake, now + absl::Microseconds(100)));
      --waiters_;
    }
  }

  // Counters for metrics and tests.
  PoolStats Stats() const {
    MutexLock lock(&mu_);
    PoolStats s;
    s.open = open_;
    s.idle = static_cast<int>(idle_.size());
    s.connecting = connecting_;
    s.in_use = open_ - s.idle - connecting_ - checking_ - closing_;
    s.waiters = waiters_;
    s.connects = connects_;
    s.connect_failures = connect_failures_;
    s.discarded = discarded_;
    s.retired = retired_;
    s.reachable = told_reachable_;
    return s;
  }

  // True while the database answered the last connect or probe (once
  // on_reachable has been told so).
  bool reachable() const {
    MutexLock lock(&mu_);
    return told_reachable_;
  }

  // The target changed (or is gone): idle connections are closed, leased
  // ones close when they come back, the backoff and a failed probe are
  // forgotten (they were about the old target), and maintenance runs now.
  void TargetChanged() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      ++epoch_;
      std::vector<std::unique_ptr<Conn>> old;
      for (Idle& entry : idle_) old.push_back(std::move(entry.conn));
      idle_.clear();
      retired_ += static_cast<int64_t>(old.size());
      backoff_.Reset();
      next_connect_ = absl::InfinitePast();
      probe_failed_ = false;
      retarget_probe_ = true;
      CloseAll(std::move(old), 0);
      cv_.SignalAll();
    }
    maintenance_->Wake();
  }

  // Asks the Target to be checked again and waits for the answer (until
  // `deadline` at most); nothing without one. After a read-only refusal.
  void RecheckTarget(absl::Time deadline) {
    if (target_.recheck) target_.recheck(deadline);
  }

  // True if the pool follows a Target (a read-only refusal then means the
  // primary moved, not a request's fault).
  bool follows_target() const { return static_cast<bool>(target_.known); }

  // Closes idle connections and stops maintenance; later Acquires fail.
  void Close() {
    std::vector<Idle> idle;
    {
      MutexLock lock(&mu_);
      if (closed_) return;
      closed_ = true;
      idle.swap(idle_);
      open_ -= static_cast<int>(idle.size());
      cv_.SignalAll();
    }
    maintenance_->Stop();
  }

 private:
  struct Idle {
    std::unique_ptr<Conn> conn;
    absl::Time opened;
    absl::Time since;
    uint64_t epoch = 0;
  };

  static absl::Status Unavailable(absl::string_view message) {
    return sql::MakeStatus(absl::StatusCode::kUnavailable, txgate::v1::DATABASE_UNAVAILABLE,
                           message);
  }

  // UNAVAILABLE (DATABASE_UNAVAILABLE) saying `message`, with the MySQL
  // error of `cause` attached when it has one (e.g. 1045 for a rotated
  // password), so the caller, the log line and the errno metric see it.
  static absl::Status UnavailableBecause(absl::string_view message, const absl::Status& cause) {
    if (!sql::GetMysqlError(cause).has_value()) return Unavailable(message);
    return sql::WithReason(
        sql::WithDetailOf(absl::Status(absl::StatusCode::kUnavailable, message), cause),
        txgate::v1::DATABASE_UNAVAILABLE);
  }

  bool CanConnect(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (open_ >= options_.max_size || now < next_connect_) return false;
    // While the database is failing, probe with one connect at a time.
    return backoff_.failures() == 0 || connecting_ == 0;
  }

  // Opens one connection with the lock released. On failure, records the
  // error and schedules the next attempt.
  absl::StatusOr<Lease> Connect(absl::Duration budget) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++open_;
    ++connecting_;
    const uint64_t epoch = epoch_;  // read before the factory picks the target
    const absl::Duration timeout =
        std::max(absl::Milliseconds(1), std::min(budget, options_.connect_timeout));
    mu_.Unlock();
    absl::StatusOr<std::unique_ptr<Conn>> conn = factory_(timeout);
    mu_.Lock();
    --connecting_;
    if (conn.ok() && epoch != epoch_) {
      // The target changed while connecting: this may be the old one.
      ++retired_;
      CloseOne(std::move(*conn), /*broken=*/false);
      return Unavailable("the primary changed while connecting");
    }
    if (conn.ok()) {
      ++connects_;
      probe_failed_ = false;  // it answered
      backoff_.Reset();
      next_connect_ = absl::InfinitePast();
      SetReachable(true);
      cv_.SignalAll();  // waiters held back by the backoff may connect now
      return Lease(this, std::move(*conn), clock_(), epoch);
    }
    --open_;
    ++connect_failures_;
    last_error_ = conn.status();
    next_connect_ = clock_() + backoff_.Next();
    SetReachable(false);
    cv_.SignalAll();
    return conn.status();
  }

  // Records a change of reachability; Deliver() tells it once the lock is
  // released.
  void SetReachable(bool reachable) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reachable_ == reachable) return;
    reachable_ = reachable;
    if (on_reachable_) {
      untold_.push_back(reachable);
    } else {
      told_reachable_ = reachable;
    }
  }

  // Tells on_reachable_ the recorded changes, in order, without the lock:
  // foreign code (health, gRPC) never runs under the pool's lock. One
  // thread tells at a time; a caller that finds another one telling leaves
  // its changes to it.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (telling_) return;
    telling_ = true;
    while (!untold_.empty()) {
      const bool reachable = untold_.front();
      untold_.pop_front();
      mu_.Unlock();
      on_reachable_(reachable);
      mu_.Lock();
      told_reachable_ = reachable;
    }
    telling_ = false;
  }

  // Calls Deliver() when it goes out of scope; declared before a MutexLock,
  // that is after the lock is released.
  class DeliverOnExit {
   public:
    explicit DeliverOnExit(BasicPool* pool) : pool_(pool) {}
    ~DeliverOnExit() { pool_->Deliver(); }
    DeliverOnExit(const DeliverOnExit&) = delete;
    DeliverOnExit& operator=(const DeliverOnExit&) = delete;

   private:
    BasicPool* pool_;
  };

  // True if an idle connection may be handed out. Runs without the lock.
  bool Check(Idle& entry) {
    const absl::Time now = clock_();
    if (entry.conn->broken() || !entry.conn->IdleAlive()) return false;
    if (now - entry.opened > options_.max_lifetime) return false;
    if (now - entry.since > options_.validation_interval) return entry.conn->Ping().ok();
    return true;
  }

  // Closes connections with the lock released (mysql_close may touch the
  // network). They count as open until closed, so the database never sees
  // more than max_size connections; `broken` of them count as discarded.
  void CloseAll(std::vector<std::unique_ptr<Conn>> conns, int broken)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (conns.empty()) return;
    const int n = static_cast<int>(conns.size());
    closing_ += n;
    mu_.Unlock();
    conns.clear();
    mu_.Lock();
    closing_ -= n;
    open_ -= n;
    discarded_ += broken;
    cv_.SignalAll();
  }

  void CloseOne(std::unique_ptr<Conn> conn, bool broken) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::unique_ptr<Conn>> one;
    one.push_back(std::move(conn));
    CloseAll(std::move(one), broken ? 1 : 0);
  }

  void Discard(std::unique_ptr<Conn> conn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CloseOne(std::move(conn), /*broken=*/true);
  }

  // Takes a connection back: rolls back an open transaction and resets a
  // changed session; a connection that cannot be cleaned is closed. So is
  // one given back in the middle of a result (a stream cancelled or ended
  // early): reading the rest could take as long as the result is large or
  // the server is slow, and closing does not read.
  void Release(std::unique_ptr<Conn> conn, absl::Time opened, uint64_t epoch) {
    bool keep = !conn->broken() && !conn->pending_result();
    if (keep && conn->HasOpenTransaction()) keep = conn->RollbackTransaction().ok();
    if (keep && conn->session_changed()) keep = conn->ResetSession().ok();
    MutexLock lock(&mu_);
    if (keep && epoch != epoch_) {
      ++retired_;  // opened to an earlier target
      CloseOne(std::move(conn), /*broken=*/false);
      return;
    }
    if (keep && !closed_) {
      idle_.push_back(Idle{std::move(conn), opened, clock_(), epoch});
      cv_.Signal();
      return;
    }
    CloseOne(std::move(conn), /*broken=*/!keep);
  }

  // One maintenance cycle, on the maintenance thread.
  void Maintain() ABSL_LOCKS_EXCLUDED(mu_) {
    DeliverOnExit deliver(this);  // after the lock below is released
    Probe();
    MutexLock lock(&mu_);
    if (closed_) return;
    Sweep();
    Refill();
  }

  // Connects the probe's connection if needed and pings on it, both within
  // probe_timeout, and records whether the database answered. On the
  // maintenance thread, without the lock (it may wait probe_timeout).
  void Probe() ABSL_LOCKS_EXCLUDED(mu_) {
    if (!probe_factory_) return;
    absl::Status status;
    {
      MutexLock lock(&mu_);
      if (std::exchange(retarget_probe_, false)) probe_.reset();
    }
    if (probe_ == nullptr || probe_->broken()) {
      probe_.reset();
      absl::StatusOr<std::unique_ptr<Conn>> conn = probe_factory_(options_.probe_timeout);
      if (conn.ok()) {
        probe_ = std::move(*conn);
      } else {
        status = conn.status();
      }
    }
    if (probe_ != nullptr) status = probe_->Ping();
    if (!status.ok()) probe_.reset();
    MutexLock lock(&mu_);
    if (status.ok()) {
      if (probe_failed_) {
        probe_failed_ = false;
        cv_.SignalAll();  // waiters may take connections again
      }
      // The pool's own connects decide while they are failing.
      if (backoff_.failures() == 0) SetReachable(true);
      return;
    }
    probe_failed_ = true;
    // A server error (below 2000: the server answered, e.g. 1045 after a
    // password change) is a refusal; a client error (2000 and up) is no answer.
    const std::optional<sql::MysqlError> mysql = sql::GetMysqlError(status);
    last_error_ = UnavailableBecause(
        mysql.has_value() && mysql->errnum < 2000
            ? absl::StrCat("the database refused the probe's connection (", status.message(), ")")
            : absl::StrCat("no answer to a probe within ",
                           absl::FormatDuration(options_.probe_timeout), " (", status.message(),
                           ")"),
        status);
    SetReachable(false);
  }

  // Closes idle connections that died, expired or are surplus.
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = clock_();
    std::vector<std::unique_ptr<Conn>> doomed;
    int kept = 0;
    int dead = 0;
    // Oldest first: surplus connections are the least recently used ones.
    for (auto it = idle_.begin(); it != idle_.end();) {
      const int idle_count = static_cast<int>(idle_.size());
      const bool surplus =
          idle_count - kept > options_.min_idle && now - it->since > options_.idle_timeout;
      const bool broken = it->conn->broken() || !it->conn->IdleAlive();
      if (surplus || broken || now - it->opened > options_.max_lifetime) {
        dead += broken ? 1 : 0;
        doomed.push_back(std::move(it->conn));
        it = idle_.erase(it);
      } else {
        ++it;
        ++kept;
      }
    }
    CloseAll(std::move(doomed), dead);
  }

  // Opens connections until min_idle (at least one, so that reachability
  // is probed even when the pool is quiet) are idle.
  void Refill() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int target = std::max(1, options_.min_idle);
    while (!closed_ && static_cast<int>(idle_.size()) + connecting_ < target &&
           CanConnect(clock_())) {
      absl::StatusOr<Lease> lease = Connect(options_.connect_timeout);
      if (!lease.ok()) return;
      std::unique_ptr<Conn> conn = std::move(lease->conn_);
      const absl::Time opened = lease->opened_;
      const uint64_t epoch = lease->epoch_;
      lease->pool_ = nullptr;
      if (closed_) {  // closed while connecting: this one must not stay open
        CloseOne(std::move(conn), /*broken=*/false);
        return;
      }
      idle_.push_back(Idle{std::move(conn), opened, clock_(), epoch});
      cv_.Signal();
    }
  }

  // Constant after construction.
  PoolOptions options_;
  const Factory factory_;
  const Factory probe_factory_;
  const Target target_;
  const Clock clock_;
  const std::function<void(bool)> on_reachable_;
  // Used only through backoff_, under mu_.
  absl::BitGen random_;

  mutable Mutex mu_;
  CondVar cv_;                                   // acquirers wait here
  std::vector<Idle> idle_ ABSL_GUARDED_BY(mu_);  // most recently returned last
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int connecting_ ABSL_GUARDED_BY(mu_) = 0;
  int checking_ ABSL_GUARDED_BY(mu_) = 0;
  int closing_ ABSL_GUARDED_BY(mu_) = 0;  // being closed, still counted in open_
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t connects_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t connect_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t discarded_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t retired_ ABSL_GUARDED_BY(mu_) = 0;
  // Counts TargetChanged(); a connection opened in an earlier epoch is
  // never handed out again.
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // TargetChanged() asks the maintenance thread to reopen the probe.
  bool retarget_probe_ ABSL_GUARDED_BY(mu_) = false;
  bool reachable_ ABSL_GUARDED_BY(mu_) = false;
  // Changes of reachable_ not yet told to on_reachable_, oldest first; the
  // last value told; whether a thread is telling now (see Deliver()).
  std::deque<bool> untold_ ABSL_GUARDED_BY(mu_);
  bool told_reachable_ ABSL_GUARDED_BY(mu_) = false;
  bool telling_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // The last probe got no answer: Acquire() hands out nothing.
  bool probe_failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  Backoff backoff_ ABSL_GUARDED_BY(mu_);
  // The probe's connection; only the maintenance thread touches it.
  std::unique_ptr<Conn> probe_;
  // Runs Maintain(); started last in the constructor, stopped by Close().
  std::optional<PeriodicWorker> maintenance_;
};

}  // namespace txgate::pool

namespace txgate::db {
class Connection;
}  // namespace txgate::db

namespace txgate::pool {
using ConnectionPool = BasicPool<db::Connection>;
extern template class BasicPool<db::Connection>;
}  // namespace txgate::pool

#endif  // TXGATE_SERVER_POOL_CONNECTION_POOL_H_
