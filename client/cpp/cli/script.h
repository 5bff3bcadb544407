// Script: the statements of a txgate-cli file (-f).
//
// A statement ends at a line whose last non-blank character is ';' (the ';'
// is dropped), so a ';' on a line of its own separates statements too; text
// after the last ';' is one more statement. Lines that are blank or whole-line
// comments ("--" or "#") before a statement starts are skipped, and so are
// statements that are empty. A ';' in the middle of a line does not split
// it; a string literal ending a line with ';' would, so avoid that.
#ifndef TXGATE_CLIENT_CPP_CLI_SCRIPT_H_
#define TXGATE_CLIENT_CPP_CLI_SCRIPT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace txgate::cli {

// The statements of `text`, in order, without their terminating ';'.
std::vector<std::string> SplitStatements(absl::string_view text);

}  // namespace txgate::cli

#endif  // TXGATE_CLIENT_CPP_CLI_SCRIPT_H_
