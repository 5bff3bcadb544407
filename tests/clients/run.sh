#!/usr/bin/env bash
# Client suite: the Python, Go, Node.js and Java clients (client/*) against a live txgate.
#
# Checks that the committed generated code matches proto/ (check_generated.sh),
# installs each language's pinned dependencies (a venv under $TXGATE_TOOLS/venv,
# `npm ci` from client/node/package-lock.json, Go modules from client/go/go.sum;
# all skipped when already current), starts a txgate on a free port against the
# test MariaDB and a toxiproxy (TXGATE_TOXIPROXY: its API), runs each
# language's tests (TXGATE_ADDR=127.0.0.1:PORT) and example, checks that each
# package installs into a fresh project (tests/clients/install/), and stops both. Called by tests/run.sh, which sets TXGATE_BUILD_DIR,
# TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT, TXGATE_LOG_DIR and a PATH holding
# grpcurl and buf.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
. tests/support/lib.sh
export TXGATE_TOOLS=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export PATH="$TXGATE_TOOLS/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
venv=$TXGATE_TOOLS/venv/txgate-clients  # created by client/generate.sh
logs=${TXGATE_LOG_DIR:-/tmp}
started=$(date +%s)
say() { echo "--- clients [$(($(date +%s) - started))s] $*"; }

# run_logged NAME CMD...: runs CMD with its output in $logs/clients-NAME.log;
# shows the log's tail on failure, the test counts on success.
run_logged() {
  local name=$1 log="$logs/clients-$1.log"
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 80 "$log" >&2
    echo "clients: $name failed; full log in $log" >&2
    return 1
  fi
  local passed skipped
  case $name in
  python) passed=$(grep -c ' PASSED' "$log" || true) skipped=$(grep -c ' SKIPPED' "$log" || true) ;;
  go) passed=$(grep -c -- '^\s*--- PASS' "$log" || true) skipped=$(grep -c -- '^\s*--- SKIP' "$log" || true) ;;
  node) passed=$(sed -n 's/^# pass //p' "$log") skipped=$(sed -n 's/^# skipped //p' "$log") ;;
  java) # Surefire's last summary: "Tests run: N, Failures: F, Errors: E, Skipped: S"
    local run failures errors
    read -r run failures errors skipped < <(grep -E '^\[[A-Z]+\] Tests run: [0-9]+, Failures' "$log" |
      tail -n 1 | tr -dc '0-9 ' && echo)
    passed=$((${run:-0} - ${failures:-0} - ${errors:-0} - ${skipped:-0})) ;;
  esac
  echo "$name: $passed passed, $skipped skipped (log: $log)"
  if [ "${skipped:-0}" != 0 ] || [ "${passed:-0}" = 0 ]; then
    echo "clients: $name skipped tests against the live txgate; see $log" >&2
    return 1
  fi
}

say "generated code is current (also prepares the Python venv)"
bash tests/clients/check_generated.sh

say "dependencies"
lock_sum=$(sha256sum client/node/package-lock.json | cut -d' ' -f1)
if [ "$(cat client/node/node_modules/.txgate-lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
  (cd client/node && npm ci --no-audit --no-fund --silent)
  echo "$lock_sum" >client/node/node_modules/.txgate-lock.sha256
fi
(cd client/go && go mod download)
(cd tests/clients/go/sqlx && go mod download)

port=$(free_port)
# The clients' StreamQuery tests read values of 64 MiB: MariaDB's
# max_allowed_packet must be above them (REPEAT's result and the row's
# packet). Raised before txgate starts, as a session takes it when it
# connects; restored when the suite ends.
admin_sql() { bash deploy/local/mariadb.sh sql "$TXGATE_TEST_DB_DIR" "$1"; }
saved_packet=$(admin_sql "SELECT @@GLOBAL.max_allowed_packet")
toxi_port=$(free_port)
cleanup() {
  local rc=$?
  stop_txgate "$port" || true
  stop_toxiproxy "$toxi_port"
  admin_sql "SET GLOBAL max_allowed_packet = $saved_packet" || true
  exit $rc
}
trap cleanup EXIT
admin_sql "SET GLOBAL max_allowed_packet = 134217728"
say "txgate on 127.0.0.1:$port"
start_txgate "$port"
export TXGATE_ADDR=127.0.0.1:$port
# The live tests put their own proxies in front of txgate's gRPC port, to cut
# a call's answer on its way back to the client.
say "toxiproxy API on 127.0.0.1:$toxi_port"
start_toxiproxy "$toxi_port"
export TXGATE_TOXIPROXY=127.0.0.1:$toxi_port

say "Python (pytest)"
run_logged python sh -c 'cd client/python && "$0" -m pytest -v -p no:cacheprovider' "$venv/bin/python"
say "Go (go test, TZ=America/New_York: times must be bound in UTC whatever the zone)"
# (and the database/sql driver through sqlx, a module of its own: tests/clients/go/sqlx)
run_logged go sh -c 'cd client/go && TZ=America/New_York go test -count=1 -v ./... &&
  cd ../../tests/clients/go/sqlx && TZ=America/New_York go test -count=1 -v ./...'
say "Node.js (node --test)"
run_logged node sh -c 'cd client/node && node --test'

say "Java (mvn verify; install into the local Maven repository and use it from a fresh project)"
run_logged java sh -c 'cd client/java && mvn -B -Dmaven.repo.local="$TXGATE_TOOLS/m2" verify'
bash tests/clients/install/java.sh

say "example: Python"
(cd client/python && "$venv/bin/python" example.py)
say "install: Python (wheel and sdist into fresh projects, newest and lowest dependencies)"
bash tests/clients/install/python.sh
say "example: Go"
(cd client/go && go run ./example)
say "install: Go (a fresh module outside the repository, database/sql against txgate)"
bash tests/clients/install/go.sh
say "example: Node.js"
(cd client/node && node example.js)
say "Node.js: TypeScript declarations (tsc --noEmit on typecheck)"
(cd client/node && npx --no-install tsc -p typecheck)
say "Node.js: npm pack, install into a fresh project, run against txgate"
bash tests/clients/install/node.sh
say "C++ (gtest, txgate-cli)"; bash tests/clients/cpp/run.sh

trap - EXIT
stop_toxiproxy "$toxi_port"
say "stopping txgate"
stop_txgate "$port"
admin_sql "SET GLOBAL max_allowed_packet = $saved_packet"
say "client suite passed"
