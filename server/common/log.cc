#include "server/common/log.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace txgate {
namespace {

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
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
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace

void Log(absl::string_view level, absl::string_view event, const LogFields& fields) {
  std::string line = "{\"ts\":";
  AppendJsonString(&line, absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()));
  line.append(",\"level\":");
  AppendJsonString(&line, level);
  line.append(",\"msg\":");
  AppendJsonString(&line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(&line, key);
    line.push_back(':');
    AppendJsonString(&line, value);
  }
  line.append("}\n");
  // One write(2) per line keeps lines whole across threads.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace txgate
