#include "txgate/error.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace txgate::client {
namespace {

// Fills the ErrorInfo fields of `error` from serialized google.rpc.Status
// details; leaves them empty when there are none or they do not parse.
void ReadDetails(const std::string& serialized, Error* error) {
  if (serialized.empty()) return;
  google::rpc::Status rich;
  if (!rich.ParseFromString(serialized)) return;
  for (const google::protobuf::Any& detail : rich.details()) {
    google::rpc::ErrorInfo info;
    if (!detail.Is<google::rpc::ErrorInfo>() || !detail.UnpackTo(&info)) continue;
    error->domain = info.domain();
    error->reason = info.reason();
    error->metadata.insert(info.metadata().begin(), info.metadata().end());
    break;
  }
  auto get = [&](const char* key) -> std::string {
    auto it = error->metadata.find(key);
    return it == error->metadata.end() ? std::string() : it->second;
  };
  int errnum = 0;
  if (absl::SimpleAtoi(get("mysql_errno"), &errnum)) error->mysql_errno = errnum;
  error->sqlstate = get("mysql_sqlstate");
  error->mysql_message = get("mysql_message");
}

}  // namespace

Error Error::FromStatus(const absl::Status& status) {
  Error error;
  error.code = status.code();
  error.message = std::string(status.message());
  auto details = status.GetPayload(kStatusDetailsPayloadUrl);
  if (details.has_value()) ReadDetails(std::string(*details), &error);
  auto key = status.GetPayload(kIdempotencyKeyPayloadUrl);
  if (key.has_value()) error.idempotency_key = std::string(*key);
  return error;
}

Error Error::FromGrpcStatus(const grpc::Status& status) {
  Error error;
  error.code = static_cast<absl::StatusCode>(status.error_code());
  error.message = status.error_message();
  ReadDetails(status.error_details(), &error);
  return error;
}

int Error::statement_index() const {
  auto it = metadata.find("statement_index");
  int index = 0;
  if (it == metadata.end() || !absl::SimpleAtoi(it->second, &index)) return 0;
  return index;
}

std::string Error::ToString() const {
  std::string s = absl::StrCat(absl::StatusCodeToString(code), ": ", message);
  if (!reason.empty()) absl::StrAppend(&s, " [", reason, "]");
  if (mysql_errno != 0) {
    absl::StrAppend(&s, " (MySQL ", mysql_errno);
    if (!sqlstate.empty()) absl::StrAppend(&s, ", SQLSTATE ", sqlstate);
    absl::StrAppend(&s, ")");
  }
  if (!idempotency_key.empty()) absl::StrAppend(&s, " {idempotency key ", idempotency_key, "}");
  return s;
}

absl::Status StatusFromGrpc(const grpc::Status& status, absl::string_view idempotency_key) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    out.SetPayload(kStatusDetailsPayloadUrl, absl::Cord(status.error_details()));
  }
  return WithIdempotencyKey(std::move(out), idempotency_key);
}

absl::Status WithIdempotencyKey(absl::Status status, absl::string_view idempotency_key) {
  if (!status.ok() && !idempotency_key.empty()) {
    status.SetPayload(kIdempotencyKeyPayloadUrl, absl::Cord(idempotency_key));
  }
  return status;
}

}  // namespace txgate::client
