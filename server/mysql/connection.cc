#include "server/mysql/connection.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/db/session_identity.h"
#include "server/sql/error.h"
#include "server/sql/lexer.h"
#include "server/sql/statement_kind.h"
#include "server/sql/text_codec.h"

namespace txgate::mysql {
namespace {

// Settings every txgate session starts with: UTC for TIMESTAMP values,
// session state tracking so a lease knows when the caller changed state,
// transaction state tracking so a transaction knows when a statement wrote a
// table that cannot be rolled back, and @@last_gtid added to the tracked
// system variables (kept as the server has them) so that every commit's OK
// packet names its GTID: the causality token (server/topology/causality.h).
constexpr absl::string_view kSessionInit =
    "SET time_zone = '+00:00', session_track_state_change = ON, "
    "session_track_transaction_info = STATE, session_track_system_variables = "
    "CONCAT_WS(',', NULLIF(@@global.session_track_system_variables, ''), 'last_gtid'); "
    "SELECT @@max_allowed_packet, "
    "@@collation_connection = (SELECT DEFAULT_COLLATE_NAME FROM "
    "information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME = @@character_set_connection)";

// The tracked variable that names a commit's GTID: no session state.
constexpr absl::string_view kLastGtid = "last_gtid";

// How far under max_allowed_packet an execution's estimated size must stay
// for a connection lost while it was sent to count as a loss: above, the
// server most likely dropped it for the packet's size (it answers 1153 and
// closes, and the client may see only the loss).
constexpr uint64_t kPacketSlack = 64 << 10;

// An upper estimate of the COM_STMT_EXECUTE packet for `params`: header,
// NULL bitmap, types, and each value with its length prefix.
uint64_t ExecutePacketBytes(const db::Params& params) {
  uint64_t bytes = 16 + (static_cast<uint64_t>(params.size()) + 7) / 8;
  for (const txgate::v1::Value& v : params) bytes += v.ByteSizeLong() + 11;
  return bytes;
}

// A statement that cannot fit the session's max_allowed_packet.
absl::Status PacketTooLarge(uint64_t bytes, uint64_t max_allowed_packet, bool sent) {
  return sql::WithMetadata(
      sql::MakeStatus(
          absl::StatusCode::kResourceExhausted, txgate::v1::PACKET_TOO_LARGE,
          absl::StrCat("the statement with its parameters takes about ", bytes,
                       " bytes, more than the database server's max_allowed_packet (",
                       max_allowed_packet, " bytes); ",
                       sent ? "the server dropped the connection and nothing was applied"
                            : "it was not sent",
                       ". Send less per statement, or raise max_allowed_packet on the server")),
      "max_allowed_packet", absl::StrCat(max_allowed_packet));
}

unsigned int WholeSeconds(absl::Duration d) {
  const double s = std::ceil(absl::ToDoubleSeconds(d));
  return static_cast<unsigned int>(std::clamp(s, 1.0, 3600.0));
}

bool IsJson(const MYSQL_FIELD& field) {
  MARIADB_CONST_STRING format{nullptr, 0};
  return mariadb_field_attr(&format, &field, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 &&
         absl::string_view(format.str, format.length) == "json";
}

// Commands sent to a server by any Connection of this process.
std::atomic<uint64_t> commands_sent{0};

sql::MysqlError ErrorOf(MYSQL* mysql) {
  return {mysql_errno(mysql), mysql_sqlstate(mysql), mysql_error(mysql)};
}

}  // namespace

uint64_t Connection::CommandsSent() { return commands_sent.load(std::memory_order_relaxed); }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectOptions& options,
                                                             absl::Duration timeout) {
  static std::once_flag library_once;
  std::call_once(library_once, [] { mysql_library_init(0, nullptr, nullptr); });

  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) {
    return absl::ResourceExhaustedError("mysql_init: out of memory");
  }
  const unsigned int connect_timeout = WholeSeconds(timeout);
  mysql_optionsv(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  if (options.read_timeout > absl::ZeroDuration()) {
    const unsigned int t = WholeSeconds(options.read_timeout);
    mysql_optionsv(mysql, MYSQL_OPT_READ_TIMEOUT, &t);
  }
  if (options.write_timeout > absl::ZeroDuration()) {
    const unsigned int t = WholeSeconds(options.write_timeout);
    mysql_optionsv(mysql, MYSQL_OPT_WRITE_TIMEOUT, &t);
  }
  const my_bool off = 0;
  mysql_optionsv(mysql, MYSQL_OPT_RECONNECT, &off);  // the pool heals, not the library
  const unsigned int local_infile = 0;
  mysql_optionsv(mysql, MYSQL_OPT_LOCAL_INFILE, &local_infile);
  mysql_optionsv(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  unsigned int protocol = options.socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
  mysql_optionsv(mysql, MYSQL_OPT_PROTOCOL, &protocol);
  // Before the connect, as Connector/C requires; the default stack for
  // its non-blocking context.
  if (options.nonblocking) mysql_optionsv(mysql, MYSQL_OPT_NONBLOCK, 0);

  const char* db = options.database.empty() ? nullptr : options.database.c_str();
  const char* socket = options.socket.empty() ? nullptr : options.socket.c_str();
  // CLIENT_MULTI_STATEMENTS lets txgate's own commands share a round trip
  // (Query: XA END + XA COMMIT). A caller's SQL always goes through
  // COM_STMT_PREPARE (Start), which the server never lets run more than one
  // statement, whatever this flag says.
  // A socket connection goes to "localhost"; any other host means TCP.
  const char* host = socket != nullptr ? "localhost" : options.host.c_str();
  if (mysql_real_connect(mysql, host, options.user.c_str(), options.password.c_str(), db,
                         options.port, socket,
                         CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS) == nullptr) {
    absl::Status status = sql::ToStatus(ErrorOf(mysql));
    mysql_close(mysql);
    return status;
  }
  std::unique_ptr<Connection> conn(new Connection(mysql, options));
  absl::Status status = conn->ReadIdentity();
  if (status.ok()) status = conn->InitSession();
  if (!status.ok()) return status;
  return conn;
}

Connection::Connection(MYSQL* mysql, const ConnectOptions& options)
    : mysql_(mysql),
      database_(options.database),
      read_only_(options.read_only),
      nonblocking_(options.nonblocking),
      statement_cache_size_(options.statement_cache_size) {
  identity_.thread_id = mysql_thread_id(mysql_);
  socket_ = mysql_get_socket(mysql_);
}

Connection::~Connection() {
  // A healthy idle session gets a COM_QUIT (a write to an idle socket, which
  // does not wait). Otherwise the server may be sending, or may never
  // answer: the shut socket fails every read and write at once. Only the
  // socket Connector/C still has open: after a loss it closed its own, and
  // the descriptor's number may name another connection's by now.
  const my_socket open_socket = mysql_get_socket(mysql_);
  if (open_socket != MARIADB_INVALID_SOCKET && (broken() || pending_result())) {
    broken_.store(true, std::memory_order_release);
    ::shutdown(open_socket, SHUT_RDWR);
  }
  // Reads the rest of an unread result from the (shut) socket: fails at once.
  if (text_result_ != nullptr) mysql_free_result(text_result_);
  // A step still waiting is ended first (its context must not be left
  // suspended): on the shut socket every read fails at once.
  for (int i = 0; i < 100 && async_op_ != AsyncOp::kNone; ++i) {
    int ret = 0;
    const int ready = async_wait_ & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_TIMEOUT);
    async_wait_ = async_op_ == AsyncOp::kExecute ? mysql_stmt_execute_cont(&ret, async_stmt_, ready)
                                                 : mysql_stmt_fetch_cont(&ret, active_, ready);
    if (async_wait_ == 0) async_op_ = AsyncOp::kNone;
  }
  // Detaches every statement (stmt->mysql = NULL): closing them afterwards
  // only frees memory, without COM_STMT_CLOSE (the session's end frees
  // them in the server) and without reading a pending result.
  mysql_close(mysql_);
  CloseStatements();
}

void Connection::CloseStatements() {
  if (active_ != nullptr && !active_cached_) mysql_stmt_close(active_);
  active_ = nullptr;
  has_rows_ = false;
  for (auto& [sql, prepared] : statements_) mysql_stmt_close(prepared.stmt);
  statements_.clear();
  statement_order_.clear();
}

absl::Status Connection::ReadIdentity() {
  const std::string sql = absl::StrCat(db::kSessionIdentitySelect, "CONNECTION_ID()");
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return ConnectionError();
  MYSQL_RES* res = mysql_store_result(mysql_);
  if (res == nullptr) return ConnectionError();
  MYSQL_ROW row = mysql_fetch_row(res);
  unsigned long* lengths = row != nullptr ? mysql_fetch_lengths(res) : nullptr;
  const bool complete = row != nullptr && mysql_num_fields(res) == 4 && row[0] != nullptr &&
                        row[1] != nullptr && row[2] != nullptr && row[3] != nullptr;
  db::SessionIdentity identity;
  bool parsed =
      complete && absl::SimpleAtoi(absl::string_view(row[0], lengths[0]), &identity.thread_id);
  if (parsed) {
    identity.user.assign(row[1], lengths[1]);
    identity.host.assign(row[2], lengths[2]);
    parsed = absl::SimpleAtoi(absl::string_view(row[3], lengths[3]), &identity.server_started);
  }
  mysql_free_result(res);
  if (!parsed) {
    return sql::ToStatus(
        {CR_UNKNOWN_ERROR, "HY000", "the server did not show this session in its process list"});
  }
  identity_ = std::move(identity);
  return absl::OkStatus();
}

absl::Status Connection::InitSession() {
  // One round trip: the session settings, then the packet limit the server
  // holds this session to (fixed for the session's life).
  // A read-only session makes every transaction READ ONLY first.
  const std::string init = read_only_
                               ? absl::StrCat("SET SESSION TRANSACTION READ ONLY; ", kSessionInit)
                               : std::string(kSessionInit);
  absl::Status status;
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_real_query(mysql_, init.data(), init.size()) != 0) {
    status = ConnectionError();
  } else {
    do {
      if (mysql_field_count(mysql_) == 0) continue;
      MYSQL_RES* res = mysql_store_result(mysql_);
      if (res == nullptr) break;
      MYSQL_ROW row = mysql_fetch_row(res);
      unsigned long* lengths = row != nullptr ? mysql_fetch_lengths(res) : nullptr;
      if (row != nullptr && row[0] != nullptr) {
        (void)absl::SimpleAtoi(absl::string_view(row[0], lengths[0]), &max_allowed_packet_);
      }
      default_collation_ = row != nullptr && mysql_num_fields(res) > 1 && row[1] != nullptr &&
                           absl::string_view(row[1], lengths[1]) == "1";
      mysql_free_result(res);
    } while (mysql_more_results(mysql_) && mysql_next_result(mysql_) == 0);
    if (mysql_errno(mysql_) != 0) status = ConnectionError();
  }
  session_changed_ = false;
  fresh_ = status.ok();
  return status;
}

