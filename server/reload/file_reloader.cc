#include "server/reload/file_reloader.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/log.h"

namespace txgate::reload {

FileReloader::FileReloader(std::vector<WatchedFiles> watched, Observer observer)
    : observer_(std::move(observer)) {
  MutexLock lock(&mu_);
  for (WatchedFiles& files : watched) states_.push_back(State{std::move(files), {}, {}});
}

FileReloader::~FileReloader() {
  if (worker_ != nullptr) worker_->Stop();
}

absl::Status FileReloader::Read(const WatchedFiles& files, std::vector<std::string>* contents) {
  contents->clear();
  for (const std::string& path : files.paths) {
    if (path.empty()) {
      contents->emplace_back();
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    if (in) ss << in.rdbuf();
    if (!in || in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
    contents->push_back(ss.str());
  }
  return absl::OkStatus();
}

absl::Status FileReloader::LoadAll() {
  MutexLock lock(&mu_);
  for (State& state : states_) {
    std::vector<std::string> contents;
    if (absl::Status s = Read(state.files, &contents); !s.ok()) return s;
    if (absl::Status s = state.files.apply(contents); !s.ok()) return s;
    state.seen = std::move(contents);
  }
  return absl::OkStatus();
}

void FileReloader::CheckNow() {
  MutexLock lock(&mu_);
  for (State& state : states_) {
    std::vector<std::string> paths;
    for (const std::string& path : state.files.paths) {
      if (!path.empty()) paths.push_back(path);
    }
    const std::string files = absl::StrJoin(paths, ",");
    std::vector<std::string> contents;
    absl::Status status = Read(state.files, &contents);
    if (!status.ok()) {
      // A file being replaced may be missing for a moment: logged once per
      // distinct error, the material in force stays.
      if (std::string(status.message()) == state.seen_error) continue;
      state.seen_error = std::string(status.message());
    } else {
      state.seen_error.clear();
      if (contents == state.seen) continue;
      status = state.files.apply(contents);
      state.seen = std::move(contents);
    }
    if (status.ok()) {
      Log("info", "config_reloaded", {{"what", state.files.what}, {"files", files}});
    } else {
      Log("error", "config_reload_failed",
          {{"what", state.files.what},
           {"files", files},
           {"error", std::string(status.message())},
           {"note", "the previous material stays in force"}});
    }
    if (observer_) observer_(state.files.what, status.ok());
  }
}

void FileReloader::Watch(absl::Duration interval) {
  worker_ = std::make_unique<PeriodicWorker>("txgate-reload", interval, [this] { CheckNow(); });
}

}  // namespace txgate::reload
