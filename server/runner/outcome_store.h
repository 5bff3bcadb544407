// OutcomeStore: txgate's record of committed idempotent transactions.
//
// A transaction that carries an idempotency key writes one row — the key,
// the SHA-256 of its request and its serialized response — into the outcome
// table inside the same transaction, just before COMMIT. The row therefore
// exists exactly when the transaction committed, which lets txgate:
//  - answer a retry with the stored response instead of executing again;
//  - resolve a COMMIT whose reply was lost: after killing the old session
//    (so its transaction is settled), a locking read of the key says
//    whether it committed;
//  - serialize concurrent duplicates: the second INSERT of a key waits for
//    the first transaction and then fails with a duplicate key.
// The table is created when missing; rows older than the retention are
// purged in batches by a background thread.
#ifndef TXGATE_SERVER_RUNNER_OUTCOME_STORE_H_
#define TXGATE_SERVER_RUNNER_OUTCOME_STORE_H_

#include <atomic>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/periodic_worker.h"
#include "server/db/connection.h"
#include "server/pool/connection_pool.h"

namespace txgate::runner {

struct OutcomeOptions {
  // The table, in the connection's default database unless qualified.
  std::string table = "txgate_outcomes";
  // How long a key is remembered; a retry after that executes again.
  absl::Duration retention = absl::Hours(24);
  // How often expired keys are purged, and how many rows per DELETE.
  absl::Duration purge_interval = absl::Minutes(1);
  int purge_batch = 1000;
  // Longest idempotency key accepted, in bytes.
  size_t max_key_bytes = 128;
};

class OutcomeStore {
 public:
  struct Stored {
    bool same_request = false;  // the stored request hash equals this request's
    std::string response;       // the serialized response
  };

  // Starts the purge thread; it leases connections from `pool`.
  OutcomeStore(pool::ConnectionPool* pool, OutcomeOptions options);
  ~OutcomeStore();  // Stops the purge thread.

  const OutcomeOptions& options() const { return options_; }

  // True once EnsureTable succeeded in this process.
  bool ensured() const { return ensured_.load(std::memory_order_acquire); }

  // Creates the table if this process has not yet done so.
  absl::Status EnsureTable(db::Connection& conn);

  // The stored outcome of `key`, if any. `request` is the serialized
  // request, compared by hash. A locking read waits for a transaction that
  // is still writing the key; it must run inside a transaction.
  absl::StatusOr<std::optional<Stored>> Lookup(db::Connection& conn, const std::string& key,
                                               const std::string& request, bool locking);

  // Writes the key's row inside the caller's open transaction. A duplicate
  // key (errno 1062) means another execution with this key got there first.
  absl::Status Record(db::Connection& conn, const std::string& key, const std::string& request,
                      const std::string& response);

  // For a transaction sent in two round trips (README, "Two round trips per
  // RunTransaction"):
  // ClaimText is the INSERT of the key's row (with an empty response),
  // sent in the first round trip before the transaction's statements: a key
  // committed before fails it with a duplicate key (1062), and a concurrent
  // execution's uncommitted row makes it wait for that one's end. The
  // second round trip's CompleteText fills in the response just before
  // COMMIT, so the row, when committed, always holds it. Texts with their
  // values bound as literals (sql/text_codec.h).
  std::string ClaimText(const std::string& key, const std::string& request) const;
  std::string CompleteText(const std::string& key, const std::string& response) const;

  // Deletes expired rows now (the purge thread calls it); returns how many.
  absl::StatusOr<uint64_t> Purge();

 private:
  // Constant after construction.
  pool::ConnectionPool* pool_;
  const OutcomeOptions options_;
  std::string lookup_sql_;
  std::string locking_lookup_sql_;
  std::string record_sql_;
  std::string complete_sql_;
  std::string purge_sql_;

  std::atomic<bool> ensured_{false};
  // Calls Purge() every purge_interval; started last in the constructor.
  std::optional<PeriodicWorker> purger_;
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_OUTCOME_STORE_H_
