// The one place where txgate's absl::Status becomes a gRPC status.
//
// The code is kept; the details follow gRPC's rich error model: the
// grpc-status-details-bin trailer holds a google.rpc.Status whose details
// carry a google.rpc.ErrorInfo (domain "txgate.dev") with the reason and,
// for MySQL errors, metadata mysql_errno, mysql_sqlstate and mysql_message;
// metadata added with sql::WithMetadata goes there too.
#ifndef TXGATE_SERVER_SERVICE_STATUS_MAPPING_H_
#define TXGATE_SERVER_SERVICE_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace txgate::service {

inline constexpr char kErrorDomain[] = "txgate.dev";

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_STATUS_MAPPING_H_
