#include "server/runner/statement_killer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "server/db/session_identity.h"

namespace txgate::runner {
namespace {

// How often the cutter looks for overdue statements: a cut comes at most
// this late.
absl::Duration CutterInterval(absl::Duration timeout) {
  return std::clamp(timeout / 10, absl::Milliseconds(1), absl::Milliseconds(100));
}

}  // namespace

StatementKiller::StatementKiller(Factory factory, absl::Duration timeout)
    : factory_(std::move(factory)), timeout_(timeout), sender_("txgate-killer", 1) {
  cutter_.emplace("txgate-killcut", CutterInterval(timeout_), [this] { CutOverdue(); });
}

StatementKiller::~StatementKiller() {
  sender_.Shutdown();
  cutter_->Stop();
}

void StatementKiller::Kill(std::shared_ptr<CallContext> ctx) {
  {
    MutexLock lock(&due_mu_);
    due_.emplace(absl::Now() + timeout_, ctx);
  }
  sender_.Submit([this, ctx = std::move(ctx)] { SendKill(*ctx); });
}

void StatementKiller::KillNow(std::shared_ptr<CallContext> ctx) {
  {
    MutexLock lock(&due_mu_);
    due_.emplace(absl::Now() + timeout_, ctx);
  }
  SendKill(*ctx);
}

void StatementKiller::SendKill(CallContext& ctx) {
  db::SessionIdentity victim;
  // Nothing attached: it returned, or was cut while this KILL waited.
  if (!ctx.BeginKill(&victim)) return;
  {
    MutexLock lock(&side_mu_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (side_ == nullptr || side_->broken()) {
        side_.reset();
        absl::StatusOr<std::unique_ptr<db::Connection>> side = factory_(timeout_);
        if (!side.ok()) break;
        side_ = std::move(*side);
      }
      // Only if the id still names this connection's session: a restarted
      // server hands its id to other clients (then the cutter shuts our
      // own socket instead).
      if (db::KillIfSameSession(*side_, victim, db::KillScope::kQuery).ok()) break;
    }
  }
  ctx.EndKill();
}

void StatementKiller::CutOverdue() {
  std::vector<std::shared_ptr<CallContext>> overdue;
  {
    MutexLock lock(&due_mu_);
    const absl::Time now = absl::Now();
    for (auto it = due_.begin(); it != due_.end();) {
      if (it->first <= now) {
        overdue.push_back(std::move(it->second));
      } else if (it->second->attached()) {
        ++it;
        continue;
      }
      it = due_.erase(it);  // overdue, or returned in time: forget it
    }
  }
  // The server did not stop them in time, or cannot be reached: cut the
  // connections so the blocked calls return.
  for (const std::shared_ptr<CallContext>& ctx : overdue) ctx->InterruptAttached();
}

}  // namespace txgate::runner
