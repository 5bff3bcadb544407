#!/usr/bin/env bash
# Runs every README example (grpcurl and buf curl calls) against a live txgate
# on the test MariaDB. Called by tests/run.sh, which sets TXGATE_BUILD_DIR,
# TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT and PATH (grpcurl, buf).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/tests/support/lib.sh"
port=$(free_port)
start_txgate "$port"
trap 'stop_txgate "$port"' EXIT
python3 "$root/tests/readme/run_examples.py" "$root/README.md" "127.0.0.1:$port"
# The server documents its flags (absl's --help exits 1 by design), and the
# README's configuration table has a row for each: both lists must match.
help=$("$TXGATE_BUILD_DIR/txgate-server" --help 2>&1 || true)
help_flags=$(grep -oE '^ +--[a-z0-9_]+' <<<"$help" | tr -d ' ' | sort -u)
readme_flags=$(sed -n '/^## Configuration/,/^## /p' "$root/README.md" | grep '^| `--' |
  cut -d'|' -f2 | grep -oE -- '--[a-z0-9_]+' | sort -u)
missing=$(comm -23 <(echo "$help_flags") <(echo "$readme_flags"))
unknown=$(comm -13 <(echo "$help_flags") <(echo "$readme_flags"))
[ -z "$missing" ] || { echo "README's configuration table has no row for:" $missing >&2; exit 1; }
[ -z "$unknown" ] || { echo "txgate-server --help does not list:" $unknown >&2; exit 1; }
grep -q TXGATE_MYSQL_PASSWORD <<<"$help"
grep -q TXGATE_MYSQL_RO_PASSWORD <<<"$help"
echo "txgate-server --help and the README's configuration table list the same $(wc -l <<<"$help_flags") flags"
# --version: the project's one version and the build's commit (issue 14).
version=$("$TXGATE_BUILD_DIR/txgate-server" --version)
want=$(sed -n 's/^project(txgate VERSION \([0-9.]*\) .*/\1/p' "$root/CMakeLists.txt")
grep -Eq "^txgate-server $want \(commit ([0-9a-f]{40}|unknown)\)$" <<<"$version" ||
  { echo "txgate-server --version printed '$version', want version $want and a commit" >&2; exit 1; }
echo "txgate-server --version: $version"
