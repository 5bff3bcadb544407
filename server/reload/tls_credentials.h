// ReloadableTls: the TLS credentials of the main gRPC port, whose
// certificate chain, private key and client CA can be replaced while the
// server runs (a rotated certificate), without a restart.
//
// Built on gRPC core's certificate-config fetcher (grpc_security.h,
// grpc_ssl_server_credentials_create_options_using_config_fetcher): gRPC
// asks for the current material at every new TLS handshake; this class
// answers "unchanged" until Apply() installs new material, which then
// serves every later handshake. Connections already established keep the
// material they were made with, so calls in flight are unaffected.
//
// Why not gRPC's FileWatcherCertificateProvider (TlsServerCredentials,
// experimental in 1.51): on a file it cannot read it serves no identity at
// all (every handshake fails until the file is back), it does not check
// that a new key belongs to the new certificate, and it reloads without a
// hook for our log line and metric. Here new material is checked first
// (PEM parses, key matches certificate) and refused whole if bad, the old
// material staying in force.
//
// One ReloadableTls serves one listening port (its fetcher's "unchanged"
// is answered per port). Thread-safe.
#ifndef TXGATE_SERVER_RELOAD_TLS_CREDENTIALS_H_
#define TXGATE_SERVER_RELOAD_TLS_CREDENTIALS_H_

#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/common/mutex.h"

namespace txgate::reload {

// INVALID_ARGUMENT unless `cert` holds a PEM certificate and `key` a PEM
// private key that belong together. Messages name the flags
// (--tls_cert_file, --tls_key_file), never the contents.
absl::Status CheckKeyPair(const std::string& cert, const std::string& key);
// INVALID_ARGUMENT unless `pem` holds at least one PEM certificate
// (--tls_client_ca_file).
absl::Status CheckCertificates(const std::string& pem);

class ReloadableTls {
 public:
  // `mutual`: clients must present a certificate signed by the client CA.
  // Serves nothing until the first successful Apply().
  explicit ReloadableTls(bool mutual);

  // Checks `cert` (PEM chain), `key` (its PEM private key) and, when
  // mutual, `client_ca` (PEM certificates); installs them for the next
  // handshakes. INVALID_ARGUMENT (see CheckKeyPair) leaves the material in
  // force unchanged.
  absl::Status Apply(const std::string& cert, const std::string& key, const std::string& client_ca);

  // Credentials for grpc::ServerBuilder::AddListeningPort; they refer to
  // this object, which must outlive the server they are given to.
  std::shared_ptr<grpc::ServerCredentials> Credentials();

 private:
  // gRPC's fetcher callback; `self` is this object.
  static grpc_ssl_certificate_config_reload_status Fetch(
      void* self, grpc_ssl_server_certificate_config** config);

  const bool mutual_;
  Mutex mu_;
  std::string cert_ ABSL_GUARDED_BY(mu_);
  std::string key_ ABSL_GUARDED_BY(mu_);
  std::string client_ca_ ABSL_GUARDED_BY(mu_);
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;  // Apply() successes
  uint64_t fetched_ ABSL_GUARDED_BY(mu_) = 0;  // the one gRPC has
};

}  // namespace txgate::reload

#endif  // TXGATE_SERVER_RELOAD_TLS_CREDENTIALS_H_
