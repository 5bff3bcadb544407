#include "server/runner/outcome_store.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/sql/text_codec.h"
#include "txgate/v1/database.pb.h"

namespace txgate::runner {
namespace {

txgate::v1::Value BytesValue(const std::string& s) {
  txgate::v1::Value v;
  v.set_bytes_value(s);
  return v;
}

}  // namespace

OutcomeStore::OutcomeStore(pool::ConnectionPool* pool, OutcomeOptions options)
    : pool_(pool), options_(std::move(options)) {
  const std::string& t = options_.table;
  lookup_sql_ = absl::StrCat("SELECT request_sha256 = UNHEX(SHA2(?, 256)), response FROM ", t,
                             " WHERE idempotency_key = ?");
  locking_lookup_sql_ = absl::StrCat(lookup_sql_, " LOCK IN SHARE MODE");
  record_sql_ = absl::StrCat("INSERT INTO ", t,
                             " (idempotency_key, request_sha256, response) VALUES "
                             "(?, UNHEX(SHA2(?, 256)), ?)");
  complete_sql_ = absl::StrCat("UPDATE ", t, " SET response = ? WHERE idempotency_key = ?");
  purge_sql_ = absl::StrCat("DELETE FROM ", t,
                            " WHERE created_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?");
  // A failed purge waits for the next round.
  purger_.emplace("txgate-purge", options_.purge_interval, [this] { (void)Purge(); });
}

OutcomeStore::~OutcomeStore() { purger_->Stop(); }

absl::Status OutcomeStore::EnsureTable(db::Connection& conn) {
  if (ensured_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::Status status = conn.Query(absl::StrCat(
      "CREATE TABLE IF NOT EXISTS ", options_.table, " (idempotency_key VARBINARY(",
      options_.max_key_bytes,
      ") NOT NULL PRIMARY KEY, request_sha256 BINARY(32) NOT NULL, response LONGBLOB NOT NULL, "
      "created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), KEY (created_at)) "
      "ENGINE=InnoDB COMMENT='txgate: outcomes of idempotent transactions'"));
  if (status.ok()) ensured_.store(true, std::memory_order_release);
  return status;
}

absl::StatusOr<std::optional<OutcomeStore::Stored>> OutcomeStore::Lookup(db::Connection& conn,
                                                                         const std::string& key,
                                                                         const std::string& request,
                                                                         bool locking) {
  google::protobuf::RepeatedPtrField<txgate::v1::Value> params;
  *params.Add() = BytesValue(request);
  *params.Add() = BytesValue(key);
  if (absl::Status s = conn.Start(locking ? locking_lookup_sql_ : lookup_sql_, params); !s.ok()) {
    return s;
  }
  txgate::v1::Row row;
  size_t bytes = 0;
  absl::StatusOr<bool> found = conn.Next(&row, &bytes);
  if (!found.ok()) return found.status();
  if (absl::StatusOr<db::ExecSummary> done = conn.Done(); !done.ok()) return done.status();
  if (!*found) return std::optional<Stored>();
  Stored stored;
  stored.same_request = row.values(0).int64_value() == 1;
  stored.response = row.values(1).bytes_value();
  return std::optional<Stored>(std::move(stored));
}

absl::Status OutcomeStore::Record(db::Connection& conn, const std::string& key,
                                  const std::string& request, const std::string& response) {
  google::protobuf::RepeatedPtrField<txgate::v1::Value> params;
  *params.Add() = BytesValue(key);
  *params.Add() = BytesValue(request);
  *params.Add() = BytesValue(response);
  if (absl::Status s = conn.Start(record_sql_, params); !s.ok()) return s;
  return conn.Done().status();
}

namespace {

// `sql` with `values` (bytes, which always have a literal) bound.
std::string Bound(const std::string& sql, std::initializer_list<const std::string*> values) {
  google::protobuf::RepeatedPtrField<txgate::v1::Value> params;
  for (const std::string* v : values) *params.Add() = BytesValue(*v);
  return *sql::InlineParams(sql, sql::Placeholders(sql), params);
}

}  // namespace

std::string OutcomeStore::ClaimText(const std::string& key, const std::string& request) const {
  const std::string empty;
  return Bound(record_sql_, {&key, &request, &empty});
}

std::string OutcomeStore::CompleteText(const std::string& key, const std::string& response) const {
  return Bound(complete_sql_, {&response, &key});
}

absl::StatusOr<uint64_t> OutcomeStore::Purge() {
  absl::StatusOr<pool::ConnectionPool::Lease> lease =
      pool_->Acquire(absl::Now() + absl::Seconds(5));
  if (!lease.ok()) return lease.status();
  if (absl::Status s = EnsureTable(**lease); !s.ok()) return s;
  uint64_t total = 0;
  for (;;) {
    google::protobuf::RepeatedPtrField<txgate::v1::Value> params;
    params.Add()->set_int64_value(absl::ToInt64Microseconds(options_.retention));
    params.Add()->set_int64_value(options_.purge_batch);
    if (absl::Status s = (*lease)->Start(purge_sql_, params); !s.ok()) return s;
    absl::StatusOr<db::ExecSummary> done = (*lease)->Done();
    if (!done.ok()) return done.status();
    total += done->affected_rows;
    if (done->affected_rows < static_cast<uint64_t>(options_.purge_batch)) return total;
  }
}

}  // namespace txgate::runner