absl::Status Connection::Track(absl::Status status) {
  if (!status.ok() && sql::IsConnectionLost(status)) {
    broken_.store(true, std::memory_order_release);
  }
  std::optional<sql::MysqlError> e = sql::GetMysqlError(status);
  if (e.has_value() && sql::IsPacketTooLargeErrno(e->errnum)) {
    // The server closes the connection after a packet it would not read.
    broken_.store(true, std::memory_order_release);
    return sql::WithMetadata(
        sql::Annotate(status, absl::StrCat("over the database server's max_allowed_packet (",
                                           max_allowed_packet_, " bytes): ")),
        "max_allowed_packet", absl::StrCat(max_allowed_packet_));
  }
  return status;
}

absl::Status Connection::ConnectionError() { return Track(sql::ToStatus(ErrorOf(mysql_))); }

absl::Status Connection::StatementError(MYSQL_STMT* stmt) {
  // An error that arrives while rows are fetched (a KILL, a lost
  // connection, an error the server raises mid-result) can be left on the
  // connection rather than the statement: report whichever holds it.
  if (mysql_stmt_errno(stmt) == 0 && mysql_errno(mysql_) != 0) return ConnectionError();
  if (mysql_stmt_errno(stmt) == 0) {
    // A failure with no error at all: the protocol state is unknown, so the
    // connection must not be used again.
    broken_.store(true, std::memory_order_release);
    return sql::ToStatus({CR_UNKNOWN_ERROR, "HY000",
                          "the client library reported a failure without an error; the "
                          "connection was discarded"});
  }
  return Track(
      sql::ToStatus({mysql_stmt_errno(stmt), mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt)}));
}

