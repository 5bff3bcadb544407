#include "test_env.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace txgate::client::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// A fresh temporary file's path; the file exists and is empty.
std::string TempFile() {
  std::string path = "/tmp/txgate-cpp-client-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd >= 0) close(fd);
  return path;
}

std::string ReadAndRemove(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  unlink(path.c_str());
  return s.str();
}

}  // namespace

std::string LiveAddr() { return Env("TXGATE_ADDR"); }

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input) {
  const std::string in_path = TempFile(), out_path = TempFile(), err_path = TempFile();
  {
    std::ofstream in(in_path, std::ios::binary);
    in << input;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_TRUNC, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_TRUNC, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  CommandResult result;
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
  }
  unlink(in_path.c_str());
  result.out = ReadAndRemove(out_path);
  result.err = ReadAndRemove(err_path);
  if (rc != 0) result.err = absl::StrCat("posix_spawn ", argv[0], " failed: ", rc);
  return result;
}

absl::StatusOr<std::vector<std::string>> AdminSql(const std::string& sql) {
  const std::string db_dir = Env("TXGATE_TEST_DB_DIR");
  if (db_dir.empty()) {
    return absl::FailedPreconditionError("TXGATE_TEST_DB_DIR not set (no admin access to MariaDB)");
  }
  CommandResult r =
      RunCommand({"/bin/bash", absl::StrCat(TXGATE_SOURCE_DIR, "/deploy/local/mariadb.sh"), "sql",
                  db_dir, sql});
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("mariadb.sh sql '", sql, "': exit ", r.exit_code, ": ", r.err));
  }
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

absl::StatusOr<int> KillTxgateSessions() {
  const std::string query = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER='txgate'";
  absl::StatusOr<std::vector<std::string>> ids = AdminSql(query);
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return absl::FailedPreconditionError("txgate holds no MariaDB sessions");
  for (const std::string& id : *ids) {
    // It may have closed meanwhile; the wait below is what counts.
    AdminSql(absl::StrCat("KILL CONNECTION ", id)).IgnoreError();
  }
  const std::set<std::string> killed(ids->begin(), ids->end());
  for (int i = 0; i < 300; ++i) {
    absl::StatusOr<std::vector<std::string>> now = AdminSql(query);
    if (!now.ok()) return now.status();
    bool alive = false;
    for (const std::string& id : *now) alive = alive || killed.count(id) > 0;
    if (!alive) return static_cast<int>(killed.size());
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError("txgate's sessions are still alive after 30 s");
}

}  // namespace txgate::client::testing
