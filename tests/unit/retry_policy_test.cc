// RetryPolicy: every rule of the README's "Retries and errors" table (and
// of its exactly-once section) is one row here, plus an exhaustive check
// of the promise behind them all: a write that may have been applied is
// never re-run without its key saying it was not.
#include "server/runner/retry_policy.h"

#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace txgate::runner {
namespace {

constexpr absl::Duration kPlenty = absl::Seconds(10);

struct Row {
  std::string rule;
  Failure failure;
  Decision expected;
};

Failure Make(Work work, FailureClass error, Phase phase, bool wrote, bool keyed,
             absl::Duration time_left = kPlenty, int conflicts = 0) {
  Failure f;
  f.interrupted = false;
  f.work = work;
  f.error = error;
  f.phase = phase;
  f.may_have_written = wrote;
  f.keyed = keyed;
  f.attempts = conflicts + 1;
  f.conflicts = conflicts;
  f.time_left = time_left;
  return f;
}

// The same failure after `heals` earlier re-runs of the call after losses,
// its pause at `jitter` of its backoff step.
Failure AfterHeals(Failure f, int heals, double jitter = 1.0) {
  f.heals = heals;
  f.attempts += heals;
  f.jitter = jitter;
  return f;
}

Failure Interrupted(Failure f) {
  f.interrupted = true;
  return f;
}

const char* Name(Action a) {
  switch (a) {
    case Action::kAnswer:
      return "Answer";
    case Action::kAnswerOutcomeUnknown:
      return "AnswerOutcomeUnknown";
    case Action::kAnswerConflictsExhausted:
      return "AnswerConflictsExhausted";
    case Action::kAnswerHealsExhausted:
      return "AnswerHealsExhausted";
    case Action::kHealAndRerun:
      return "HealAndRerun";
    case Action::kResolveOutcome:
      return "ResolveOutcome";
    case Action::kBackoffAndRerun:
      return "BackoffAndRerun";
  }
  return "?";
}

using W = Work;
using C = FailureClass;
using P = Phase;
constexpr bool kWrote = true, kRead = false, kKeyed = true, kNoKey = false;

std::vector<Row> Rules() {
  const absl::Duration ms = absl::Milliseconds(1);
  return {
      // Class 1: connection lost, nothing can have committed.
      {"a read lost in flight is re-run on a fresh connection",
       Make(W::kStatement, C::kConnectionLost, P::kCommitInFlight, kRead, kNoKey),
       {Action::kHealAndRerun}},
      {"a write that never reached the server is re-run",
       Make(W::kStatement, C::kConnectionLost, P::kBeforeSend, kWrote, kNoKey),
       {Action::kHealAndRerun}},
      {"a RunTransaction statement lost before COMMIT re-runs the transaction",
       Make(W::kTransaction, C::kConnectionLost, P::kStatementInFlight, kWrote, kNoKey),
       {Action::kHealAndRerun}},
      {"a COMMIT that never left re-runs the transaction",
       Make(W::kTransaction, C::kConnectionLost, P::kBeforeSend, kWrote, kNoKey),
       {Action::kHealAndRerun}},
      {"a read-only transaction is re-run whatever happened to its COMMIT",
       Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kRead, kNoKey),
       {Action::kHealAndRerun}},
      {"an interactive statement lost before COMMIT is healed by replay",
       Make(W::kInteractive, C::kConnectionLost, P::kStatementInFlight, kWrote, kNoKey),
       {Action::kHealAndRerun}},
      {"txgate's own look-up lost in flight is re-run",
       Make(W::kInternal, C::kConnectionLost, P::kStatementInFlight, kRead, kNoKey),
       {Action::kHealAndRerun}},
      {"the deadline stops healing",
       Make(W::kStatement, C::kConnectionLost, P::kStatementInFlight, kRead, kNoKey,
            absl::ZeroDuration()),
       {Action::kAnswer}},
      {"a passed deadline stops healing",
       Make(W::kTransaction, C::kConnectionLost, P::kStatementInFlight, kWrote, kNoKey, -ms),
       {Action::kAnswer}},
      {"the deadline stops healing txgate's own work too",
       Make(W::kInternal, C::kConnectionLost, P::kBeforeSend, kRead, kNoKey, -ms),
       {Action::kAnswer}},

      // A demoted primary refused it as read-only (--mysql_hosts): not
      // applied, not even a COMMIT, so re-run (on the primary) like a loss
      // before sending, within the heal budget.
      {"a COMMIT refused by a demoted primary re-runs the transaction",
       Make(W::kTransaction, C::kNotPrimary, P::kCommitInFlight, kWrote, kNoKey),
       {Action::kHealAndRerun}},
      {"an autocommit write refused as read-only is re-run, keyed or not",
       Make(W::kStatement, C::kNotPrimary, P::kCommitInFlight, kWrote, kNoKey),
       {Action::kHealAndRerun}},
      {"read-only refusals past the heal budget are answered",
       AfterHeals(Make(W::kTransaction, C::kNotPrimary, P::kCommitInFlight, kWrote, kKeyed), 3),
       {Action::kAnswerHealsExhausted}},
      {"the deadline stops re-runs after a read-only refusal",
       Make(W::kStatement, C::kNotPrimary, P::kCommitInFlight, kWrote, kNoKey, -ms),
       {Action::kAnswer}},

      // Class 1: the heal budget (--max_heal_retries, 3; backoff 50 ms doubling to 1 s).
      {"the first re-run after a loss is at once",
       AfterHeals(Make(W::kStatement, C::kConnectionLost, P::kBeforeSend, kWrote, kNoKey), 0),
       {Action::kHealAndRerun}},
      {"the second re-run waits heal_backoff",
       AfterHeals(Make(W::kStatement, C::kConnectionLost, P::kBeforeSend, kWrote, kNoKey), 1),
       {Action::kHealAndRerun, absl::Milliseconds(50)}},
      {"heal pauses double",
       AfterHeals(Make(W::kTransaction, C::kConnectionLost, P::kStatementInFlight, kWrote, kNoKey),
                  2),
       {Action::kHealAndRerun, absl::Milliseconds(100)}},
      {"a heal pause is jittered down to half its step",
       AfterHeals(Make(W::kInternal, C::kConnectionLost, P::kStatementInFlight, kRead, kNoKey), 2,
                  0.5),
       {Action::kHealAndRerun, absl::Milliseconds(50)}},
      {"a heal pause that would pass the deadline is not taken",
       AfterHeals(Make(W::kStatement, C::kConnectionLost, P::kCommitInFlight, kRead, kNoKey,
                       absl::Milliseconds(50)),
                  1),
       {Action::kAnswer}},
      {"a loss after max_heal_retries re-runs is answered, not healed",
       AfterHeals(Make(W::kStatement, C::kConnectionLost, P::kBeforeSend, kWrote, kNoKey), 3),
       {Action::kAnswerHealsExhausted}},
      {"a read lost again and again is answered after the budget",
       AfterHeals(Make(W::kStatement, C::kConnectionLost, P::kCommitInFlight, kRead, kNoKey), 3),
       {Action::kAnswerHealsExhausted}},
      {"an interactive transaction lost past the budget is answered (TRANSACTION_LOST)",
       AfterHeals(Make(W::kInteractive, C::kConnectionLost, P::kStatementInFlight, kWrote, kNoKey),
                  3),
       {Action::kAnswerHealsExhausted}},
      {"txgate's own look-ups share the call's budget",
       AfterHeals(Make(W::kInternal, C::kConnectionLost, P::kStatementInFlight, kRead, kNoKey), 3),
       {Action::kAnswerHealsExhausted}},
      {"past the budget a lost COMMIT is still UNKNOWN",
       AfterHeals(Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kWrote, kNoKey), 3),
       {Action::kAnswerOutcomeUnknown}},
      {"past the budget a lost keyed COMMIT is still resolved by its key",
       AfterHeals(Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kWrote, kKeyed), 3),
       {Action::kResolveOutcome}},
      {"the budget does not count conflicts",
       AfterHeals(
           Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey), 3),
       {Action::kBackoffAndRerun, absl::Milliseconds(20)}},

      // Class 1: connection lost, outcome unknown.
      {"an autocommit write lost in flight is never re-run: UNKNOWN",
       Make(W::kStatement, C::kConnectionLost, P::kCommitInFlight, kWrote, kNoKey),
       {Action::kAnswerOutcomeUnknown}},
      {"a lost COMMIT without a key is never re-run: UNKNOWN",
       Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kWrote, kNoKey),
       {Action::kAnswerOutcomeUnknown}},
      {"a lost interactive COMMIT without a key: UNKNOWN",
       Make(W::kInteractive, C::kConnectionLost, P::kCommitInFlight, kWrote, kNoKey),
       {Action::kAnswerOutcomeUnknown}},
      {"a lost COMMIT without a key is UNKNOWN even with no time left",
       Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kWrote, kNoKey, -ms),
       {Action::kAnswerOutcomeUnknown}},
      {"nothing is re-run once the COMMIT was acknowledged",
       Make(W::kTransaction, C::kConnectionLost, P::kAfterCommit, kWrote, kKeyed),
       {Action::kAnswer}},

      // Exactly-once: with a key the outcome is looked up.
      {"a lost COMMIT with a key is resolved by its key",
       Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kWrote, kKeyed),
       {Action::kResolveOutcome}},
      {"a lost interactive COMMIT with a key is resolved by its key",
       Make(W::kInteractive, C::kConnectionLost, P::kCommitInFlight, kWrote, kKeyed),
       {Action::kResolveOutcome}},
      {"a key taken by a concurrent execution resolves to its outcome",
       Make(W::kTransaction, C::kKeyTaken, P::kStatementInFlight, kWrote, kKeyed),
       {Action::kResolveOutcome}},
      {"a key error without a key is answered",
       Make(W::kTransaction, C::kKeyTaken, P::kStatementInFlight, kWrote, kNoKey),
       {Action::kAnswer}},

      // Class 2: transient conflicts.
      {"a deadlock re-runs a RunTransaction after a pause",
       Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey),
       {Action::kBackoffAndRerun, absl::Milliseconds(20)}},
      {"conflict pauses grow linearly",
       Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey, kPlenty,
            2),
       {Action::kBackoffAndRerun, absl::Milliseconds(60)}},
      {"conflicts give up after max_conflict_retries re-runs: ABORTED",
       Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey, kPlenty,
            3),
       {Action::kAnswerConflictsExhausted}},
      {"a conflict pause that would pass the deadline is not taken",
       Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey,
            absl::Milliseconds(20)),
       {Action::kAnswer}},
      {"an Execute statement's conflict is its answer",
       Make(W::kStatement, C::kTransientConflict, P::kCommitInFlight, kWrote, kNoKey),
       {Action::kAnswer}},
      {"an interactive transaction's conflict goes to its client",
       Make(W::kInteractive, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey),
       {Action::kAnswer}},

      // Class 3: the request's own fault.
      {"the request's own fault is answered at once",
       Make(W::kTransaction, C::kRequest, P::kStatementInFlight, kWrote, kKeyed),
       {Action::kAnswer}},
      {"a final failure (pool gave up, replay mismatch) is answered",
       Make(W::kInteractive, C::kRequest, P::kBeforeSend, kRead, kNoKey),
       {Action::kAnswer}},

      // Class 4: deadline or cancellation.
      {"an interrupted statement is answered CANCELLED/DEADLINE_EXCEEDED",
       Interrupted(Make(W::kStatement, C::kRequest, P::kCommitInFlight, kWrote, kNoKey)),
       {Action::kAnswer}},
      {"an interrupted read whose connection was cut is not re-run",
       Interrupted(Make(W::kStatement, C::kConnectionLost, P::kCommitInFlight, kRead, kNoKey)),
       {Action::kAnswer}},
      {"an interrupted transaction before its COMMIT is not re-run",
       Interrupted(
           Make(W::kTransaction, C::kConnectionLost, P::kStatementInFlight, kWrote, kKeyed)),
       {Action::kAnswer}},
      {"a COMMIT cut by the deadline may have been applied: UNKNOWN, even with a key",
       Interrupted(Make(W::kTransaction, C::kConnectionLost, P::kCommitInFlight, kWrote, kKeyed)),
       {Action::kAnswerOutcomeUnknown}},
      {"an autocommit write cut by a cancel may have been applied: UNKNOWN",
       Interrupted(Make(W::kStatement, C::kConnectionLost, P::kCommitInFlight, kWrote, kNoKey)),
       {Action::kAnswerOutcomeUnknown}},
      {"an interrupted transaction in a conflict is not re-run",
       Interrupted(
           Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey)),
       {Action::kAnswer}},
  };
}