bool Connection::LastCommandChangedSession() {
  // The trackers keep the last record until another one comes, so ask the
  // server status of this very command first.
  unsigned int status = 0;
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_SERVER_STATUS, &status);
  if ((status & SERVER_SESSION_STATE_CHANGED) == 0) return false;
  const char* data = nullptr;
  size_t length = 0;
  // The transaction state (MySQL's format, 8 characters: T/I/_, then r R w W
  // s S L or _): a 'w' in the fourth place says a non-transactional table
  // was written in this transaction. It is no session state to reset.
  const bool transaction_reported =
      mysql_session_track_get_first(mysql_, SESSION_TRACK_TRANSACTION_STATE, &data, &length) == 0;
  if (transaction_reported && length >= 4 && data[3] == 'w') nontransactional_write_ = true;
  // System variables come as name, value, name, value...: @@last_gtid
  // (a commit's GTID) is kept, any other is a change of the session.
  bool variable_changed = false;
  if (mysql_session_track_get_first(mysql_, SESSION_TRACK_SYSTEM_VARIABLES, &data, &length) == 0) {
    do {
      const absl::string_view name(data, length);
      if (mysql_session_track_get_next(mysql_, SESSION_TRACK_SYSTEM_VARIABLES, &data, &length) !=
          0) {
        variable_changed = true;  // a name without its value: take it as a change
        break;
      }
      if (name == kLastGtid) {
        // The server also reports the session's unchanged @@last_gtid
        // after a statement that logged nothing (an UPDATE that matched no
        // row): only a new value names a commit of this command.
        const absl::string_view gtid(data, length);
        if (!gtid.empty() && gtid != last_gtid_) {
          last_gtid_.assign(gtid.data(), gtid.size());
          commit_gtid_ = last_gtid_;
        }
      } else {
        variable_changed = true;
      }
    } while (mysql_session_track_get_next(mysql_, SESSION_TRACK_SYSTEM_VARIABLES, &data, &length) ==
             0);
  }
  if (variable_changed) return true;
  for (enum_session_state_type type :
       {SESSION_TRACK_SCHEMA, SESSION_TRACK_GTIDS, SESSION_TRACK_TRANSACTION_CHARACTERISTICS}) {
    if (mysql_session_track_get_first(mysql_, type, &data, &length) == 0) return true;
  }
  // The generic state-change record comes with every other record, the
  // transaction state's too: alone it means a change nothing else names
  // (user variables, temporary tables, prepared statements, ...). Next to
  // a transaction state record it cannot be told apart; such statements
  // are judged by their text (sql::SessionEffectsOf) — README, "Session
  // state", Known limits.
  return !transaction_reported &&
         mysql_session_track_get_first(mysql_, SESSION_TRACK_STATE_CHANGE, &data, &length) == 0;
}

bool Connection::InTransaction() {
  unsigned int status = 0;
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_SERVER_STATUS, &status);
  return (status & SERVER_STATUS_IN_TRANS) != 0;
}

std::string Connection::BeginSql(const db::TransactionStart& start, int* statements) {
  std::string sql;
  *statements = 1;
  if (start.xa) {
    // XA START takes no access mode: the next transaction's is set first,
    // in one SET TRANSACTION with the isolation level.
    if (!start.isolation.empty()) {
      absl::StrAppend(&sql, start.isolation, start.read_only ? ", READ ONLY; " : "; ");
      *statements = 2;
    } else if (start.read_only) {
      absl::StrAppend(&sql, "SET TRANSACTION READ ONLY; ");
      *statements = 2;
    }
    xid_ = absl::StrCat("txgate-", identity_.thread_id, "-",
                        absl::Hex(absl::Uniform<uint64_t>(random_), absl::kZeroPad16));
    absl::StrAppend(&sql, "XA START '", xid_, "'");
  } else {
    if (!start.isolation.empty()) {
      absl::StrAppend(&sql, start.isolation, "; ");
      *statements = 2;
    }
    absl::StrAppend(&sql, start.read_only ? "START TRANSACTION READ ONLY" : "START TRANSACTION");
  }
  return sql;
}

absl::Status Connection::BeginTransaction(const db::TransactionStart& start) {
  nontransactional_write_ = false;
  int statements = 0;
  const std::string sql = BeginSql(start, &statements);
  absl::Status status = QueryKeepingSessionMark(sql);
  if (!status.ok()) {
    // The commands after a failed one did not run: no transaction is open,
    // but a next transaction's isolation level or access mode may be set.
    xid_.clear();
    RequireReset();
  }
  return status;
}

absl::Status Connection::QueryKeepingSessionMark(absl::string_view sql) {
  // txgate's own transaction control changes no session state but the
  // transaction; the state-change records its replies carry (the
  // transaction state's, and what a statement that returned rows left
  // pending) say nothing the caller's statements did not.
  const bool changed = session_changed_;
  absl::Status status = Query(sql);
  session_changed_ = changed;
  return status;
}

std::string Connection::CommitSql() const {
  if (xid_.empty()) return "COMMIT";
  return absl::StrCat("XA END '", xid_, "'; XA COMMIT '", xid_, "' ONE PHASE");
}

absl::Status Connection::CommitTransaction() {
  absl::Status status = QueryKeepingSessionMark(CommitSql());
  if (status.ok()) xid_.clear();
  return status;
}

absl::Status Connection::CommitTransactionAfter(absl::string_view sql) {
  absl::Status status = QueryKeepingSessionMark(absl::StrCat(sql, "; ", CommitSql()));
  if (status.ok()) xid_.clear();
  return status;
}

