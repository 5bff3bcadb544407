// The version of txgate and the git commit it was built from: one version
// number for the project, set in one place (CMakeLists.txt, `project(txgate
// VERSION ...)`); the commit is read at build time (cmake/version.cmake),
// "unknown" when the source is not a git checkout and none was given
// (-DTXGATE_GIT_COMMIT=..., as the Dockerfile's GIT_COMMIT build argument
// does).
#ifndef TXGATE_SERVER_COMMON_VERSION_H_
#define TXGATE_SERVER_COMMON_VERSION_H_

#include "absl/strings/string_view.h"

namespace txgate {

// e.g. "0.2.0".
absl::string_view Version();
// The full commit hash, or "unknown".
absl::string_view GitCommit();

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_VERSION_H_
