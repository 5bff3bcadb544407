// CallRecord: what txgate records about one RPC — a request id, a metrics
// sample and one structured log line at completion.
//
// The request id is the caller's `x-request-id` metadata when it is a sane
// token (at most 128 of [A-Za-z0-9._:-]), else a generated one; it is sent
// back as `x-request-id` initial metadata so a caller can quote it.
// The log line holds the method, the gRPC code, the duration, the ErrorInfo
// reason and MySQL errno, the token's name, the size and first keyword of
// the SQL, and the caller's W3C trace and span ids when it sent a valid
// `traceparent` (an invalid one is ignored, never logged). Its level: a
// failed call's is warning for the server's or the database's trouble
// (UNKNOWN, INTERNAL, UNAVAILABLE, DATA_LOSS), else info; a successful
// call's is info when it took at least the slow-call threshold, else debug
// (so the default --log_level=info shows failures and slow calls). Never SQL
// text (it may hold literals), parameter values, error
// messages (MySQL quotes values in them) or credentials.
#ifndef TXGATE_SERVER_SERVICE_CALL_RECORD_H_
#define TXGATE_SERVER_SERVICE_CALL_RECORD_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/log.h"
#include "server/metrics/metrics.h"

namespace txgate::service {

class CallRecord {
 public:
  // Takes the request id (see above) from `context` and echoes it back.
  // `generated_id` is used when the caller sent none. `unfinished` counts
  // the calls whose status is not decided yet: +1 here, -1 at Finish().
  CallRecord(grpc::CallbackServerContext* context, absl::string_view method,
             metrics::Metrics* metrics, std::string generated_id, std::atomic<int>* unfinished);
  ~CallRecord();

  const std::string& request_id() const { return request_id_; }

  // Extra fields for the log line (sizes, names: nothing secret).
  void Set(absl::string_view key, LogValue value);
  // Describes the SQL of the call without its text.
  void DescribeSql(absl::string_view sql);

  // Successful calls faster than `threshold` are logged at debug, others
  // at info (see above); 0 (the default): all at info. Process-wide, like
  // the log level; set once at start (main, tests).
  static void SetSlowCallThreshold(absl::Duration threshold);

  // Maps `status` to the gRPC status to finish with, and records the call:
  // the first time only (later calls just map).
  grpc::Status Finish(const absl::Status& status);

 private:
  // Constant after construction.
  const absl::Time start_;
  const std::string method_;
  std::string request_id_;
  metrics::Metrics* metrics_;
  std::atomic<int>* unfinished_;
  // Written by the call's steps, which run one at a time (see
  // TransactionCall), and read by the first Finish().
  LogFields fields_;
  std::atomic<bool> done_{false};
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_CALL_RECORD_H_
