#include "tests/unit/fake_database.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/db/session_identity.h"
#include "server/sql/error.h"

namespace txgate::testing {

txgate::v1::Value Int(int64_t v) {
  txgate::v1::Value value;
  value.set_int64_value(v);
  return value;
}

txgate::v1::Value Text(const std::string& v) {
  txgate::v1::Value value;
  value.set_string_value(v);
  return value;
}

Reply Fails(absl::Status status) {
  Reply r;
  r.status = std::move(status);
  return r;
}

Reply NeverSent() {
  Reply r = Fails(FakeDatabase::NotSent());
  r.reached_server = false;
  return r;
}

namespace {

txgate::v1::Value Bytes(const std::string& v) {
  txgate::v1::Value value;
  value.set_bytes_value(v);
  return value;
}

}  // namespace

absl::Status FakeDatabase::Error(unsigned int errnum, const char* sqlstate, const char* message) {
  return sql::ToStatus(sql::MysqlError{errnum, sqlstate, message});
}
absl::Status FakeDatabase::Lost() {
  return Error(2013, "HY000", "Lost connection to server during query");
}
absl::Status FakeDatabase::NotSent() { return Error(2006, "HY000", "Server has gone away"); }
absl::Status FakeDatabase::Deadlock() {
  return Error(1213, "40001", "Deadlock found when trying to get lock; try restarting transaction");
}
absl::Status FakeDatabase::Interrupted() {
  return Error(1317, "70100", "Query execution was interrupted");
}

// One session of the fake database.
class FakeDatabase::Conn final : public db::Connection {
 public:
  Conn(FakeDatabase* db, int id, db::SessionIdentity identity)
      : db_(db), id_(id), identity_(std::move(identity)) {}
  ~Conn() override {
    MutexLock lock(&db_->mu_);
    db_->live_.erase(id_);
    db_->pending_.erase(id_);
    // A clean close ends the session; a lost one lives on in the server.
    if (!broken()) db_->sessions_.erase(id_);
  }

  const db::SessionIdentity& identity() const override { return identity_; }
  bool broken() const override { return broken_.load(); }
  bool maybe_executed() const override { return maybe_executed_; }
  bool InTransaction() override {
    MutexLock lock(&db_->mu_);
    return db_->in_transaction_.count(id_) > 0;
  }
  bool session_changed() const override { return session_changed_; }
  void RequireReset() override { session_changed_ = true; }
  // The fake keeps no binary log.
  std::string TakeCommitGtid() override { return ""; }
  bool fresh() const override { return fresh_; }

  absl::Status BeginTransaction(const db::TransactionStart& start) override {
    if (!start.isolation.empty()) {
      if (absl::Status s = Query(start.isolation); !s.ok()) return s;
    }
    return Query(start.read_only ? "START TRANSACTION READ ONLY" : "START TRANSACTION");
  }
  absl::Status CommitTransaction() override { return Query("COMMIT"); }
  absl::Status RollbackTransaction() override { return Query("ROLLBACK"); }
  bool HasOpenTransaction() override { return InTransaction(); }
  bool wrote_nontransactional() const override { return false; }

  absl::Status Query(absl::string_view sql) override { return Run(sql, nullptr); }
  absl::Status Start(absl::string_view sql, const db::Params& params) override {
    return Run(sql, &params);
  }

  void AppendColumns(google::protobuf::RepeatedPtrField<txgate::v1::Column>* out) const override {
    for (const std::string& name : columns_) out->Add()->set_name(name);
  }

  absl::StatusOr<bool> Next(txgate::v1::Row* row, size_t* bytes) override {
    if (rows_.empty()) return false;
    for (txgate::v1::Value& v : rows_.front()) {
      *bytes += v.ByteSizeLong();
      *row->add_values() = std::move(v);
    }
    rows_.pop_front();
    return true;
  }

  absl::StatusOr<db::ExecSummary> Done() override {
    rows_.clear();
    return summary_;
  }

  bool more_results() const override { return false; }
  absl::Status NextResult() override { return absl::OkStatus(); }
  bool pending_result() const override { return !rows_.empty(); }
  bool out_params() const override { return false; }
  size_t column_count() const override { return columns_.size(); }

  bool IdleAlive() const override { return !broken(); }
  absl::Status Ping() override { return broken() ? Lost() : absl::OkStatus(); }
  absl::Status ResetSession() override {
    if (broken()) return NotSent();
    db_->Receive(id_, "RESET SESSION");
    {
      MutexLock lock(&db_->mu_);
      db_->pending_.erase(id_);
      db_->in_transaction_.erase(id_);
    }
    session_changed_ = false;
    fresh_ = true;
    return absl::OkStatus();
  }
  void Interrupt() override { broken_.store(true); }