TEST(RetryPolicyTest, EveryRuleOfTheTable) {
  const RetryPolicy policy(RetryOptions{});  // 3 re-runs, 20 ms
  for (const Row& row : Rules()) {
    const Decision got = policy.Decide(row.failure);
    EXPECT_EQ(Name(got.action), std::string(Name(row.expected.action))) << row.rule;
    EXPECT_EQ(got.pause, row.expected.pause) << row.rule;
  }
}

TEST(RetryPolicyTest, HonoursItsOptions) {
  const RetryPolicy policy(RetryOptions{/*max_conflict_retries=*/1, absl::Milliseconds(50)});
  Failure f = Make(W::kTransaction, C::kTransientConflict, P::kStatementInFlight, kWrote, kNoKey);
  EXPECT_EQ(policy.Decide(f), Decision(Action::kBackoffAndRerun, absl::Milliseconds(50)));
  f.conflicts = 1;
  EXPECT_EQ(policy.Decide(f).action, Action::kAnswerConflictsExhausted);

  const RetryPolicy never(RetryOptions{/*max_conflict_retries=*/0, absl::Milliseconds(50)});
  f.conflicts = 0;
  EXPECT_EQ(never.Decide(f).action, Action::kAnswerConflictsExhausted);
}

TEST(RetryPolicyTest, HonoursItsHealOptions) {
  RetryOptions options;
  options.max_heal_retries = 6;
  options.heal_backoff = absl::Milliseconds(10);
  options.heal_backoff_max = absl::Milliseconds(35);
  const RetryPolicy policy(options);
  const Failure lost = Make(W::kStatement, C::kConnectionLost, P::kBeforeSend, kWrote, kNoKey);
  // 0, 10, 20, then capped at 35.
  const absl::Duration pauses[] = {absl::ZeroDuration(),   absl::Milliseconds(10),
                                   absl::Milliseconds(20), absl::Milliseconds(35),
                                   absl::Milliseconds(35), absl::Milliseconds(35)};
  for (int heals = 0; heals < 6; ++heals) {
    EXPECT_EQ(policy.Decide(AfterHeals(lost, heals)),
              Decision(Action::kHealAndRerun, pauses[heals]))
        << heals;
  }
  EXPECT_EQ(policy.Decide(AfterHeals(lost, 6)).action, Action::kAnswerHealsExhausted);

  options.max_heal_retries = 0;
  const RetryPolicy never(options);
  EXPECT_EQ(never.Decide(lost).action, Action::kAnswerHealsExhausted);
}

