// FileReloader: re-reads configuration files while the server runs — the
// TLS certificate, key and client CA, the tokens file, the database
// passwords — and hands contents that changed to their owners, so that a
// rotation needs no restart.
//
// Each watched set (e.g. the certificate with its key) is read whole and
// applied whole, by its owner's `apply`, which checks the new contents
// first: on an error the owner keeps what it had, the error is logged
// (config_reload_failed: the set and the message, never the contents) and
// counted, and the same bad contents are not tried again until they change.
// A success is logged (config_reloaded) and counted too. Comparing contents
// (not modification times) catches every kind of replacement: in-place
// writes, renames, and Kubernetes' symlink swap of a mounted Secret.
// Thread-safe; checks never run concurrently.
#ifndef TXGATE_SERVER_RELOAD_FILE_RELOADER_H_
#define TXGATE_SERVER_RELOAD_FILE_RELOADER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"
#include "server/common/periodic_worker.h"

namespace txgate::reload {

struct WatchedFiles {
  // Names the set in logs and metrics: "tls", "tokens", "mysql_password"...
  std::string what;
  // Read together; an empty path reads as empty contents.
  std::vector<std::string> paths;
  // Installs new contents (one string per path, in order). An error keeps
  // the owner's current material; its message must not hold the contents.
  std::function<absl::Status(const std::vector<std::string>& contents)> apply;
};

class FileReloader {
 public:
  // Called after each attempt to apply a set: its `what`, and whether it
  // was applied.
  using Observer = std::function<void(const std::string& what, bool ok)>;

  FileReloader(std::vector<WatchedFiles> watched, Observer observer);
  ~FileReloader();  // Stops watching.

  // Reads and applies every set once, at start (not logged as a reload).
  // The first error, prefixed by nothing (the owner's message names the
  // flag), or by "cannot read <path>" when a file cannot be read.
  absl::Status LoadAll();

  // Re-reads every set now and applies those whose contents changed since
  // they were last applied or tried (SIGHUP, tests).
  void CheckNow();

  // From now on, also checks every `interval` (> 0), in a thread of its
  // own ("txgate-reload"). Call once.
  void Watch(absl::Duration interval);

 private:
  struct State {
    WatchedFiles files;
    std::vector<std::string> seen;  // the contents last applied or tried
    std::string seen_error;         // the read error last seen, if any
  };

  // Reads `files`' paths into `contents`; "cannot read <path>" on failure.
  static absl::Status Read(const WatchedFiles& files, std::vector<std::string>* contents);

  const Observer observer_;
  Mutex mu_;  // held through a whole check
  std::vector<State> states_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PeriodicWorker> worker_;  // set by Watch(), before any check of its own
};

}  // namespace txgate::reload

#endif  // TXGATE_SERVER_RELOAD_FILE_RELOADER_H_
