// txgate from C++: every helper once.
//
//   txgate_client_example [HOST:PORT]   # default: $TXGATE_ADDR or 127.0.0.1:50051
//
// Exits non-zero when a call that should succeed fails.
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "txgate/client.h"

namespace {

using txgate::client::Client;
using txgate::client::Error;
using txgate::client::Value;

// The current time in UTC as a DATETIME(6) value.
Value Now() {
  const absl::Time now = absl::Now();
  const absl::CivilSecond s = absl::ToCivilSecond(now, absl::UTCTimeZone());
  const int64_t us = absl::ToInt64Microseconds(now - absl::FromCivil(s, absl::UTCTimeZone()));
  return Value::DateTime(static_cast<int>(s.year()), s.month(), s.day(), s.hour(), s.minute(),
                         s.second(), static_cast<int>(us));
}

int Fail(const absl::Status& status) {
  std::cerr << "example failed: " << Error::FromStatus(status).ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("TXGATE_ADDR");
  const std::string addr = argc > 1 ? argv[1] : env != nullptr ? env : "127.0.0.1:50051";
  Client db(addr);

  absl::StatusOr<txgate::v1::ResultSet> rs = db.Execute(
      "CREATE TABLE IF NOT EXISTS example_orders ("
      " id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
      " amount DECIMAL(12,2) NOT NULL, placed DATETIME(6) NOT NULL)");
  if (!rs.ok()) return Fail(rs.status());

  // One statement, autocommit, bound parameters.
  rs = db.Execute("INSERT INTO example_orders (amount, placed) VALUES (?, ?)",
                  {Value::Decimal("19.99"), Now()});
  if (!rs.ok()) return Fail(rs.status());
  std::cout << "inserted order " << rs->last_insert_id() << "\n";

  // Several statements as one transaction, exactly once: retried with the
  // same idempotency key if the outcome is unknown.
  absl::StatusOr<txgate::client::TransactionResult> tx = db.RunTransaction({
      {"INSERT INTO example_orders (amount, placed) VALUES (?, ?)",
       {Value::Decimal("5.00"), Now()}},
      "SELECT COUNT(*), SUM(amount) FROM example_orders",
  });
  if (!tx.ok()) return Fail(tx.status());
  const txgate::v1::Row& totals = tx->results[1].rows(0);
  std::cout << Value(totals.values(0)).ToString() << " orders, total "
            << Value(totals.values(1)).ToString() << " (key " << tx->idempotency_key << ")\n";

  // A large result, streamed in chunks to a row callback.
  absl::StatusOr<txgate::client::StreamSummary> streamed = db.StreamQuery(
      "SELECT id, amount FROM example_orders ORDER BY id", {},
      [](const txgate::v1::Row&) { return absl::OkStatus(); }, /*max_rows_per_chunk=*/100);
  if (!streamed.ok()) return Fail(streamed.status());
  std::cout << "streamed " << streamed->rows << " rows in " << streamed->chunks << " chunk(s)\n";

  // An interactive transaction: rolled back unless committed.
  {
    absl::StatusOr<std::unique_ptr<txgate::client::InteractiveTransaction>> t =
        db.BeginTransaction();
    if (!t.ok()) return Fail(t.status());
    rs = (*t)->Execute("SELECT MIN(id) FROM example_orders FOR UPDATE");
    if (!rs.ok()) return Fail(rs.status());
    const Value oldest(rs->rows(0).values(0));
    rs = (*t)->Execute("DELETE FROM example_orders WHERE id = ?", {oldest});
    if (!rs.ok()) return Fail(rs.status());
    absl::StatusOr<std::string> committed = (*t)->Commit();
    if (!committed.ok()) return Fail(committed.status());
    std::cout << "deleted order " << oldest.ToString() << "\n";
  }

  // Errors carry the MySQL detail.
  rs = db.Execute("SELECT * FROM example_no_such_table");
  const Error e = Error::FromStatus(rs.status());
  std::cout << "error: " << absl::StatusCodeToString(e.code) << " mysql " << e.mysql_errno << " ("
            << e.sqlstate << "): " << e.mysql_message << "\n";
  return rs.ok() ? 1 : 0;
}
