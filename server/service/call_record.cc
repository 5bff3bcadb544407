#include "server/service/call_record.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/common/traceparent.h"
#include "server/service/status_mapping.h"
#include "server/sql/error.h"
#include "server/sql/session_effects.h"

namespace txgate::service {
namespace {

constexpr size_t kMaxRequestIdBytes = 128;

std::atomic<int64_t> g_slow_call_nanos{0};

bool SaneRequestId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

absl::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

CallRecord::CallRecord(grpc::CallbackServerContext* context, absl::string_view method,
                       metrics::Metrics* metrics, std::string generated_id,
                       std::atomic<int>* unfinished)
    : start_(absl::Now()), method_(method), metrics_(metrics), unfinished_(unfinished) {
  ++*unfinished_;
  if (metrics_ != nullptr) metrics_->CountStarted(method_);
  const auto& md = context->client_metadata();
  auto it = md.find("x-request-id");
  if (it != md.end()) {
    const absl::string_view id(it->second.data(), it->second.size());
    if (SaneRequestId(id)) request_id_ = std::string(id);
  }
  if (request_id_.empty()) request_id_ = std::move(generated_id);
  context->AddInitialMetadata("x-request-id", request_id_);
  // The spec: several traceparent headers make the trace invalid.
  if (md.count("traceparent") == 1) {
    auto tp = md.find("traceparent");
    if (std::optional<TraceParent> trace =
            ParseTraceParent(absl::string_view(tp->second.data(), tp->second.size()))) {
      fields_.emplace_back("trace_id", std::move(trace->trace_id));
      fields_.emplace_back("span_id", std::move(trace->span_id));
    }
  }
}

void CallRecord::SetSlowCallThreshold(absl::Duration threshold) {
  g_slow_call_nanos.store(absl::ToInt64Nanoseconds(threshold), std::memory_order_relaxed);
}

CallRecord::~CallRecord() {
  if (!done_.exchange(true)) --*unfinished_;
}

void CallRecord::Set(absl::string_view key, LogValue value) {
  fields_.emplace_back(std::string(key), std::move(value));
}

void CallRecord::DescribeSql(absl::string_view sql) {
  Set("sql_bytes", sql.size());
  Set("sql_keyword", sql::FirstKeyword(sql));
}

grpc::Status CallRecord::Finish(const absl::Status& status) {
  grpc::Status result = ToGrpcStatus(status);
  if (done_.exchange(true)) return result;
  --*unfinished_;
  const absl::Duration elapsed = absl::Now() - start_;
  const absl::string_view code = CodeName(result.error_code());
  std::optional<sql::MysqlError> mysql = sql::GetMysqlError(status);
  if (metrics_ != nullptr) {
    metrics_->ObserveRpc(method_, result.error_code(), elapsed);
    if (mysql.has_value()) metrics_->CountMysqlError(mysql->errnum);
  }
  LogFields fields = {{"request_id", request_id_},
                      {"method", method_},
                      {"code", std::string(code)},
                      {"duration_ms", LogValue::Millis(elapsed)}};
  if (!status.ok()) {
    const std::string reason = sql::GetReason(status);
    if (!reason.empty()) fields.emplace_back("reason", reason);
    if (mysql.has_value()) fields.emplace_back("mysql_errno", mysql->errnum);
  }
  fields.insert(fields.end(), fields_.begin(), fields_.end());
  // warn: the server's or the database's trouble, not the caller's request.
  const grpc::StatusCode c = result.error_code();
  const bool trouble = c == grpc::StatusCode::UNKNOWN || c == grpc::StatusCode::INTERNAL ||
                       c == grpc::StatusCode::UNAVAILABLE || c == grpc::StatusCode::DATA_LOSS;
  const bool slow = elapsed >= absl::Nanoseconds(g_slow_call_nanos.load(std::memory_order_relaxed));
  const char* level = trouble ? "warning" : (!result.ok() || slow) ? "info" : "debug";
  if (LogEnabled(level)) Log(level, "rpc", fields);
  return result;
}

}  // namespace txgate::service
