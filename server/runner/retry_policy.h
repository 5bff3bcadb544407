// RetryPolicy: txgate's retry rules (README, "Retries and errors") as one
// pure function from what failed to what to do next.
//
// The transaction runner describes each failed attempt of some work — the
// class of the error, how far the work had gone, whether it may have
// written, whether it carries an idempotency key, how many attempts and
// conflict re-runs it has had and how much time is left — and executes the
// Decision in its one heal loop. Nothing here touches a connection, a clock
// or a counter, so every rule is one row of a table test
// (tests/unit/retry_policy_test.cc).
#ifndef TXGATE_SERVER_RUNNER_RETRY_POLICY_H_
#define TXGATE_SERVER_RUNNER_RETRY_POLICY_H_

#include "absl/time/time.h"

namespace txgate::runner {

// What the failed work is; it decides what a re-run means.
enum class Work {
  kStatement,    // one autocommit statement (Execute, StreamQuery's start)
  kTransaction,  // a RunTransaction: re-runnable whole from its request
  kInteractive,  // a Transaction stream: re-runnable by replaying its log
  kInternal,     // txgate's own reads: opening a transaction, a key look-up
};

// The class of the error (design, "Retry semantics").
enum class FailureClass {
  kConnectionLost,     // class 1: the connection is gone
  kTransientConflict,  // class 2: deadlock 1213, lock wait timeout 1205
  kRequest,            // class 3: the request's own fault, or final as it is
  kKeyTaken,           // another execution holds or wrote this idempotency key
  kNotPrimary,         // the server refused a write as read-only, while txgate
                       // follows a primary (--mysql_hosts): it was demoted
                       // under the connection; nothing of the refused
                       // statement (a COMMIT included) was applied
};

// How far the work had gone when the attempt failed.
enum class Phase {
  kBeforeSend,         // the failing command never reached the server
  kStatementInFlight,  // a statement or txgate's own command inside an open
                       // transaction: nothing of the work can have committed
  kCommitInFlight,     // a COMMIT, or an autocommit statement, may have been
                       // applied
  kAfterCommit,        // the COMMIT was acknowledged; only answering was left
};

// One failed attempt, as the policy sees it.
struct Failure {
  Work work = Work::kStatement;
  FailureClass error = FailureClass::kRequest;
  Phase phase = Phase::kBeforeSend;
  // Class 4: the call was cancelled or its deadline passed (the killer may
  // have cut the connection: `error` then says kConnectionLost).
  bool interrupted = false;
  bool may_have_written = false;  // the work may change data (not all reads)
  bool keyed = false;             // it carries an idempotency key
  int attempts = 1;               // attempts so far, the failed one included
  int conflicts = 0;              // re-runs after a conflict so far
  int heals = 0;                  // re-runs after a connection loss so far, in
                                  // the whole call
  // Where in [1/2, 1] of its backoff step a heal's pause falls (the
  // caller draws it at random, so that the policy stays a pure function).
  double jitter = 1.0;
  absl::Duration time_left;  // until the call's deadline
};

enum class Action {
  kAnswer,                    // answer the error as it is (or CANCELLED /
                              // DEADLINE_EXCEEDED when interrupted)
  kAnswerOutcomeUnknown,      // UNKNOWN, reason COMMIT_OUTCOME_UNKNOWN
  kAnswerConflictsExhausted,  // ABORTED, reason CONFLICT_RETRIES_EXHAUSTED
  kAnswerHealsExhausted,      // the loss, past the heal budget: UNAVAILABLE,
                              // DATABASE_UNAVAILABLE (an interactive
                              // transaction: ABORTED, TRANSACTION_LOST)
  kHealAndRerun,              // discard the connection; wait `pause`, re-run
                              // on a fresh one (after kNotPrimary: once the
                              // topology was checked again, on the primary)
  kResolveOutcome,            // look the key up on a fresh connection:
                              // committed → its stored answer, else re-run
  kBackoffAndRerun,           // roll back, wait `pause`, re-run whole
};

struct Decision {
  Decision(Action a, absl::Duration p = absl::ZeroDuration()) : action(a), pause(p) {}  // NOLINT
  Action action;
  absl::Duration pause;  // kBackoffAndRerun and kHealAndRerun only

  friend bool operator==(const Decision& a, const Decision& b) {
    return a.action == b.action && a.pause == b.pause;
  }
};

struct RetryOptions {
  // Re-runs of a RunTransaction after a deadlock or lock wait timeout.
  int max_conflict_retries = 3;
  // The pause before the n-th conflict re-run is n times this.
  absl::Duration conflict_backoff = absl::Milliseconds(20);
  // Re-runs of one call's work after connection losses (heals). A loss the
  // request itself causes again and again (a statement that crashes its
  // session, an admin who kills it every time) is answered after these,
  // not healed until the deadline.
  int max_heal_retries = 3;
  // The first heal re-runs at once (a single loss is the common case: a
  // stale connection, a restarted server, and the pool's reconnects back
  // off anyway). The n-th after it waits a random delay in [d/2, d],
  // d = min(heal_backoff * 2^(n-1), heal_backoff_max).
  absl::Duration heal_backoff = absl::Milliseconds(50);
  absl::Duration heal_backoff_max = absl::Seconds(1);
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options) : options_(options) {}

  const RetryOptions& options() const { return options_; }

  // What to do after `failure`. Never re-runs work whose write may have
  // been applied, unless its key says it was not; never heals more than
  // max_heal_retries times.
  Decision Decide(const Failure& failure) const;

  // The pause before heal number `heals + 1` of a call, at `jitter` in
  // [1/2, 1] of its step (zero for the first).
  absl::Duration HealPause(int heals, double jitter) const;

 private:
  RetryOptions options_;
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_RETRY_POLICY_H_
