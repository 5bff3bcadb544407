#include "server/service/status_mapping.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/sql/error.h"
#include "txgate/v1/error_reason.pb.h"

namespace txgate::service {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  google::rpc::ErrorInfo info;
  info.set_domain(kErrorDomain);
  std::string reason = sql::GetReason(status);
  info.set_reason(reason.empty() ? txgate::v1::ErrorReason_Name(txgate::v1::INTERNAL_ERROR)
                                 : reason);
  auto& md = *info.mutable_metadata();
  for (const auto& [key, value] : sql::GetMetadata(status)) md[key] = value;
  if (std::optional<sql::MysqlError> mysql = sql::GetMysqlError(status)) {
    md["mysql_errno"] = absl::StrCat(mysql->errnum);
    md["mysql_sqlstate"] = mysql->sqlstate;
    md["mysql_message"] = mysql->message;
  }
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(code));
  rich.set_message(message);
  rich.add_details()->PackFrom(info);
  return grpc::Status(code, message, rich.SerializeAsString());
}

}  // namespace txgate::service