  void Kill() { broken_.store(true); }

 private:
  absl::Status Run(absl::string_view sql, const db::Params* params) {
    fresh_ = false;
    columns_.clear();
    rows_.clear();
    summary_ = db::ExecSummary();
    maybe_executed_ = true;
    if (broken()) {
      maybe_executed_ = false;
      return NotSent();
    }
    std::optional<Reply> reply = db_->Receive(id_, sql);
    if (reply.has_value() && !reply->status.ok() && reply->applied &&
        absl::StartsWith(sql, "COMMIT")) {
      MutexLock lock(&db_->mu_);  // applied on arrival, whatever happens next
      db_->CommitLocked(id_);
    }
    if (reply.has_value() && reply->on_arrival) reply->on_arrival();
    if (reply.has_value() && !reply->status.ok()) {
      maybe_executed_ = reply->reached_server;
      MutexLock lock(&db_->mu_);
      if (sql::IsConnectionLost(reply->status)) {
        broken_.store(true);
        db_->pending_.erase(id_);
        db_->in_transaction_.erase(id_);
      }
      return reply->status;
    }
    if (absl::Status s = Builtin(sql, params); !s.ok()) return s;
    if (reply.has_value()) {
      if (!reply->columns.empty()) columns_ = reply->columns;
      for (auto& row : reply->rows) rows_.push_back(row);
      summary_.affected_rows = reply->affected_rows;
      summary_.last_insert_id = reply->last_insert_id;
      if (reply->ends_transaction) {
        MutexLock lock(&db_->mu_);
        db_->CommitLocked(id_);
      }
    }
    return absl::OkStatus();
  }

  // What the fake knows of txgate's own statements and of transactions.
  absl::Status Builtin(absl::string_view sql, const db::Params* params) {
    MutexLock lock(&db_->mu_);
    if (absl::StartsWith(sql, "START TRANSACTION")) {
      db_->in_transaction_.insert(id_);
    } else if (absl::StartsWith(sql, "COMMIT")) {
      db_->CommitLocked(id_);
    } else if (absl::StartsWith(sql, "ROLLBACK")) {
      db_->pending_.erase(id_);
      db_->in_transaction_.erase(id_);
    } else if (absl::StartsWith(sql, "KILL CONNECTION ")) {
      uint64_t thread_id = 0;
      if (absl::SimpleAtoi(sql.substr(16), &thread_id)) {
        for (auto it = db_->sessions_.begin(); it != db_->sessions_.end(); ++it) {
          if (it->second.thread_id != thread_id) continue;
          const int target = it->first;
          db_->sessions_.erase(it);
          auto conn = db_->live_.find(target);
          if (conn != db_->live_.end()) conn->second->Kill();
          db_->pending_.erase(target);
          db_->in_transaction_.erase(target);
          break;
        }
      }
    } else if (absl::StartsWith(sql, db::kSessionIdentitySelect) && params != nullptr) {
      // db::ReadSessionIdentity: the process list's row of a thread id.
      columns_ = {"ID", "USER", "HOST", "started"};
      for (const auto& [n, identity] : db_->sessions_) {
        if (identity.thread_id != (*params)[0].uint64_value()) continue;
        txgate::v1::Value id;
        id.set_uint64_value(identity.thread_id);
        rows_.push_back(
            {id, Text(identity.user), Text(identity.host), Int(identity.server_started)});
      }
    } else if (absl::StartsWith(sql, "SELECT request_sha256") && params != nullptr) {
      // OutcomeStore::Lookup: (request, key) -> (same request, response).
      const std::string& request = (*params)[0].bytes_value();
      const std::string& key = (*params)[1].bytes_value();
      columns_ = {"same", "response"};
      auto it = db_->outcomes_.find(key);
      if (it != db_->outcomes_.end()) {
        rows_.push_back({Int(it->second.request == request ? 1 : 0), Bytes(it->second.response)});
      }
    } else if (absl::StartsWith(sql, "INSERT INTO txgate_outcomes") && params != nullptr) {
      // OutcomeStore::Record: (key, request, response), pending until COMMIT.
      const std::string& key = (*params)[0].bytes_value();
      if (db_->outcomes_.count(key) > 0) {
        return Error(1062, "23000", "Duplicate entry for key 'PRIMARY'");
      }
      Outcome outcome{(*params)[1].bytes_value(), (*params)[2].bytes_value()};
      if (db_->in_transaction_.count(id_) > 0) {
        db_->pending_[id_][key] = std::move(outcome);
      } else {
        db_->outcomes_[key] = std::move(outcome);  // autocommit
      }
      summary_.affected_rows = 1;
    }
    return absl::OkStatus();
  }