absl::Status Connection::RollbackTransaction() {
  if (xid_.empty()) return QueryKeepingSessionMark("ROLLBACK");
  absl::Status status =
      QueryKeepingSessionMark(absl::StrCat("XA END '", xid_, "'; XA ROLLBACK '", xid_, "'"));
  if (!status.ok() && !broken()) {
    // XA END fails once the server marked the transaction rollback-only
    // (a deadlock), and on an xid that no longer exists; XA ROLLBACK alone
    // settles the first, and the second needs nothing.
    const unsigned int first = mysql_errno(mysql_);
    status = QueryKeepingSessionMark(absl::StrCat("XA ROLLBACK '", xid_, "'"));
    if (!status.ok() && !broken() && first == ER_XAER_NOTA && mysql_errno(mysql_) == ER_XAER_NOTA) {
      status = InTransaction() ? QueryKeepingSessionMark("ROLLBACK") : absl::OkStatus();
    }
  }
  if (status.ok()) xid_.clear();
  return status;
}

bool Connection::HasOpenTransaction() { return !xid_.empty() || InTransaction(); }

// Connector/C reports CR_SERVER_GONE_ERROR (2006) when it could not send a
// command; a command that failed later (CR_SERVER_LOST, ...) may have run.
constexpr unsigned int kCommandNotSent = CR_SERVER_GONE_ERROR;

absl::Status Connection::Query(absl::string_view sql) {
  DrainPending();
  maybe_executed_ = true;
  fresh_ = false;
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) {
    maybe_executed_ = mysql_errno(mysql_) != kCommandNotSent;
    return ConnectionError();
  }
  do {
    if (mysql_field_count(mysql_) > 0) {
      MYSQL_RES* res = mysql_store_result(mysql_);
      if (res == nullptr) return ConnectionError();
      mysql_free_result(res);
    }
    if (LastCommandChangedSession()) session_changed_ = true;
  } while (mysql_more_results(mysql_) && mysql_next_result(mysql_) == 0);
  if (mysql_errno(mysql_) != 0) return ConnectionError();
  return absl::OkStatus();
}

void Connection::Forget(absl::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) return;
  mysql_stmt_close(it->second.stmt);
  statements_.erase(it);
  statement_order_.erase(std::find(statement_order_.begin(), statement_order_.end(), sql));
}

absl::StatusOr<Connection::Prepared> Connection::Prepare(absl::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  Prepared p;
  for (int attempt = 0;; ++attempt) {
    p.stmt = mysql_stmt_init(mysql_);
    if (p.stmt == nullptr) return ConnectionError();
    commands_sent.fetch_add(1, std::memory_order_relaxed);
    if (mysql_stmt_prepare(p.stmt, sql.data(), sql.size()) == 0) break;
    absl::Status status = StatementError(p.stmt);
    const bool too_many = mysql_stmt_errno(p.stmt) == ER_MAX_PREPARED_STMT_COUNT_REACHED;
    mysql_stmt_close(p.stmt);
    // The server's max_prepared_stmt_count is shared by every client: give
    // back what this connection holds and try once more.
    if (!too_many || attempt > 0 || statements_.empty()) return status;
    CloseStatements();
  }
  // A statement is re-runnable when running it twice is harmless (a read
  // with no session effects); only such statements, and statements without
  // a result set, are cached: after DDL changes the number of columns,
  // Connector/C refuses the cached statement (2057) once it has run.
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  p.rerunnable = (kind.read_only || kind.locking_read) && !kind.session.leaves_state;
  p.cached = p.rerunnable || mysql_stmt_field_count(p.stmt) == 0;
  if (!p.cached || statement_cache_size_ == 0) {
    p.cached = false;
    return p;
  }
  if (statements_.size() >= statement_cache_size_ && !statement_order_.empty()) {
    auto victim = statements_.find(statement_order_.front());
    mysql_stmt_close(victim->second.stmt);
    statements_.erase(victim);
    statement_order_.erase(statement_order_.begin());
  }
  statements_.emplace(std::string(sql), p);
  statement_order_.emplace_back(sql);
  return p;
}

absl::Status Connection::Start(absl::string_view sql, const db::Params& params) {
  DrainPending();
  fresh_ = false;
  maybe_executed_ = false;
  if (max_allowed_packet_ > 0 && sql.size() + 16 > max_allowed_packet_) {
    return PacketTooLarge(sql.size() + 16, max_allowed_packet_, /*sent=*/false);
  }
  absl::StatusOr<Prepared> prepared = Prepare(sql);
  if (!prepared.ok()) return prepared.status();
  const unsigned long expected = mysql_stmt_param_count(prepared->stmt);
  const uint64_t packet = ExecutePacketBytes(params);
  if (max_allowed_packet_ > 0 && packet > max_allowed_packet_) {
    if (!prepared->cached) mysql_stmt_close(prepared->stmt);
    return PacketTooLarge(packet, max_allowed_packet_, /*sent=*/false);
  }
  if (expected != static_cast<unsigned long>(params.size())) {
    if (!prepared->cached) mysql_stmt_close(prepared->stmt);
    return sql::MakeStatus(
        absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST,
        absl::StrCat("the statement has ", expected, " parameter placeholders but ", params.size(),
                     " parameters were given"));
  }
  if (absl::Status s = params_.Bind(params); !s.ok()) {
    if (!prepared->cached) mysql_stmt_close(prepared->stmt);
    return s;
  }
  absl::Status status = Execute(*prepared);
  if (!status.ok() && max_allowed_packet_ > 0 && packet + kPacketSlack > max_allowed_packet_ &&
      sql::IsConnectionLost(status)) {
    // Lost right after a send at the packet limit: the server dropped it
    // for its size, and would again; not a loss to heal.
    broken_.store(true, std::memory_order_release);
    maybe_executed_ = false;
    return PacketTooLarge(packet, max_allowed_packet_, /*sent=*/true);
  }
  if (!status.ok() && prepared->cached && prepared->rerunnable &&
      mysql_stmt_errno(prepared->stmt) == CR_NEW_STMT_METADATA) {
    // DDL since the prepare changed the number of columns. The statement
    // is a read with no session effects: prepare it anew and run it again.
    Forget(sql);
    prepared = Prepare(sql);
    if (!prepared.ok()) return prepared.status();
    status = Execute(*prepared);
  }
  return status;
}

