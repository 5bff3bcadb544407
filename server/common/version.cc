#include "server/common/version.h"

#include "txgate_version.h"  // generated: TXGATE_VERSION, TXGATE_GIT_COMMIT

namespace txgate {

absl::string_view Version() { return TXGATE_VERSION; }
absl::string_view GitCommit() { return TXGATE_GIT_COMMIT; }

}  // namespace txgate
