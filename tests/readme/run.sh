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
# The server documents its flags (absl's --help exits 1 by design).
help=$("$TXGATE_BUILD_DIR/txgate-server" --help 2>&1 || true)
for flag in --listen --mysql_host --mysql_port --mysql_socket --mysql_user --mysql_database \
  --mysql_password_file --mysql_ro_user --mysql_ro_password_file --ro_pool_max_size \
  --pool_min_idle --pool_max_size --pool_acquire_timeout --max_heal_retries --heal_backoff_initial \
  --heal_backoff_max --reload_interval; do
  grep -q -- "$flag" <<<"$help" || { echo "txgate-server --help does not list $flag" >&2; exit 1; }
done
grep -q TXGATE_MYSQL_PASSWORD <<<"$help"
grep -q TXGATE_MYSQL_RO_PASSWORD <<<"$help"
echo "txgate-server --help lists every flag"
# --version: the project's one version and the build's commit (issue 14).
version=$("$TXGATE_BUILD_DIR/txgate-server" --version)
want=$(sed -n 's/^project(txgate VERSION \([0-9.]*\) .*/\1/p' "$root/CMakeLists.txt")
grep -Eq "^txgate-server $want \(commit ([0-9a-f]{40}|unknown)\)$" <<<"$version" ||
  { echo "txgate-server --version printed '$version', want version $want and a commit" >&2; exit 1; }
echo "txgate-server --version: $version"