absl::Status Connection::Execute(const Prepared& p) {
  if (params_.size() > 0 && mysql_stmt_bind_param(p.stmt, params_.binds()) != 0) {
    absl::Status status = StatementError(p.stmt);
    if (!p.cached) mysql_stmt_close(p.stmt);
    return status;
  }
  maybe_executed_ = true;
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_stmt_execute(p.stmt) != 0) {
    maybe_executed_ = mysql_stmt_errno(p.stmt) != kCommandNotSent;
    absl::Status status = StatementError(p.stmt);
    if (!p.cached) mysql_stmt_close(p.stmt);
    return status;
  }
  active_ = p.stmt;
  active_cached_ = p.cached;
  active_stale_ = false;
  return BeginResult();
}

absl::Status Connection::BeginResult() {
  has_rows_ = false;
  eof_warnings_ = 0;
  out_params_ = (mysql_->server_status & SERVER_PS_OUT_PARAMS) != 0;
  const unsigned int columns = mysql_stmt_field_count(active_);
  if (columns == 0) {
    decoder_.Reset({});
    return absl::OkStatus();
  }
  // The column definitions the server sent with this execution. Connector/C
  // copies their types into the statement but keeps the names it had at
  // prepare time (mariadb_stmt.c, stmt_read_execute_response), so after DDL
  // that reorders or renames columns of the same count only these are true.
  const MYSQL_FIELD* f = mysql_->field_count == columns && mysql_->fields != nullptr
                             ? mysql_->fields
                             : active_->fields;
  // When they differ, the statement's own copy is stale: the server sends
  // the new definitions once after it re-prepared the statement (with
  // MariaDB's metadata caching, not again), so this statement is prepared
  // anew next time.
  for (unsigned int i = 0; f != active_->fields && i < columns; ++i) {
    if (absl::string_view(f[i].name, f[i].name_length) !=
        absl::string_view(active_->fields[i].name, active_->fields[i].name_length)) {
      active_stale_ = true;
    }
  }
  std::vector<sql::FieldInfo> fields(columns);
  for (unsigned int i = 0; i < columns; ++i) {
    fields[i].name.assign(f[i].name, f[i].name_length);
    fields[i].type = f[i].type;
    fields[i].flags = f[i].flags;
    fields[i].charsetnr = f[i].charsetnr;
    fields[i].length = f[i].length;
    fields[i].decimals = f[i].decimals;
    // MariaDB's extended metadata (JSON) comes only with the statement's
    // own copy of the column, valid while the column is the same one.
    fields[i].json =
        IsJson(f[i]) || (f != active_->fields && i < active_->field_count &&
                         fields[i].name == absl::string_view(active_->fields[i].name,
                                                             active_->fields[i].name_length) &&
                         IsJson(active_->fields[i]));
  }
  decoder_.Reset(std::move(fields));
  if (mysql_stmt_bind_result(active_, decoder_.binds()) != 0) return StatementError(active_);
  has_rows_ = true;
  return absl::OkStatus();
}

void Connection::AppendColumns(google::protobuf::RepeatedPtrField<txgate::v1::Column>* out) const {
  for (const sql::FieldInfo& f : decoder_.fields()) *out->Add() = sql::ColumnOf(f);
}

absl::StatusOr<bool> Connection::Next(txgate::v1::Row* row, size_t* bytes) {
  if (batch_) {
    if (text_result_ == nullptr || !has_rows_) return false;
    MYSQL_ROW r = mysql_fetch_row(text_result_);
    if (r == nullptr) {
      has_rows_ = false;
      if (mysql_errno(mysql_) != 0) return ConnectionError();
      ReadEndOfRows();
      return false;
    }
    const unsigned long* lengths = mysql_fetch_lengths(text_result_);
    const std::vector<sql::FieldInfo>& fields = decoder_.fields();
    size_t total = 0;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (!sql::TextValue(fields[i], r[i], lengths[i], row->add_values())) {
        return sql::ToStatus({CR_UNKNOWN_ERROR, "HY000",
                              absl::StrCat("column ", i + 1, " (", sql::TypeName(fields[i]),
                                           ") sent a text value txgate cannot read")});
      }
      total += 8 + (r[i] != nullptr ? lengths[i] : 0);
    }
    *bytes += total;
    return true;
  }
  if (active_ == nullptr || !has_rows_) return false;
  return Fetched(mysql_stmt_fetch(active_), row, bytes);
}

absl::StatusOr<bool> Connection::Fetched(int rc, txgate::v1::Row* row, size_t* bytes) {
  if (rc == MYSQL_NO_DATA) {
    has_rows_ = false;
    ReadEndOfRows();
    return false;
  }
  if (rc == 1) {
    // An error packet or a lost connection ended the result: nothing of it
    // is left to read.
    has_rows_ = false;
    return StatementError(active_);
  }
  if (rc == MYSQL_DATA_TRUNCATED || rc == 0) {
    const std::vector<int> truncated = decoder_.Truncated();
    for (int col : truncated) {
      decoder_.Grow(col);
      if (mysql_stmt_fetch_column(active_, &decoder_.binds()[col], col, 0) != 0) {
        return StatementError(active_);
      }
    }
    if (!truncated.empty() && mysql_stmt_bind_result(active_, decoder_.binds()) != 0) {
      return StatementError(active_);
    }
  }
  decoder_.Decode(row, bytes);
  // A large value's buffer moved into the row: the next fetch needs the new one.
  if (decoder_.TakeRebind() && mysql_stmt_bind_result(active_, decoder_.binds()) != 0) {
    return StatementError(active_);
  }
  return true;
}

void Connection::ReadEndOfRows() {
  // Connector/C reads the EOF packet that ends unbuffered rows but keeps
  // neither its warning count nor its server status (it does for buffered
  // rows, mthd_stmt_read_all_rows); the packet is still in the read buffer.
  // Without this, a SELECT's warnings would be lost, a CALL's further result
  // sets unseen, and a state change in a statement returning rows unknown.
  const unsigned char* p = mysql_->net.read_pos;
  if (p == nullptr || p[0] != 254) return;
  eof_warnings_ = static_cast<uint32_t>(p[1] | (p[2] << 8));
  const unsigned int status = static_cast<unsigned int>(p[3] | (p[4] << 8));
  mysql_->warning_count = eof_warnings_;
  mysql_->server_status = status;
  // Inside a transaction the flag also comes with every change of the
  // transaction state (a result set sent, a first read), which this packet
  // cannot tell apart; there the statement's text decides
  // (sql::SessionEffectsOf: a row-returning statement that can change
  // session state is not plain).
  if ((status & SERVER_SESSION_STATE_CHANGED) != 0 && (status & SERVER_STATUS_IN_TRANS) == 0) {
    session_changed_ = true;
  }
}

