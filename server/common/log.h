// Log: one JSON object per line on stderr, for humans and log shippers.
//
// Every line is {"ts":<RFC 3339 UTC>,"level":<level>,"msg":<event>,<fields>}
// with the fields in the order given; a field's value is a JSON string or,
// when given as a number (counts, ports, errnos, durations), a JSON number.
// Lines below the level set by SetLogLevel() are dropped. gRPC core's own
// messages go through the same writer once RouteGrpcLogs() was called.
//
// Callers pass only what is safe to record: never a password, a token or a
// parameter value.
#ifndef TXGATE_SERVER_COMMON_LOG_H_
#define TXGATE_SERVER_COMMON_LOG_H_

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace txgate {

// A field's value: a string, written as a JSON string (escaped), or a
// number, written as a JSON number.
class LogValue {
 public:
  LogValue(std::string s) : text_(std::move(s)) {}  // NOLINT: implicit by design
  LogValue(const char* s) : text_(s) {}             // NOLINT
  LogValue(absl::string_view s) : text_(s) {}       // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                             !std::is_same_v<T, char>,
                                         int> = 0>
  LogValue(T n) : text_(absl::StrCat(n)), number_(true) {}  // NOLINT
  // A finite double with up to `decimals` decimals (trailing zeros kept);
  // NaN and infinities, which JSON lacks, as null.
  static LogValue Number(double d, int decimals);
  // `d` in milliseconds, to the microsecond (3 decimals).
  static LogValue Millis(absl::Duration d);

  const std::string& text() const { return text_; }
  // True: text() is a JSON number (or null) to write as is.
  bool is_number() const { return number_; }

 private:
  LogValue(std::string text, bool number) : text_(std::move(text)), number_(number) {}
  std::string text_;
  bool number_ = false;
};

using LogFields = std::vector<std::pair<std::string, LogValue>>;

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning" (or "warn") and "error"; nullopt for others.
std::optional<LogLevel> ParseLogLevel(absl::string_view name);
// Lines below `level` are dropped from now on (default: kInfo).
void SetLogLevel(LogLevel level);
// Whether a line of `level` (a name ParseLogLevel takes; others count as
// error) would be written.
bool LogEnabled(absl::string_view level);

// The line Log() writes at `now`, with its trailing newline.
std::string FormatLogLine(absl::Time now, absl::string_view level, absl::string_view event,
                          const LogFields& fields);

// Writes FormatLogLine(Now, ...) atomically (one write(2)) when
// LogEnabled(level).
void Log(absl::string_view level, absl::string_view event, const LogFields& fields);

// Routes gRPC core's log messages (gpr_log: handshake failures, transport
// errors, ...) through Log() as {"msg":"grpc","message":...,"source":
// "file:line"}: its ERROR as warning (they concern one connection or call,
// e.g. a client's failed TLS handshake), INFO as info, DEBUG as debug.
// Call before anything starts gRPC; GRPC_VERBOSITY still selects what gRPC
// emits (ERROR unless set).
void RouteGrpcLogs();

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_LOG_H_