// Over every combination: work whose write may have been applied when its
// connection was lost is never re-run blindly, and nothing is re-run once
// the deadline passed.
TEST(RetryPolicyTest, NeverReRunsAWriteThatMayHaveBeenApplied) {
  const RetryPolicy policy(RetryOptions{});
  for (W work : {W::kStatement, W::kTransaction, W::kInteractive, W::kInternal}) {
    for (C error :
         {C::kConnectionLost, C::kTransientConflict, C::kRequest, C::kKeyTaken, C::kNotPrimary}) {
      for (P phase : {P::kBeforeSend, P::kStatementInFlight, P::kCommitInFlight, P::kAfterCommit}) {
        for (bool wrote : {false, true}) {
          for (bool keyed : {false, true}) {
            for (absl::Duration left : {-absl::Milliseconds(1), kPlenty}) {
              for (int heals : {0, 1, 3, 4}) {
                for (bool interrupted : {false, true}) {
                  Failure f = AfterHeals(Make(work, error, phase, wrote, keyed, left), heals);
                  f.interrupted = interrupted;
                  const Decision d = policy.Decide(f);
                  const Action a = d.action;
                  const bool reruns = a == Action::kHealAndRerun || a == Action::kBackoffAndRerun;
                  const bool applied = phase == P::kCommitInFlight || phase == P::kAfterCommit;
                  // (A conflict is the server's word that it rolled back.)
                  if (error == C::kConnectionLost && applied && wrote) {
                    EXPECT_FALSE(reruns) << Name(a);
                  }
                  if (left <= absl::ZeroDuration()) {
                    EXPECT_FALSE(reruns) << Name(a);
                  }
                  if (a == Action::kResolveOutcome) {
                    EXPECT_TRUE(keyed);
                  }
                  if (error == C::kRequest || interrupted) {
                    EXPECT_FALSE(reruns) << Name(a);
                    EXPECT_NE(a, Action::kResolveOutcome);
                  }
                  // The heal budget: never more than max_heal_retries re-runs
                  // after losses, and a pause never outlasts the deadline.
                  if (heals >= policy.options().max_heal_retries) {
                    EXPECT_NE(a, Action::kHealAndRerun);
                  }
                  if (a == Action::kAnswerHealsExhausted) {
                    EXPECT_TRUE(error == C::kConnectionLost || error == C::kNotPrimary);
                    // A read-only refusal was not applied, whatever the phase.
                    if (error == C::kConnectionLost) {
                      EXPECT_FALSE(wrote && applied);
                    }
                  }
                  if (reruns) {
                    EXPECT_LT(d.pause, left);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace txgate::runner