absl::StatusOr<ExecSummary> Connection::Done() {
  ExecSummary summary;
  if (batch_) {
    if (text_result_ != nullptr) {
      // Unread rows must leave the socket before the next result.
      EndTextResult();
      if (mysql_errno(mysql_) != 0) return ConnectionError();
      summary.warning_count = eof_warnings_;
    } else {
      const my_ulonglong affected = mysql_affected_rows(mysql_);
      summary.affected_rows = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
      summary.last_insert_id = mysql_insert_id(mysql_);
      summary.warning_count = mysql_warning_count(mysql_);
      if (LastCommandChangedSession()) session_changed_ = true;
    }
    if (!mysql_more_results(mysql_)) batch_ = false;
    return summary;
  }
  if (active_ == nullptr) return summary;
  MYSQL_STMT* stmt = active_;
  if (mysql_stmt_field_count(stmt) > 0) {
    if (has_rows_) {
      has_rows_ = false;
      // Unread rows must leave the socket before the next command.
      if (mysql_stmt_free_result(stmt) != 0) return StatementError(stmt);
    }
    // A result set changes no rows and generates no id of its own.
    summary.warning_count = eof_warnings_;
  } else {
    const my_ulonglong affected = mysql_stmt_affected_rows(stmt);
    summary.affected_rows = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
    summary.last_insert_id = mysql_stmt_insert_id(stmt);
    summary.warning_count = mysql_warning_count(mysql_);
    if (LastCommandChangedSession()) session_changed_ = true;
  }
  if (!mysql_stmt_more_results(stmt)) FinishStatement();
  return summary;
}

bool Connection::pending_result() const {
  if (batch_ || async_op_ != AsyncOp::kNone) return true;
  return active_ != nullptr && (has_rows_ || mysql_->status != MYSQL_STATUS_READY ||
                                (mysql_->server_status & SERVER_MORE_RESULTS_EXIST) != 0);
}

bool Connection::more_results() const {
  // A batch's results are reached by NextResult, one per statement.
  return !batch_ && active_ != nullptr && !has_rows_ && mysql_stmt_more_results(active_);
}

absl::Status Connection::NextResult() {
  if (batch_) {
    EndTextResult();
    if (!mysql_more_results(mysql_)) {
      batch_ = false;
      return sql::ToStatus(
          {CR_UNKNOWN_ERROR, "HY000", "the batch ended before its last statement"});
    }
    if (mysql_next_result(mysql_) != 0) {
      // That statement failed (or the connection did): the server runs
      // nothing after it.
      batch_ = false;
      return ConnectionError();
    }
    return BeginTextResult();
  }
  if (active_ == nullptr) return absl::OkStatus();
  const int rc = mysql_stmt_next_result(active_);
  if (rc > 0) return StatementError(active_);
  if (rc < 0) {
    FinishStatement();
    return absl::OkStatus();
  }
  return BeginResult();
}

void Connection::FinishStatement() {
  MYSQL_STMT* stmt = std::exchange(active_, nullptr);
  has_rows_ = false;
  out_params_ = false;
  if (stmt == nullptr) return;
  if (active_cached_ && std::exchange(active_stale_, false)) {
    for (const auto& [sql, prepared] : statements_) {
      if (prepared.stmt == stmt) {
        Forget(std::string(sql));
        return;
      }
    }
  }
  if (!active_cached_) mysql_stmt_close(stmt);
}

void Connection::DrainPending() {
  {
    txgate::v1::Row row;
    size_t bytes = 0;
    while (async_op_ != AsyncOp::kNone) {
      absl::StatusOr<Step> step = Resume(absl::InfiniteDuration(), &row, &bytes);
      if (!step.ok()) break;
    }
  }
  if (batch_) {
    EndTextResult();
    // What the statements after the current one did still counts.
    while (mysql_more_results(mysql_) && mysql_next_result(mysql_) == 0) {
      if (mysql_field_count(mysql_) > 0) {
        if (MYSQL_RES* res = mysql_use_result(mysql_); res != nullptr) mysql_free_result(res);
      }
      if (LastCommandChangedSession()) session_changed_ = true;
    }
    batch_ = false;
  }
  if (active_ == nullptr) return;
  if (has_rows_) {
    has_rows_ = false;
    (void)mysql_stmt_free_result(active_);
  }
  while (mysql_stmt_more_results(active_) && mysql_stmt_next_result(active_) == 0) {
    if (mysql_stmt_field_count(active_) > 0) (void)mysql_stmt_free_result(active_);
  }
  FinishStatement();
}

