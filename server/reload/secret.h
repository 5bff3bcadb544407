// Secret: a string (a database password) that can be replaced while other
// threads read it: a rotated password file serves every connect after the
// replacement. Never logged. Thread-safe.
#ifndef TXGATE_SERVER_RELOAD_SECRET_H_
#define TXGATE_SERVER_RELOAD_SECRET_H_

#include <string>
#include <utility>

#include "server/common/mutex.h"

namespace txgate::reload {

class Secret {
 public:
  std::string Get() const {
    MutexLock lock(&mu_);
    return value_;
  }
  void Set(std::string value) {
    MutexLock lock(&mu_);
    value_ = std::move(value);
  }

 private:
  mutable Mutex mu_;
  std::string value_ ABSL_GUARDED_BY(mu_);
};

}  // namespace txgate::reload

#endif  // TXGATE_SERVER_RELOAD_SECRET_H_
