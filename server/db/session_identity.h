// How txgate learns who a session is (db::SessionIdentity), and proves,
// before it sends KILL, that a thread id still names the session it opened.
//
// A thread id alone is not proof: after mariadbd restarts, ids start again
// from 1, and txgate's old id may name another client's session. So each
// connection records its identity once, at connect (one query:
// ReadOwnIdentity), and a KILL of that id is sent only if the server shows,
// now, a session with the same id, USER and HOST (over TCP the HOST carries
// the client's port) on a server instance that started at the same time.
// An account that lacks the PROCESS privilege sees only its own sessions in
// the process list, so a session of another account is never confirmed.
// Over a Unix socket HOST is just "localhost": the proof then rests on the
// id, the user and the server's start (ids are not reused until a restart).
// The server's start has a resolution of one second: a server that stopped
// and started again within the same second would not be told apart by it.
#ifndef TXGATE_SERVER_DB_SESSION_IDENTITY_H_
#define TXGATE_SERVER_DB_SESSION_IDENTITY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/db/connection.h"

namespace txgate::db {

// SELECT of a session's (ID, USER, HOST, server start) from the process
// list: completed by "CONNECTION_ID()" (a session's own) or "?" (the id as
// a parameter). The server's start is its clock minus its Uptime, both
// taken at the statement's start, so every session computes the same value.
inline constexpr absl::string_view kSessionIdentitySelect =
    "SELECT ID, USER, HOST, CAST(UNIX_TIMESTAMP() - (SELECT CAST(VARIABLE_VALUE AS UNSIGNED) "
    "FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') AS SIGNED) "
    "FROM information_schema.PROCESSLIST WHERE ID = ";

// The identity the server shows now for thread `thread_id`, read on `side`
// (another session); nullopt when no such session is visible to side's
// account. A failed query is returned as is (classify it with sql::).
absl::StatusOr<std::optional<SessionIdentity>> ReadSessionIdentity(Connection& side,
                                                                   uint64_t thread_id);

// What KILL stops: the running statement, or the whole session.
enum class KillScope { kQuery, kConnection };

// Sends KILL QUERY/CONNECTION for `target` from `side`, but only once the
// process list proves that target.thread_id still names that very session
// (ReadSessionIdentity equal to `target`). True if KILL was sent (and
// succeeded or found the session already gone); false if the id names no
// session of ours (it ended, or the server restarted and the id is
// someone else's), in which case nothing was killed. An error if the check
// or the KILL failed otherwise.
//
// A tiny race remains: the session may end between the check and the KILL,
// and a new session may take its id in that window. Thread ids are handed
// out in increasing order and only restart with the server (a restart also
// ends `side`, so the KILL would not be sent), so the id would have to wrap
// around 2^32 within one round trip; it cannot be closed without the
// server's help (KILL has no "if still user X" form).
absl::StatusOr<bool> KillIfSameSession(Connection& side, const SessionIdentity& target,
                                       KillScope scope);

}  // namespace txgate::db

#endif  // TXGATE_SERVER_DB_SESSION_IDENTITY_H_