absl::StatusOr<std::optional<std::string>> Connection::BatchText(absl::string_view sql,
                                                                 const db::Params& params) {
  using Text = std::optional<std::string>;
  // The bind's own refusals (no kind, an impossible date) come first, as
  // from Start.
  if (absl::Status s = params_.Bind(params); !s.ok()) return s;
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  // A CALL answers several results; a statement that may change session
  // state (sql_mode among it) could change how the server reads the
  // statements after it; executable comments hide code.
  if (kind.calls_procedure || kind.opaque || kind.session.leaves_state) return Text();
  unsigned int status = 0;
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_SERVER_STATUS, &status);
  // Under NO_BACKSLASH_ESCAPES a backslash in a string ends it elsewhere
  // than sql::Lex (MySQL's default escaping) sees.
  if ((status & SERVER_STATUS_NO_BACKSLASH_ESCAPES) != 0 &&
      sql.find('\\') != absl::string_view::npos) {
    return Text();
  }
  if (!default_collation_) {
    for (const txgate::v1::Value& v : params) {
      if (v.has_string_value() || v.has_json_value()) return Text();
    }
  }
  if (max_allowed_packet_ > 0 && sql.size() + 16 > max_allowed_packet_) return Text();
  // The server's parse is the truth: one statement, this many
  // placeholders, these columns. A failure is Start's to answer.
  DrainPending();
  if (std::exchange(forget_statements_, false)) CloseStatements();
  absl::StatusOr<Prepared> prepared = Prepare(sql);
  if (!prepared.ok()) return Text();
  if (!prepared->cached) {
    mysql_stmt_close(prepared->stmt);
    return Text();
  }
  MYSQL_STMT* stmt = prepared->stmt;
  if (mysql_stmt_param_count(stmt) != static_cast<unsigned long>(params.size())) return Text();
  for (unsigned int i = 0; i < stmt->field_count; ++i) {
    const MYSQL_FIELD& f = stmt->fields[i];
    sql::FieldInfo info;
    info.type = f.type;
    info.flags = f.flags;
    info.charsetnr = f.charsetnr;
    info.length = f.length;
    info.decimals = f.decimals;
    if (!sql::TextIdentical(info)) return Text();
  }
  if (stmt->field_count > 0 && !params.empty() && !sql::PlaceholdersOnlyFilter(sql)) {
    return Text();
  }
  const std::vector<sql::Token> tokens = sql::Lex(sql);
  // Up to its last code token: a trailing ';' or comment could end or
  // swallow what follows it in the batch.
  size_t end = 0;
  for (const sql::Token& t : tokens) {
    if (!(t.kind == sql::Tok::kOther && t.end > 0 && sql[t.end - 1] == ';')) end = t.end;
  }
  std::vector<sql::Placeholder> placeholders = sql::Placeholders(sql.substr(0, end));
  if (placeholders.size() != static_cast<size_t>(params.size())) return Text();
  return sql::InlineParams(sql.substr(0, end), placeholders, params);
}

bool Connection::BatchFits(size_t bytes) const {
  const uint64_t limit = max_allowed_packet_ > 0 ? max_allowed_packet_ : (1 << 20);
  return bytes + kPacketSlack < limit;
}

absl::Status Connection::BeginTransactionWithBatch(const db::TransactionStart& start,
                                                   const std::vector<std::string>& statements) {
  DrainPending();
  fresh_ = false;
  nontransactional_write_ = false;
  int opening = 0;
  std::string sql = BeginSql(start, &opening);
  for (const std::string& statement : statements) absl::StrAppend(&sql, ";\n", statement);
  // The opening changes no session state but the transaction.
  const bool changed = session_changed_;
  absl::Status status;
  maybe_executed_ = true;
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) {
    maybe_executed_ = mysql_errno(mysql_) != kCommandNotSent;
    status = ConnectionError();
  }
  for (int i = 1; status.ok() && i < opening; ++i) {
    if (mysql_next_result(mysql_) != 0) status = ConnectionError();
  }
  session_changed_ = changed;
  if (!status.ok()) {
    // The server ran nothing after the failed command.
    xid_.clear();
    RequireReset();
    return status;
  }
  batch_ = !statements.empty() && mysql_more_results(mysql_);
  return absl::OkStatus();
}

absl::Status Connection::BeginTextResult() {
  has_rows_ = false;
  eof_warnings_ = 0;
  out_params_ = false;
  const unsigned int columns = mysql_field_count(mysql_);
  if (columns == 0) {
    decoder_.Reset({});
    return absl::OkStatus();
  }
  text_result_ = mysql_use_result(mysql_);
  if (text_result_ == nullptr) return ConnectionError();
  const MYSQL_FIELD* f = mysql_fetch_fields(text_result_);
  std::vector<sql::FieldInfo> fields(columns);
  for (unsigned int i = 0; i < columns; ++i) {
    fields[i].name.assign(f[i].name, f[i].name_length);
    fields[i].type = f[i].type;
    fields[i].flags = f[i].flags;
    fields[i].charsetnr = f[i].charsetnr;
    fields[i].length = f[i].length;
    fields[i].decimals = f[i].decimals;
    fields[i].json = IsJson(f[i]);
    if (!sql::TextIdentical(fields[i])) {
      forget_statements_ = true;
      has_rows_ = true;  // read and freed by the drain
      return db::BatchStale(absl::StrCat("column ", i + 1, " of a batched statement is now ",
                                         sql::TypeName(fields[i]),
                                         ", which its check did not see; run again"));
    }
  }
  decoder_.Reset(std::move(fields));
  has_rows_ = true;
  return absl::OkStatus();
}

void Connection::EndTextResult() {
  has_rows_ = false;
  if (text_result_ == nullptr) return;
  mysql_free_result(std::exchange(text_result_, nullptr));
}

bool Connection::IdleAlive() const {
  if (broken() || socket_ < 0) return false;
  pollfd pfd{socket_, POLLIN | POLLRDHUP, 0};
  // An idle session has nothing to read: any event means it is gone.
  return ::poll(&pfd, 1, 0) == 0;
}

absl::Status Connection::Ping() {
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_ping(mysql_) != 0) return ConnectionError();
  return absl::OkStatus();
}

absl::Status Connection::ResetSession() {
  CloseStatements();
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_reset_connection(mysql_) != 0) return ConnectionError();
  if (!database_.empty()) {
    commands_sent.fetch_add(1, std::memory_order_relaxed);
    if (mysql_select_db(mysql_, database_.c_str()) != 0) return ConnectionError();
  } else if (absl::Status s = ExpectNoSchema(); !s.ok()) {
    return s;
  }
  return InitSession();
}

absl::Status Connection::ExpectNoSchema() {
  commands_sent.fetch_add(1, std::memory_order_relaxed);
  if (mysql_real_query(mysql_, "SELECT DATABASE() IS NULL", 25) != 0) return ConnectionError();
  MYSQL_RES* res = mysql_store_result(mysql_);
  if (res == nullptr) return ConnectionError();
  MYSQL_ROW row = mysql_fetch_row(res);
  const bool none = row != nullptr && row[0] != nullptr && row[0][0] == '1';
  mysql_free_result(res);
  if (none) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "the session's default schema was changed and no --mysql_database is configured to "
      "restore: the connection is closed instead");
}

void Connection::Interrupt() {
  broken_.store(true, std::memory_order_release);
  if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
}

}  // namespace txgate::mysql

