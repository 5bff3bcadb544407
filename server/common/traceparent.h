// TraceParent: the W3C Trace Context `traceparent` header
// (https://www.w3.org/TR/trace-context/#traceparent-header), which a caller
// sends to tie txgate's log line of its call to its own trace.
#ifndef TXGATE_SERVER_COMMON_TRACEPARENT_H_
#define TXGATE_SERVER_COMMON_TRACEPARENT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace txgate {

struct TraceParent {
  std::string trace_id;  // 32 lowercase hex digits, not all zero
  std::string span_id;   // the caller's span ("parent-id"): 16 lowercase hex digits, not all zero
  bool sampled = false;  // trace-flags bit 0
};

// Parses `value` as the spec's section 3.2 says: version-traceid-parentid-
// flags, all lowercase hex; version ff is invalid; version 00 is exactly 55
// characters; a later version is at least 55, and anything after the flags
// must start with '-' (the spec's forward compatibility). Surrounding
// spaces and tabs (HTTP's optional whitespace) are ignored. nullopt for
// anything else: the caller then logs no trace, and never the raw value.
std::optional<TraceParent> ParseTraceParent(absl::string_view value);

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_TRACEPARENT_H_
