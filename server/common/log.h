// Log: one JSON object per line on stderr, for humans and log shippers.
//
// Callers pass only what is safe to record: never a password, a token or a
// parameter value.
#ifndef TXGATE_SERVER_COMMON_LOG_H_
#define TXGATE_SERVER_COMMON_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace txgate {

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Writes {"ts":...,"level":level,"msg":event,<fields>} atomically.
void Log(absl::string_view level, absl::string_view event, const LogFields& fields);

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_LOG_H_
