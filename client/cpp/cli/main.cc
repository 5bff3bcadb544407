// txgate-cli: runs SQL through a txgate and prints the results.
//
//   txgate-cli --addr=HOST:PORT [--format=table|csv|json] [--timeout=5s] -e 'SQL'
//   txgate-cli --addr=HOST:PORT [--transaction] -f FILE      # '-' reads stdin
//
// Each statement runs with Execute (autocommit); with --transaction, all of
// them run as one RunTransaction (all or nothing, exactly once). The first
// error stops the run: it goes to stderr with its code, message, reason and
// MySQL errno/SQLSTATE/message. Exit status: 0 success, 1 a statement
// failed, 2 bad usage.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/format.h"
#include "cli/script.h"
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

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Usage(absl::string_view problem) {
  std::cerr << "txgate-cli: " << problem << "\n"
            << "usage: txgate-cli --addr=HOST:PORT [--format=table|csv|json] [--timeout=5s] "
               "[--transaction] (-e 'SQL' | -f FILE)\n";
  return kExitUsage;
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
