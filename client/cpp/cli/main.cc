// txgate-cli: runs SQL through a txgate and prints the results.
//
//   txgate-cli --addr=HOST:PORT [--format=table|csv|json] [--timeout=5s] -e 'SQL'
//   txgate-cli --addr=HOST:PORT [--transaction] -f FILE      # '-' reads stdin
//
//   txgate-cli --addr=txgate.example:443 --tls [--tls_ca_file=CA.pem]
//              [--tls_cert_file=C.pem --tls_key_file=K.pem] [--token_file=F] -e 'SQL'
//
// Each statement runs with Execute (autocommit); with --transaction, all of
// them run as one RunTransaction (all or nothing, exactly once). The first
// error stops the run: it goes to stderr with its code, message, reason and
// MySQL errno/SQLSTATE/message. Exit status: 0 success, 1 a statement
// failed, 2 bad usage.
//
// TLS: --tls verifies txgate's certificate against --tls_ca_file (default:
// the system's roots) and its name against the host of --addr (or
// --tls_server_name); --tls_cert_file/--tls_key_file present a client
// certificate (mTLS, txgate's --tls_client_ca_file). --token_file sends the
// file's first line as `authorization: Bearer <token>` (txgate's
// --auth_tokens_file); it needs --tls, because a bearer token sent in
// plaintext can be read and replayed by anyone on the path.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/format.h"
#include "cli/script.h"
#include "grpcpp/security/credentials.h"
#include "txgate/client.h"
#include "txgate/error.h"

ABSL_FLAG(std::string, addr, "", "txgate's address, HOST:PORT (required)");
ABSL_FLAG(std::string, format, "table", "output format: table, csv or json");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "deadline of each statement; with --transaction, of the whole transaction "
          "including its retries");
ABSL_FLAG(std::string, e, "", "run this one SQL statement");
ABSL_FLAG(std::string, f, "",
          "run the statements of this file ('-' for stdin), each ending with a line "
          "that ends in ';'");
ABSL_FLAG(bool, transaction, false, "run all statements as one transaction (RunTransaction)");
ABSL_FLAG(bool, tls, false, "connect with TLS, verifying txgate's certificate");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM roots that sign txgate's certificate (implies --tls; default: the system's)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate for mTLS (implies --tls; needs --tls_key_file)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_server_name, "",
          "the name to verify in txgate's certificate (default: the host of --addr)");
ABSL_FLAG(std::string, token_file, "",
          "file whose first line is the bearer token to send (needs --tls)");

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Usage(absl::string_view problem) {
  std::cerr << "txgate-cli: " << problem << "\n"
            << "usage: txgate-cli --addr=HOST:PORT [--format=table|csv|json] [--timeout=5s] "
               "[--transaction] (-e 'SQL' | -f FILE)\n";
  return kExitUsage;
}

// The contents of `path`, or nullopt when it cannot be read.
std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Fills options->credentials from the TLS and token flags; a usage problem
// otherwise.
std::optional<std::string> SetCredentials(txgate::client::Options* options) {
  const std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  const std::string cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key_file = absl::GetFlag(FLAGS_tls_key_file);
  const std::string token_file = absl::GetFlag(FLAGS_token_file);
  const bool tls = absl::GetFlag(FLAGS_tls) || !ca_file.empty() || !cert_file.empty();
  if (cert_file.empty() != key_file.empty()) {
    return "--tls_cert_file and --tls_key_file go together";
  }
  if (!tls) {
    if (!token_file.empty()) return "--token_file needs --tls (a token in plaintext can be read)";
    if (!absl::GetFlag(FLAGS_tls_server_name).empty()) return "--tls_server_name needs --tls";
    return std::nullopt;
  }
  grpc::SslCredentialsOptions ssl;
  for (const auto& [path, field] :
       {std::pair{ca_file, &ssl.pem_root_certs}, std::pair{cert_file, &ssl.pem_cert_chain},
        std::pair{key_file, &ssl.pem_private_key}}) {
    if (path.empty()) continue;
    std::optional<std::string> pem = ReadFile(path);
    if (!pem.has_value()) return absl::StrCat("cannot read ", path);
    *field = std::move(*pem);
  }
  options->credentials = grpc::SslCredentials(ssl);
  if (!token_file.empty()) {
    std::optional<std::string> text = ReadFile(token_file);
    if (!text.has_value()) return absl::StrCat("cannot read ", token_file);
    std::string token(absl::StripAsciiWhitespace(text->substr(0, text->find('\n'))));
    if (token.empty()) return absl::StrCat(token_file, " holds no token");
    options->credentials = grpc::CompositeChannelCredentials(options->credentials,
                                                             grpc::AccessTokenCredentials(token));
  }
  options->tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  return std::nullopt;
}

