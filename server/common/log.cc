#include "server/common/log.h"

#include <grpc/support/log.h>
#include <unistd.h>

#include <atomic>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace txgate {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC
// 3629: no overlong forms, no surrogates, at most U+10FFFF); 0 if none.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto b = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return n;
}

// `s` as a JSON string; bytes that are not well-formed UTF-8 become U+FFFD,
// so that every line parses as JSON whatever a message holds.
void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out->append("\\ufffd");
      } else {
        out->append(s.data() + i, n);
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void GrpcLog(gpr_log_func_args* args) {
  const char* level = args->severity == GPR_LOG_SEVERITY_ERROR  ? "warning"
                      : args->severity == GPR_LOG_SEVERITY_INFO ? "info"
                                                                : "debug";
  if (!LogEnabled(level)) return;
  Log(level, "grpc",
      {{"message", args->message != nullptr ? args->message : ""},
       {"source", absl::StrCat(args->file != nullptr ? args->file : "?", ":", args->line)}});
}

}  // namespace

LogValue LogValue::Number(double d, int decimals) {
  if (!std::isfinite(d)) return LogValue("null", true);
  return LogValue(absl::StrFormat("%.*f", decimals, d), true);
}

LogValue LogValue::Millis(absl::Duration d) { return Number(absl::ToDoubleMilliseconds(d), 3); }

std::optional<LogLevel> ParseLogLevel(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "debug") return LogLevel::kDebug;
  if (n == "info") return LogLevel::kInfo;
  if (n == "warning" || n == "warn") return LogLevel::kWarning;
  if (n == "error") return LogLevel::kError;
  return std::nullopt;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(absl::string_view level) {
  const LogLevel l = ParseLogLevel(level).value_or(LogLevel::kError);
  return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed);
}

std::string FormatLogLine(absl::Time now, absl::string_view level, absl::string_view event,
                          const LogFields& fields) {
  std::string line = "{\"ts\":";
  AppendJsonString(&line, absl::FormatTime(absl::RFC3339_full, now, absl::UTCTimeZone()));
  line.append(",\"level\":");
  AppendJsonString(&line, level);
  line.append(",\"msg\":");
  AppendJsonString(&line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(&line, key);
    line.push_back(':');
    if (value.is_number()) {
      line.append(value.text());
    } else {
      AppendJsonString(&line, value.text());
    }
  }
  line.append("}\n");
  return line;
}

void Log(absl::string_view level, absl::string_view event, const LogFields& fields) {
  if (!LogEnabled(level)) return;
  const std::string line = FormatLogLine(absl::Now(), level, event, fields);
  // One write(2) per line keeps lines whole across threads.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

void RouteGrpcLogs() { gpr_set_log_function(&GrpcLog); }

}  // namespace txgate
