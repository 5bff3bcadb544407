#include "server/common/traceparent.h"

namespace txgate {
namespace {

bool LowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(absl::string_view s) { return s.find_first_not_of('0') == absl::string_view::npos; }

}  // namespace

std::optional<TraceParent> ParseTraceParent(absl::string_view value) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2)
  constexpr size_t kLength = 2 + 1 + 32 + 1 + 16 + 1 + 2;
  absl::string_view v = value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.size() < kLength) return std::nullopt;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  const absl::string_view version = v.substr(0, 2), trace_id = v.substr(3, 32),
                          parent_id = v.substr(36, 16), flags = v.substr(53, 2);
  if (!LowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" ? v.size() != kLength : (v.size() > kLength && v[kLength] != '-')) {
    return std::nullopt;
  }
  if (!LowerHex(trace_id) || AllZero(trace_id)) return std::nullopt;
  if (!LowerHex(parent_id) || AllZero(parent_id)) return std::nullopt;
  if (!LowerHex(flags)) return std::nullopt;
  const int flag_bits = (flags[1] >= 'a' ? flags[1] - 'a' + 10 : flags[1] - '0');
  return TraceParent{std::string(trace_id), std::string(parent_id), (flag_bits & 1) != 0};
}

}  // namespace txgate
