#include "server/reload/tls_credentials.h"

#include <grpc/grpc.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace txgate::reload {

absl::Status CheckKeyPair(const std::string& cert, const std::string& key) {
  BIO* cert_bio = BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size()));
  X509* x509 = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(key.data(), static_cast<int>(key.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (x509 == nullptr) {
    status = absl::InvalidArgumentError("--tls_cert_file holds no PEM certificate");
  } else if (pkey == nullptr) {
    status = absl::InvalidArgumentError("--tls_key_file holds no PEM private key");
  } else if (X509_check_private_key(x509, pkey) != 1) {
    status = absl::InvalidArgumentError(
        "--tls_key_file is not the private key of --tls_cert_file's certificate");
  }
  ERR_clear_error();
  X509_free(x509);
  EVP_PKEY_free(pkey);
  return status;
}

absl::Status CheckCertificates(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x509 = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  const bool ok = x509 != nullptr;
  X509_free(x509);
  return ok ? absl::OkStatus()
            : absl::InvalidArgumentError("--tls_client_ca_file holds no PEM certificate");
}

namespace {

// grpc::ServerCredentials over a core credentials object (gRPC's C++ API
// has no wrapper for the config-fetcher credentials).
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CoreServerCredentials(grpc_server_credentials* creds) : creds_(creds) {}
  ~CoreServerCredentials() override { grpc_server_credentials_release(creds_); }
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }
  grpc_server_credentials* const creds_;
};

}  // namespace

ReloadableTls::ReloadableTls(bool mutual) : mutual_(mutual) {}

absl::Status ReloadableTls::Apply(const std::string& cert, const std::string& key,
                                  const std::string& client_ca) {
  if (absl::Status s = CheckKeyPair(cert, key); !s.ok()) return s;
  if (mutual_) {
    if (absl::Status s = CheckCertificates(client_ca); !s.ok()) return s;
  }
  MutexLock lock(&mu_);
  cert_ = cert;
  key_ = key;
  client_ca_ = mutual_ ? client_ca : "";
  ++applied_;
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> ReloadableTls::Credentials() {
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          mutual_ ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                  : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          &ReloadableTls::Fetch, this);
  // Takes `options`.
  return std::make_shared<CoreServerCredentials>(
      grpc_ssl_server_credentials_create_with_options(options));
}

grpc_ssl_certificate_config_reload_status ReloadableTls::Fetch(
    void* self, grpc_ssl_server_certificate_config** config) {
  ReloadableTls* tls = static_cast<ReloadableTls*>(self);
  MutexLock lock(&tls->mu_);
  if (tls->applied_ == 0) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
  if (tls->fetched_ == tls->applied_) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  // gRPC copies the strings. It requires root certificates in a fetched
  // config (an assertion in 1.51) even when no client certificate is
  // requested; they are then never used, so the server's own chain stands
  // in.
  grpc_ssl_pem_key_cert_pair pair = {tls->key_.c_str(), tls->cert_.c_str()};
  *config = grpc_ssl_server_certificate_config_create(
      tls->mutual_ ? tls->client_ca_.c_str() : tls->cert_.c_str(), &pair, 1);
  tls->fetched_ = tls->applied_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

}  // namespace txgate::reload
