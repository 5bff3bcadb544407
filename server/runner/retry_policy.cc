#include "server/runner/retry_policy.h"

namespace txgate::runner {

Decision RetryPolicy::Decide(const Failure& f) const {
  const bool write_in_doubt = f.error == FailureClass::kConnectionLost &&
                              f.phase == Phase::kCommitInFlight && f.may_have_written;
  if (f.interrupted) {
    // Nothing is re-run for a call that is over; but a write whose
    // connection was cut while it committed may have been applied, and
    // saying CANCELLED or DEADLINE_EXCEEDED would claim it was stopped.
    return {write_in_doubt ? Action::kAnswerOutcomeUnknown : Action::kAnswer};
  }
  switch (f.error) {
    case FailureClass::kRequest:
      return {Action::kAnswer};

    case FailureClass::kKeyTaken:
      // Another execution with this key got there first: its outcome, once
      // settled, is this call's answer (or, if it rolled back, run ours).
      return {f.keyed ? Action::kResolveOutcome : Action::kAnswer};

    case FailureClass::kTransientConflict: {
      // Only a RunTransaction can re-run whole: an Execute statement's
      // conflict is its answer, and an interactive transaction's client
      // decides.
      if (f.work != Work::kTransaction) return {Action::kAnswer};
      if (f.conflicts >= options_.max_conflict_retries) {
        return {Action::kAnswerConflictsExhausted};
      }
      const absl::Duration pause = options_.conflict_backoff * (f.conflicts + 1);
      if (pause >= f.time_left) return {Action::kAnswer};
      return {Action::kBackoffAndRerun, pause};
    }

    case FailureClass::kConnectionLost:
      if (f.phase == Phase::kAfterCommit) return {Action::kAnswer};
      if (write_in_doubt) {
        // The write may or may not have been applied: never re-run it
        // blindly.
        return {f.keyed ? Action::kResolveOutcome : Action::kAnswerOutcomeUnknown};
      }
      // Nothing of the work can have been applied.
      if (f.time_left <= absl::ZeroDuration()) return {Action::kAnswer};
      return {Action::kHealAndRerun};
  }
  return {Action::kAnswer};
}

}  // namespace txgate::runner
