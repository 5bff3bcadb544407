#include "server/auth/token_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/sql/error.h"

namespace txgate::auth {
namespace {

absl::Status Unauthenticated(absl::string_view message) {
  return sql::MakeStatus(absl::StatusCode::kUnauthenticated, txgate::v1::UNAUTHENTICATED, message);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHash(absl::string_view hex, std::array<uint8_t, 32>* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::Parse(
    absl::string_view contents) {
  std::unique_ptr<TokenAuthenticator> auth(new TokenAuthenticator);
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Entry entry;
    if (fields.size() < 2 || fields.size() > 3 || !ParseHash(fields[0], &entry.hash)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens file line ", line_number,
          ": want `<sha256-hex-of-token> <ro|rw> [name]` (64 hex digits; make one with "
          "`printf %s \"$TOKEN\" | sha256sum`)"));
    }
    if (fields[1] == "ro") {
      entry.principal.read_only = true;
    } else if (fields[1] != "rw") {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_number, ": the right must be ro or rw"));
    }
    entry.principal.name =
        fields.size() == 3 ? std::string(fields[2]) : absl::StrCat("line-", line_number);
    MutexLock lock(&auth->mu_);
    auth->entries_.push_back(std::move(entry));
  }
  MutexLock lock(&auth->mu_);
  if (auth->entries_.empty()) {
    return absl::InvalidArgumentError("the tokens file holds no token");
  }
  return auth;
}

absl::StatusOr<Principal> TokenAuthenticator::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) {
    return Unauthenticated("this server requires `authorization: Bearer <token>` metadata");
  }
  absl::string_view token = absl::StripAsciiWhitespace(authorization);
  if (token.size() < 7 || !absl::EqualsIgnoreCase(token.substr(0, 7), "bearer ")) {
    return Unauthenticated("the authorization metadata is not `Bearer <token>`");
  }
  token = absl::StripAsciiWhitespace(token.substr(7));
  uint8_t hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), hash);
  // Every entry is compared, in constant time, whatever matched before.
  const Entry* match = nullptr;
  MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    const bool equal = CRYPTO_memcmp(hash, e.hash.data(), sizeof(hash)) == 0;
    if (equal && match == nullptr) match = &e;
  }
  if (match == nullptr) return Unauthenticated("the bearer token is not valid");
  return match->principal;
}

bool TokenAuthenticator::has_read_only() const {
  MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    if (e.principal.read_only) return true;
  }
  return false;
}

void TokenAuthenticator::Replace(TokenAuthenticator&& fresh) {
  std::vector<Entry> entries;
  {
    MutexLock lock(&fresh.mu_);
    entries.swap(fresh.entries_);
  }
  MutexLock lock(&mu_);
  entries_.swap(entries);
}

}  // namespace txgate::auth