namespace txgate::mysql {
namespace {

// poll(2) events for what Connector/C waits on (MYSQL_WAIT_* flags).
short PollEvents(int wait) {
  short events = 0;
  if ((wait & MYSQL_WAIT_READ) != 0) events |= POLLIN;
  if ((wait & MYSQL_WAIT_WRITE) != 0) events |= POLLOUT;
  if ((wait & MYSQL_WAIT_EXCEPT) != 0) events |= POLLPRI;
  return events;
}

}  // namespace

absl::StatusOr<db::Connection::Step> Connection::StartAsync(absl::string_view sql,
                                                            const db::Params& params) {
  if (!nonblocking_ || async_op_ != AsyncOp::kNone || active_ != nullptr || broken()) {
    return Step::kNotEligible;
  }
  auto it = statements_.find(sql);
  if (it == statements_.end() || !it->second.rerunnable) return Step::kNotEligible;
  MYSQL_STMT* stmt = it->second.stmt;
  if (mysql_stmt_param_count(stmt) != static_cast<unsigned long>(params.size())) {
    return Step::kNotEligible;
  }
  const uint64_t packet = ExecutePacketBytes(params);
  if (max_allowed_packet_ > 0 && packet + kPacketSlack > max_allowed_packet_) {
    return Step::kNotEligible;
  }
  if (!params_.Bind(params).ok()) return Step::kNotEligible;
  fresh_ = false;
  maybe_executed_ = false;
  if (params_.size() > 0 && mysql_stmt_bind_param(stmt, params_.binds()) != 0) {
    return StatementError(stmt);
  }
  maybe_executed_ = true;
  int ret = 0;
  const int wait = mysql_stmt_execute_start(&ret, stmt);
  if (wait != 0) {
    async_op_ = AsyncOp::kExecute;
    async_wait_ = wait;
    async_stmt_ = stmt;
    return Step::kWaiting;
  }
  return ExecuteEnded(stmt, /*cached=*/true, ret);
}

absl::StatusOr<db::Connection::Step> Connection::ExecuteEnded(MYSQL_STMT* stmt, bool cached,
                                                              int ret) {
  async_op_ = AsyncOp::kNone;
  async_wait_ = 0;
  async_stmt_ = nullptr;
  if (ret != 0) {
    const unsigned int errnum = mysql_stmt_errno(stmt);
    maybe_executed_ = errnum != kCommandNotSent;
    absl::Status status = StatementError(stmt);
    if (errnum == CR_NEW_STMT_METADATA && cached) {
      // DDL changed its columns: Start() prepares it anew.
      for (const auto& [text, prepared] : statements_) {
        if (prepared.stmt == stmt) {
          Forget(std::string(text));
          break;
        }
      }
    }
    return status;
  }
  active_ = stmt;
  active_cached_ = cached;
  active_stale_ = false;
  if (absl::Status s = BeginResult(); !s.ok()) return s;
  return Step::kStarted;
}

absl::StatusOr<db::Connection::Step> Connection::NextAsync(txgate::v1::Row* row, size_t* bytes) {
  if (async_op_ != AsyncOp::kNone) return absl::FailedPreconditionError("a step is waiting");
  if (active_ == nullptr || !has_rows_) return Step::kEnd;
  if (!nonblocking_) return db::Connection::NextAsync(row, bytes);
  int rc = 0;
  const int wait = mysql_stmt_fetch_start(&rc, active_);
  if (wait != 0) {
    async_op_ = AsyncOp::kFetch;
    async_wait_ = wait;
    return Step::kWaiting;
  }
  absl::StatusOr<bool> more = Fetched(rc, row, bytes);
  if (!more.ok()) return more.status();
  return *more ? Step::kRow : Step::kEnd;
}

absl::StatusOr<db::Connection::Step> Connection::Resume(absl::Duration wait, txgate::v1::Row* row,
                                                        size_t* bytes) {
  if (async_op_ == AsyncOp::kNone) return absl::FailedPreconditionError("no step is waiting");
  // How long to wait: `wait`, or less when the library's own timeout (its
  // read timeout) comes first, which it is then told.
  absl::Duration limit = wait;
  bool library_timeout = false;
  if ((async_wait_ & MYSQL_WAIT_TIMEOUT) != 0) {
    const absl::Duration t = absl::Milliseconds(mysql_get_timeout_value_ms(mysql_));
    if (t <= limit) {
      limit = t;
      library_timeout = true;
    }
  }
  pollfd pfd{mysql_get_socket(mysql_), PollEvents(async_wait_), 0};
  timespec ts = absl::ToTimespec(std::max(limit, absl::ZeroDuration()));
  const int n = ::ppoll(&pfd, 1, limit == absl::InfiniteDuration() ? nullptr : &ts, nullptr);
  int ready = 0;
  if (n < 0) return Step::kWaiting;  // EINTR: the caller asks again
  if (n == 0) {
    if (!library_timeout) return Step::kWaiting;
    ready = MYSQL_WAIT_TIMEOUT;
  } else {
    if ((pfd.revents & POLLIN) != 0) ready |= MYSQL_WAIT_READ;
    if ((pfd.revents & POLLOUT) != 0) ready |= MYSQL_WAIT_WRITE;
    if ((pfd.revents & POLLPRI) != 0) ready |= MYSQL_WAIT_EXCEPT;
    // A closed or failed socket: let the library's read or write see it.
    if ((pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      ready |= async_wait_ & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
    }
  }
  int ret = 0;
  if (async_op_ == AsyncOp::kExecute) {
    const int again = mysql_stmt_execute_cont(&ret, async_stmt_, ready);
    if (again != 0) {
      async_wait_ = again;
      return Step::kWaiting;
    }
    return ExecuteEnded(async_stmt_, /*cached=*/true, ret);
  }
  const int again = mysql_stmt_fetch_cont(&ret, active_, ready);
  if (again != 0) {
    async_wait_ = again;
    return Step::kWaiting;
  }
  async_op_ = AsyncOp::kNone;
  async_wait_ = 0;
  absl::StatusOr<bool> more = Fetched(ret, row, bytes);
  if (!more.ok()) return more.status();
  return *more ? Step::kRow : Step::kEnd;
}

}  // namespace txgate::mysql
