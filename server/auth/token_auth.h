// TokenAuthenticator: bearer tokens with read-only or read-write rights.
//
// Tokens are never stored: the tokens file holds the SHA-256 of each token
// (hex), its right and an optional name, one per line:
//
//   # comment
//   <sha256-hex-of-token> <ro|rw> [name]
//
// A caller presents `authorization: Bearer <token>`; the token is hashed and
// compared with every entry in constant time (no early exit, no comparison
// that stops at the first differing byte), so timing tells nothing about
// which hash, or how much of one, matched. Thread-safe; the entries can be
// replaced while serving (Replace(): a rotated tokens file), a call seeing
// either the old set or the new one whole.
#ifndef TXGATE_SERVER_AUTH_TOKEN_AUTH_H_
#define TXGATE_SERVER_AUTH_TOKEN_AUTH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/common/mutex.h"

namespace txgate::auth {

// Who called, as far as txgate cares.
struct Principal {
  std::string name;        // the token's name from the file (never the token)
  bool read_only = false;  // an "ro" token
};

class TokenAuthenticator {
 public:
  // Parses the contents of a tokens file. INVALID_ARGUMENT, naming the line,
  // on a malformed line; a file with no token is an error too (it would
  // lock everyone out).
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> Parse(absl::string_view contents);

  // Checks the value of the `authorization` header (empty when absent).
  // UNAUTHENTICATED (reason UNAUTHENTICATED) when it is missing, not a
  // bearer token, or no entry matches.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization) const;

  // True if any token is read-only ("ro"): the server then needs its
  // read-only database account.
  bool has_read_only() const;

  // Takes `fresh`'s entries in place of this one's, at once: calls
  // authenticated afterwards see only the new tokens (an old one is
  // refused), calls already authenticated keep their principal.
  void Replace(TokenAuthenticator&& fresh);

 private:
  struct Entry {
    std::array<uint8_t, 32> hash;
    Principal principal;
  };
  TokenAuthenticator() = default;
  mutable Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace txgate::auth

#endif  // TXGATE_SERVER_AUTH_TOKEN_AUTH_H_
