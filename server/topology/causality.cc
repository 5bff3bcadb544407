#include "server/topology/causality.h"

#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/sql/error.h"

namespace txgate::topology {
namespace {

constexpr absl::string_view kPrefix = "g1:";
// Bounds what a server sends and a client sends back: a cluster has few
// replication domains.
constexpr size_t kMaxDomains = 64;

// An unsigned decimal number of digits only (SimpleAtoi also takes a sign
// and spaces, which no GTID has).
template <typename T>
bool Digits(absl::string_view text, T* out) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v > std::numeric_limits<T>::max()) return false;
  *out = static_cast<T>(v);
  return true;
}

bool ParseGtid(absl::string_view text, Gtid* gtid) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  return parts.size() == 3 && Digits(parts[0], &gtid->domain) && Digits(parts[1], &gtid->server) &&
         Digits(parts[2], &gtid->seq);
}

absl::Status Bad(absl::string_view why) {
  return sql::MakeStatus(absl::StatusCode::kInvalidArgument, txgate::v1::CAUSALITY_TOKEN_INVALID,
                         absl::StrCat("read.causality_token is not a token txgate hands out: ", why,
                                      "; send back a write response's causality_token as it "
                                      "came, or none"));
}

}  // namespace

std::string TokenFromGtidList(absl::string_view gtid_list) {
  std::vector<Gtid> gtids;
  for (absl::string_view entry : absl::StrSplit(gtid_list, ',', absl::SkipWhitespace())) {
    Gtid gtid;
    if (!ParseGtid(absl::StripAsciiWhitespace(entry), &gtid)) return "";
    gtids.push_back(gtid);
  }
  if (gtids.empty() || gtids.size() > kMaxDomains) return "";
  return absl::StrCat(kPrefix, GtidListOf(gtids));
}

absl::StatusOr<std::vector<Gtid>> ParseCausalityToken(absl::string_view token) {
  if (!absl::StartsWith(token, kPrefix)) {
    return Bad(absl::StrCat("it does not start with \"", kPrefix, "\" (format version 1)"));
  }
  absl::string_view list = token.substr(kPrefix.size());
  if (list.empty()) return Bad("it names no GTID");
  std::vector<Gtid> gtids;
  absl::flat_hash_set<uint32_t> domains;
  int index = 0;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    Gtid gtid;
    if (!ParseGtid(entry, &gtid)) {
      return Bad(absl::StrCat("entry ", index, " (\"", entry.substr(0, 64),
                              "\") is not a GTID domain-server-seq of unsigned decimal "
                              "numbers (domain and server below 2^32)"));
    }
    if (!domains.insert(gtid.domain).second) {
      return Bad(absl::StrCat("entry ", index, " repeats domain ", gtid.domain));
    }
    if (gtids.size() == kMaxDomains) {
      return Bad(absl::StrCat("it names more than ", kMaxDomains, " domains"));
    }
    gtids.push_back(gtid);
    ++index;
  }
  return gtids;
}

std::string GtidListOf(const std::vector<Gtid>& gtids) {
  return absl::StrJoin(gtids, ",", [](std::string* out, const Gtid& g) {
    absl::StrAppend(out, g.domain, "-", g.server, "-", g.seq);
  });
}

}  // namespace txgate::topology