  FakeDatabase* const db_;
  const int id_;
  const db::SessionIdentity identity_;
  std::atomic<bool> broken_{false};
  bool maybe_executed_ = false;
  bool session_changed_ = false;
  bool fresh_ = true;
  std::vector<std::string> columns_;
  std::deque<std::vector<txgate::v1::Value>> rows_;
  db::ExecSummary summary_;
};

void FakeDatabase::CommitLocked(int conn) {
  auto it = pending_.find(conn);
  if (it != pending_.end()) {
    for (auto& [key, outcome] : it->second) outcomes_[key] = std::move(outcome);
    pending_.erase(it);
  }
  in_transaction_.erase(conn);
}

void FakeDatabase::Expect(absl::string_view prefix, Reply reply, int times, int skip) {
  MutexLock lock(&mu_);
  scripts_.push_back(Script{std::string(prefix), std::move(reply), times, skip});
}

std::optional<Reply> FakeDatabase::Receive(int conn, absl::string_view sql) {
  MutexLock lock(&mu_);
  log_.push_back(absl::StrCat("c", conn, " ", sql));
  for (auto it = scripts_.begin(); it != scripts_.end(); ++it) {
    if (!absl::StartsWith(sql, it->prefix)) continue;
    if (it->skip > 0) {
      --it->skip;
      continue;
    }
    Reply reply = it->reply;
    if (it->times > 0 && --it->times == 0) scripts_.erase(it);
    return reply;
  }
  return std::nullopt;
}

db::ConnectionFactory FakeDatabase::Factory() {
  return [this](absl::Duration) -> absl::StatusOr<std::unique_ptr<db::Connection>> {
    MutexLock lock(&mu_);
    if (down_) return Error(2003, "HY000", "Can't connect to server on '127.0.0.1' (111)");
    db::SessionIdentity identity;
    identity.user = "txgate";
    return std::unique_ptr<db::Connection>(Connect(std::move(identity)));
  };
}

std::unique_ptr<FakeDatabase::Conn> FakeDatabase::Connect(db::SessionIdentity identity) {
  const int id = next_id_++;
  if (identity.thread_id == 0) identity.thread_id = next_thread_id_++;
  identity.host = absl::StrCat("127.0.0.1:", 40000 + id);  // each client its own port
  identity.server_started = server_started_;
  sessions_[id] = identity;
  auto conn = std::make_unique<Conn>(this, id, std::move(identity));
  live_[id] = conn.get();
  return conn;
}

void FakeDatabase::Restart() {
  MutexLock lock(&mu_);
  for (auto& [id, conn] : live_) conn->Kill();
  sessions_.clear();
  pending_.clear();
  in_transaction_.clear();
  next_thread_id_ = 1;
  server_started_ += 60;
}

std::unique_ptr<db::Connection> FakeDatabase::Bystander(uint64_t thread_id,
                                                        const std::string& user) {
  MutexLock lock(&mu_);
  db::SessionIdentity identity;
  identity.thread_id = thread_id;
  identity.user = user;
  next_thread_id_ = std::max(next_thread_id_, thread_id + 1);
  return Connect(std::move(identity));
}

void FakeDatabase::set_down(bool down) {
  MutexLock lock(&mu_);
  down_ = down;
}

std::vector<std::string> FakeDatabase::Log() const {
  MutexLock lock(&mu_);
  return log_;
}

std::vector<std::string> FakeDatabase::Commands(absl::string_view prefix) const {
  MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const std::string& line : log_) {
    absl::string_view sql = line;
    sql.remove_prefix(std::min(sql.size(), sql.find(' ') + 1));
    if (absl::StartsWith(sql, prefix)) out.emplace_back(sql);
  }
  return out;
}

int FakeDatabase::connects() const {
  MutexLock lock(&mu_);
  return next_id_ - 1;
}

std::optional<std::string> FakeDatabase::StoredOutcome(const std::string& key) const {
  MutexLock lock(&mu_);
  auto it = outcomes_.find(key);
  if (it == outcomes_.end()) return std::nullopt;
  return it->second.response;
}

void FakeDatabase::StoreOutcome(const std::string& key, const std::string& request,
                                const std::string& response) {
  MutexLock lock(&mu_);
  outcomes_[key] = Outcome{request, response};
}

absl::Time TestClock::Now() const {
  MutexLock lock(&mu_);
  return now_;
}

void TestClock::SleepFor(absl::Duration d) {
  MutexLock lock(&mu_);
  sleeps_.push_back(d);
  now_ += d;
}

void TestClock::Advance(absl::Duration d) {
  MutexLock lock(&mu_);
  now_ += d;
}

std::vector<absl::Duration> TestClock::sleeps() const {
  MutexLock lock(&mu_);
  return sleeps_;
}

}  // namespace txgate::testing
