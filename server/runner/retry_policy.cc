#include "server/runner/retry_policy.h"

#include <algorithm>

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

    case FailureClass::kNotPrimary:
      // Refused, so not applied (not even a COMMIT): like a loss before
      // anything was sent, whatever the phase. The heal budget bounds it.
      if (f.phase == Phase::kAfterCommit) return {Action::kAnswer};
      if (f.time_left <= absl::ZeroDuration()) return {Action::kAnswer};
      if (f.heals >= options_.max_heal_retries) return {Action::kAnswerHealsExhausted};
      {
        const absl::Duration pause = HealPause(f.heals, f.jitter);
        if (pause >= f.time_left) return {Action::kAnswer};
        return {Action::kHealAndRerun, pause};
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
      if (f.heals >= options_.max_heal_retries) return {Action::kAnswerHealsExhausted};
      {
        const absl::Duration pause = HealPause(f.heals, f.jitter);
        if (pause >= f.time_left) return {Action::kAnswer};
        return {Action::kHealAndRerun, pause};
      }
  }
  return {Action::kAnswer};
}

absl::Duration RetryPolicy::HealPause(int heals, double jitter) const {
  if (heals <= 0) return absl::ZeroDuration();
  absl::Duration step = options_.heal_backoff;
  for (int i = 1; i < heals && step < options_.heal_backoff_max; ++i) step *= 2;
  step = std::min(step, options_.heal_backoff_max);
  return step * std::clamp(jitter, 0.5, 1.0);
}

}  // namespace txgate::runner
