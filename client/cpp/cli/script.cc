#include "cli/script.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace txgate::cli {

std::vector<std::string> SplitStatements(absl::string_view text) {
  std::vector<std::string> statements;
  std::string current;
  auto flush = [&] {
    absl::string_view s = absl::StripAsciiWhitespace(current);
    if (!s.empty()) statements.emplace_back(s);
    current.clear();
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (absl::StripAsciiWhitespace(current).empty() &&
        (trimmed.empty() || absl::StartsWith(trimmed, "--") || absl::StartsWith(trimmed, "#"))) {
      continue;
    }
    absl::string_view body = absl::StripTrailingAsciiWhitespace(line);
    if (absl::EndsWith(body, ";")) {
      body.remove_suffix(1);
      absl::StrAppend(&current, body);
      flush();
    } else {
      absl::StrAppend(&current, line, "\n");
    }
  }
  flush();
  return statements;
}

}  // namespace txgate::cli
