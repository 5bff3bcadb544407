// FakeDatabase: a scripted stand-in for MariaDB behind db::Connection, for
// unit tests of the transaction runner, the outcome store and the statement
// killer (everything above tests/unit/ uses a real MariaDB).
//
// Every command any of its connections receives is logged ("c2 COMMIT"; a
// session reset as "c2 RESET SESSION").
// A test scripts replies by SQL prefix (Expect): the next matching command
// gets that reply — a failure such as a lost connection, rows, or a hook
// run when the command arrives. Unscripted commands succeed with no rows.
// The fake keeps just enough truth to make the runner's rules observable:
//  - each connection knows whether it is in a transaction (START
//    TRANSACTION / COMMIT / ROLLBACK);
//  - txgate's outcome table is kept in memory, with transactional
//    visibility: a recorded key is pending until its connection commits, a
//    second record of a committed key fails with 1062, and a lost COMMIT
//    may be scripted as applied or not;
//  - a lost connection is broken(): the pool discards it;
//  - each connection has a db::SessionIdentity (user "txgate", host
//    "127.0.0.1:<port>", the fake server's start), and the process-list
//    query of db::KillIfSameSession sees the server's sessions: a session
//    lives on after its client lost it, until KILL CONNECTION or Restart().
// TestClock is a Clock whose SleepFor advances time instead of waiting.
#ifndef TXGATE_TESTS_UNIT_FAKE_DATABASE_H_
#define TXGATE_TESTS_UNIT_FAKE_DATABASE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/mutex.h"
#include "server/db/connection.h"
#include "txgate/v1/database.pb.h"

namespace txgate::testing {

// What the fake does with one command.
struct Reply {
  // A failure to answer (OK: success).
  absl::Status status;
  // For a failure: whether the command reached the server (maybe_executed).
  bool reached_server = true;
  // For a COMMIT that fails with a lost connection: whether it was applied
  // before the reply was lost.
  bool applied = false;
  // Rows to return, with their column names.
  std::vector<std::string> columns;
  std::vector<std::vector<txgate::v1::Value>> rows;
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  // The command commits the connection's transaction and leaves it out of
  // one, as a procedure that runs COMMIT would.
  bool ends_transaction = false;
  // Runs when the command arrives, before it is answered (on the runner's
  // thread, with no lock of the fake held).
  std::function<void()> on_arrival;
};

class FakeDatabase {
 public:
  // The next `times` commands (-1: all) whose SQL starts with `prefix` get
  // `reply`, after `skip` such commands went by unscripted. Earlier scripts
  // match first.
  void Expect(absl::string_view prefix, Reply reply, int times = 1, int skip = 0);

  // Makes connections to this database; while `down`, connects fail.
  db::ConnectionFactory Factory();
  void set_down(bool down);

  // The server restarts: every session is gone (their clients see a lost
  // connection), uncommitted work is lost, thread ids start again from 1
  // and the server's start time changes.
  void Restart();
  // A session of another client with thread id `thread_id` (e.g. one that
  // took a lost session's id after a Restart()) and `user`.
  std::unique_ptr<db::Connection> Bystander(uint64_t thread_id, const std::string& user);

  // Every command received, as "c<n> <sql>" (n: the n-th connect, which
  // equals the thread id until a Restart()), in order.
  std::vector<std::string> Log() const;
  // The SQL of every command starting with `prefix`, in order.
  std::vector<std::string> Commands(absl::string_view prefix) const;
  int connects() const;

  // The outcome table: the stored response of `key`, if committed.
  std::optional<std::string> StoredOutcome(const std::string& key) const;
  // Commits an outcome as if another execution had (request: serialized).
  void StoreOutcome(const std::string& key, const std::string& request,
                    const std::string& response);

  // Errors as Connector/C reports them.
  static absl::Status Lost();         // 2013, lost during the command
  static absl::Status NotSent();      // 2006, the command never left
  static absl::Status Deadlock();     // 1213
  static absl::Status Interrupted();  // 1317, KILL QUERY
  static absl::Status Error(unsigned int errnum, const char* sqlstate, const char* message);

 private:
  class Conn;
  friend class Conn;
  struct Outcome {
    std::string request;
    std::string response;
  };

  // Opens a session with `identity` (its thread id and start filled in
  // unless given).
  std::unique_ptr<Conn> Connect(db::SessionIdentity identity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Logs the command and takes its scripted reply, if any.
  std::optional<Reply> Receive(int conn, absl::string_view sql);
  // Makes the pending outcomes of `conn` visible; ends its transaction.
  void CommitLocked(int conn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  struct Script {
    std::string prefix;
    Reply reply;
    int times;
    int skip;
  };
  std::deque<Script> scripts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  std::map<int, Conn*> live_ ABSL_GUARDED_BY(mu_);
  // The server's sessions, by connect number; a session outlives a client
  // that lost it.
  std::map<int, db::SessionIdentity> sessions_ ABSL_GUARDED_BY(mu_);
  uint64_t next_thread_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t server_started_ ABSL_GUARDED_BY(mu_) = 1700000000;
  std::map<int, std::map<std::string, Outcome>> pending_ ABSL_GUARDED_BY(mu_);
  std::set<int> in_transaction_ ABSL_GUARDED_BY(mu_);
};

// A clock that starts at the real time and moves only when told to (or on
// SleepFor, which records each pause instead of waiting).
class TestClock final : public Clock {
 public:
  absl::Time Now() const override;
  void SleepFor(absl::Duration d) override;
  void Advance(absl::Duration d);
  std::vector<absl::Duration> sleeps() const;

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::Now();
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
};

// A reply that fails with `status`.
Reply Fails(absl::Status status);
// A connection lost before the command left: it certainly did not run.
Reply NeverSent();

// Value helpers.
txgate::v1::Value Int(int64_t v);
txgate::v1::Value Text(const std::string& v);

}  // namespace txgate::testing

#endif  // TXGATE_TESTS_UNIT_FAKE_DATABASE_H_