int Report(const absl::Status& status, absl::string_view where) {
  const txgate::client::Error error = txgate::client::Error::FromStatus(status);
  std::cerr << "txgate-cli: " << where << "error: " << absl::StatusCodeToString(error.code) << ": "
            << error.message << "\n";
  if (!error.reason.empty()) std::cerr << "  reason: " << error.reason << "\n";
  if (error.mysql_errno != 0) {
    std::cerr << "  MySQL errno " << error.mysql_errno << ", SQLSTATE " << error.sqlstate << ": "
              << error.mysql_message << "\n";
  }
  if (error.outcome_unknown()) {
    std::cerr << "  the outcome is unknown: the write may or may not have been applied\n";
  }
  if (!error.idempotency_key.empty()) {
    std::cerr << "  idempotency key: " << error.idempotency_key << "\n";
  }
  return kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "runs SQL through txgate: txgate-cli --addr=HOST:PORT [--format=table|csv|json] "
      "[--timeout=5s] [--transaction] (-e 'SQL' | -f FILE)");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return path.find("cli/main.cc") != absl::string_view::npos;
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) return Usage(absl::StrCat("unexpected argument ", positional[1]));

  const std::string addr = absl::GetFlag(FLAGS_addr);
  if (addr.empty()) return Usage("--addr is required");
  absl::StatusOr<txgate::cli::OutputFormat> format =
      txgate::cli::ParseOutputFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return Usage(format.status().message());
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) return Usage("--timeout must be positive");
  const std::string sql = absl::GetFlag(FLAGS_e);
  const std::string file = absl::GetFlag(FLAGS_f);
  if (sql.empty() == file.empty()) return Usage("give exactly one of -e and -f");

  std::vector<std::string> statements;
  if (!sql.empty()) {
    statements.push_back(sql);
  } else {
    std::stringstream text;
    if (file == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(file, std::ios::binary);
      if (!in) return Usage(absl::StrCat("cannot read ", file));
      text << in.rdbuf();
    }
    statements = txgate::cli::SplitStatements(text.str());
    if (statements.empty()) return Usage(absl::StrCat(file, " holds no statements"));
  }

  txgate::client::Options options;
  if (std::optional<std::string> problem = SetCredentials(&options)) return Usage(*problem);
  options.call_timeout = timeout;
  options.transaction_timeout = timeout;
  txgate::client::Client client(addr, options);

  if (absl::GetFlag(FLAGS_transaction)) {
    std::vector<txgate::client::Statement> batch(statements.begin(), statements.end());
    absl::StatusOr<txgate::client::TransactionResult> result = client.RunTransaction(batch);
    if (!result.ok()) return Report(result.status(), "transaction ");
    for (const txgate::v1::ResultSet& rs : result->results) {
      txgate::cli::WriteResult(rs, *format, std::cout);
    }
    return 0;
  }
  for (size_t i = 0; i < statements.size(); ++i) {
    absl::StatusOr<txgate::v1::ResultSet> result = client.Execute(statements[i]);
    if (!result.ok()) {
      return Report(result.status(),
                    statements.size() > 1 ? absl::StrCat("statement ", i + 1, ": ") : "");
    }
    txgate::cli::WriteResult(*result, *format, std::cout);
    std::cout.flush();
  }
  return 0;
}
