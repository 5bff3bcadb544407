// Causality tokens: what a write's response carries so that a later read can
// ask to see it (read-your-writes), also on a replica. README, "Reads on
// replicas".
//
// A token names MariaDB GTIDs, one per replication domain:
//   "g1:<domain>-<server>-<seq>[,<domain>-<server>-<seq>...]"
// "g1" is the format's version; clients treat the whole as opaque and send
// it back as they got it. A replica has applied a token's writes once its
// @@gtid_slave_pos reaches every listed GTID's seq_no in its domain
// (MASTER_GTID_WAIT).
#ifndef TXGATE_SERVER_TOPOLOGY_CAUSALITY_H_
#define TXGATE_SERVER_TOPOLOGY_CAUSALITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace txgate::topology {

// One MariaDB global transaction id.
struct Gtid {
  uint32_t domain = 0;
  uint32_t server = 0;
  uint64_t seq = 0;

  bool operator==(const Gtid& o) const {
    return domain == o.domain && server == o.server && seq == o.seq;
  }
};

// The token for the GTIDs of `gtid_list`, the server's own text (@@last_gtid,
// @@gtid_binlog_pos: "0-1-42" or "0-1-42,1-2-7"); "" when it names none or
// cannot be read (a server without a binary log reports "").
std::string TokenFromGtidList(absl::string_view gtid_list);

// The GTIDs a token names. INVALID_ARGUMENT, reason CAUSALITY_TOKEN_INVALID,
// saying what is wrong, for anything TokenFromGtidList could not have made:
// another version prefix, an empty list, an entry that is not three unsigned
// decimal numbers within range, a domain listed twice. An empty token is not
// a token: check for "" first.
absl::StatusOr<std::vector<Gtid>> ParseCausalityToken(absl::string_view token);

// The GTIDs as MASTER_GTID_WAIT takes them: "0-1-42,1-2-7".
std::string GtidListOf(const std::vector<Gtid>& gtids);

}  // namespace txgate::topology

#endif  // TXGATE_SERVER_TOPOLOGY_CAUSALITY_H_
