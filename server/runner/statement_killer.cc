#include "server/runner/statement_killer.h"

#include <utility>

#include "server/db/session_identity.h"

namespace txgate::runner {

StatementKiller::StatementKiller(Factory factory, absl::Duration grace)
    : factory_(std::move(factory)), grace_(grace), executor_("txgate-killer", 2) {}

StatementKiller::~StatementKiller() { executor_.Shutdown(); }

void StatementKiller::Kill(std::shared_ptr<CallContext> ctx) {
  executor_.Submit([this, ctx = std::move(ctx)] { KillNow(*ctx); });
}

void StatementKiller::KillNow(CallContext& ctx) {
  ctx.WithAttached([&](db::Connection* conn) {
    if (conn == nullptr) return;
    MutexLock lock(&mu_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (side_ == nullptr || side_->broken()) {
        absl::StatusOr<std::unique_ptr<db::Connection>> side = factory_(grace_);
        if (!side.ok()) break;
        side_ = std::move(*side);
      }
      // Only if the id still names this connection's session: a restarted
      // server hands its id to other clients (then the wait below ends in
      // an Interrupt() of our own socket instead).
      if (db::KillIfSameSession(*side_, conn->identity(), db::KillScope::kQuery).ok()) break;
    }
  });
  if (!ctx.AwaitDetached(grace_)) {
    // The server did not stop it in time, or cannot be reached: cut the
    // connection so the blocked call returns.
    ctx.WithAttached([](db::Connection* conn) {
      if (conn != nullptr) conn->Interrupt();
    });
  }
}

}  // namespace txgate::runner
