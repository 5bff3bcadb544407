#!/usr/bin/env bash
# Checks that every C++ file in server/, client/cpp/ and tests/ is formatted as
# .clang-format says (Google style, 100 columns), with Debian's clang-format.
#
#   tests/lint/format.sh          # check: lists unformatted files, exits 1 if any
#   tests/lint/format.sh --fix    # rewrites them in place
#   tests/lint/format.sh [--fix] FILE...   # only these files
#
# The files are the tracked and untracked-but-not-ignored *.cc and *.h under
# those directories (git ls-files), so build directories and generated code
# (ignored, or outside them) are never touched; outside a git checkout, `find`
# with build*/ and *.pb.* excluded. clang-format comes from
# deploy/local/deps.sh --test.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

fix=false
if [ "${1:-}" = "--fix" ]; then
  fix=true
  shift
fi
case "${1:-}" in -*) echo "usage: $0 [--fix] [FILE...]" >&2; exit 2 ;; esac

clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null ||
  { echo "format: $clang_format not found (deploy/local/deps.sh --test installs it)" >&2; exit 1; }

files=()
if [ $# -gt 0 ]; then
  files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r f; do
    [ -f "$f" ] && files+=("$f")
  done < <(git ls-files -co --exclude-standard -- server client/cpp tests |
             grep -E '\.(cc|h)$' | grep -v '\.pb\.')
else
  while IFS= read -r f; do files+=("$f"); done < <(
    find server client/cpp tests -path '*/build*' -prune -o -type f \
      \( -name '*.cc' -o -name '*.h' \) ! -name '*.pb.*' -print | sort)
fi

if $fix; then
  "$clang_format" -i --style=file "${files[@]}"
  echo "format: formatted ${#files[@]} files"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  "$clang_format" --style=file --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'format: not formatted: %s\n' "${bad[@]}" >&2
  echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format;" \
       "run tests/lint/format.sh --fix (see the diff with: clang-format FILE | diff FILE -)" >&2
  exit 1
fi
echo "format: ${#files[@]} files formatted as .clang-format says"
