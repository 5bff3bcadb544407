#include "server/db/session_identity.h"

#include <mysqld_error.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/sql/error.h"
#include "txgate/v1/database.pb.h"

namespace txgate::db {
namespace {

// A process-list value as an integer, whichever way the driver typed it.
std::optional<int64_t> AsInteger(const txgate::v1::Value& v) {
  switch (v.kind_case()) {
    case txgate::v1::Value::kInt64Value:
      return v.int64_value();
    case txgate::v1::Value::kUint64Value:
      return static_cast<int64_t>(v.uint64_value());
    case txgate::v1::Value::kStringValue: {
      int64_t n = 0;
      if (absl::SimpleAtoi(v.string_value(), &n)) return n;
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::string AsText(const txgate::v1::Value& v) {
  if (v.kind_case() == txgate::v1::Value::kBytesValue) return v.bytes_value();
  return v.string_value();
}

}  // namespace

absl::StatusOr<std::optional<SessionIdentity>> ReadSessionIdentity(Connection& side,
                                                                   uint64_t thread_id) {
  Params params;
  params.Add()->set_uint64_value(thread_id);
  if (absl::Status s = side.Start(absl::StrCat(kSessionIdentitySelect, "?"), params); !s.ok()) {
    return s;
  }
  txgate::v1::Row row;
  size_t bytes = 0;
  absl::StatusOr<bool> found = side.Next(&row, &bytes);
  absl::StatusOr<ExecSummary> done = side.Done();
  if (!found.ok()) return found.status();
  if (!done.ok()) return done.status();
  if (!*found || row.values_size() < 4) return std::optional<SessionIdentity>();
  SessionIdentity identity;
  const std::optional<int64_t> id = AsInteger(row.values(0));
  const std::optional<int64_t> started = AsInteger(row.values(3));
  if (!id.has_value() || !started.has_value()) return std::optional<SessionIdentity>();
  identity.thread_id = static_cast<uint64_t>(*id);
  identity.user = AsText(row.values(1));
  identity.host = AsText(row.values(2));
  identity.server_started = *started;
  return std::optional<SessionIdentity>(std::move(identity));
}

absl::StatusOr<bool> KillIfSameSession(Connection& side, const SessionIdentity& target,
                                       KillScope scope) {
  if (target.thread_id == 0) return false;
  absl::StatusOr<std::optional<SessionIdentity>> now = ReadSessionIdentity(side, target.thread_id);
  if (!now.ok()) return now.status();
  if (!now->has_value() || **now != target) return false;
  // The race documented in the header lies between the check above and
  // this KILL.
  absl::Status killed = side.Query(absl::StrCat(
      scope == KillScope::kQuery ? "KILL QUERY " : "KILL CONNECTION ", target.thread_id));
  if (killed.ok()) return true;
  const std::optional<sql::MysqlError> error = sql::GetMysqlError(killed);
  if (error.has_value() && error->errnum == ER_NO_SUCH_THREAD) return false;  // it ended meanwhile
  return killed;
}

}  // namespace txgate::db
