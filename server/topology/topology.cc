// ParseEndpoints and Endpoint::ToString; the monitor is in monitor.cc.
#include "server/topology/topology.h"

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace txgate::topology {

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

namespace {

absl::Status Bad(absl::string_view entry, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--mysql_hosts entry \"", entry, "\": ", why));
}

absl::StatusOr<Endpoint> ParseOne(absl::string_view entry) {
  Endpoint e;
  absl::string_view rest = entry;
  absl::string_view port_text;
  if (absl::ConsumePrefix(&rest, "[")) {
    size_t close = rest.find(']');
    if (close == absl::string_view::npos) return Bad(entry, "no closing ] of an IPv6 address");
    e.host = std::string(rest.substr(0, close));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !absl::ConsumePrefix(&rest, ":")) {
      return Bad(entry, "expected :PORT after ]");
    }
    port_text = rest;
    if (port_text.empty() && entry.back() == ':') return Bad(entry, "empty port");
  } else {
    size_t colon = rest.find(':');
    if (colon != absl::string_view::npos && rest.find(':', colon + 1) != absl::string_view::npos) {
      return Bad(entry, "an IPv6 address must be written [ADDRESS]:PORT");
    }
    e.host = std::string(rest.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return Bad(entry, "empty port");
    }
  }
  if (e.host.empty()) return Bad(entry, "empty host");
  if (!port_text.empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return Bad(entry, "the port must be a number from 1 to 65535");
    }
    e.port = port;
  }
  return e;
}

}  // namespace

absl::StatusOr<std::vector<Endpoint>> ParseEndpoints(absl::string_view list) {
  std::vector<Endpoint> out;
  absl::flat_hash_set<std::string> seen;
  if (absl::StripAsciiWhitespace(list).empty()) {
    return absl::InvalidArgumentError("--mysql_hosts is empty: give host[:port],...");
  }
  for (absl::string_view raw : absl::StrSplit(list, ',')) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry.empty()) return Bad(raw, "empty entry (two commas, or a trailing comma)");
    absl::StatusOr<Endpoint> e = ParseOne(entry);
    if (!e.ok()) return e.status();
    if (!seen.insert(e->ToString()).second) return Bad(entry, "listed twice");
    out.push_back(*std::move(e));
  }
  return out;
}

}  // namespace txgate::topology
