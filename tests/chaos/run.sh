#!/usr/bin/env bash
# txgate's fault-injection suite: proves that no transfer of a bank workload is
# lost or applied twice while real faults hit the path to MariaDB. See README.md.
#
#   tests/chaos/run.sh                   # CI's short profile (about 3 minutes)
#   tests/chaos/run.sh --long            # tens of thousands of transfers, hundreds of faults
#   tests/chaos/run.sh [--long] -- -seed 42 -commit_window 200   # extra flags for the driver
#
# Called by tests/run.sh with TXGATE_BUILD_DIR (holds txgate-server),
# TXGATE_TEST_DB_DIR and TXGATE_TEST_MYSQL_PORT (a running MariaDB, which this
# suite SIGKILLs and restarts and leaves running), TXGATE_LOG_DIR, and PATH
# with the tools of deploy/local/deps.sh --test. Run by hand, it defaults
# TXGATE_BUILD_DIR to build/ and starts (and stops) a MariaDB of its own.
#
# It starts toxiproxy on a free loopback port with a proxy to MariaDB, and
# txgate pointed at the proxy; both are stopped at exit. The report is printed
# and written to tests/chaos/results/latest-{short,long}.txt. Exit status is
# non-zero on any anomaly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=short
if [ "${1:-}" = --long ]; then
  profile=long
  shift
fi
if [ "${1:-}" = -- ]; then shift; fi

export TXGATE_TOOLS=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export PATH="$TXGATE_TOOLS/bin:$PATH"
# shellcheck source=../support/lib.sh
. "$root/tests/support/lib.sh"

export TXGATE_BUILD_DIR=${TXGATE_BUILD_DIR:-$root/build}
if [ -z "${TXGATE_LOG_DIR:-}" ]; then
  TXGATE_LOG_DIR=$(mktemp -d /tmp/txgate-chaos.XXXXXX)
  export TXGATE_LOG_DIR
fi
work=$TXGATE_LOG_DIR/chaos
mkdir -p "$work" "$here/results"
for tool in toxiproxy-server toxiproxy-cli grpcurl go; do
  command -v "$tool" >/dev/null || { echo "chaos: $tool not found; run deploy/local/deps.sh --test" >&2; exit 2; }
done
[ -x "$TXGATE_BUILD_DIR/txgate-server" ] || { echo "chaos: no $TXGATE_BUILD_DIR/txgate-server" >&2; exit 2; }

own_db=0
if [ -z "${TXGATE_TEST_DB_DIR:-}" ]; then
  TXGATE_TEST_DB_DIR=$work/db
  TXGATE_TEST_MYSQL_PORT=$(free_port)
  export TXGATE_TEST_DB_DIR TXGATE_TEST_MYSQL_PORT
  own_db=1
fi
# A no-op when it runs already; also brings it back if an earlier run left it down.
bash "$root/deploy/local/mariadb.sh" start "$TXGATE_TEST_DB_DIR" "$TXGATE_TEST_MYSQL_PORT"

toxi_pid=""
txgate_port=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  local rc=$?
  set +e
  if [ -n "$txgate_port" ]; then stop_txgate "$txgate_port"; fi
  if [ -n "$toxi_pid" ]; then
    kill "$toxi_pid" 2>/dev/null
    wait "$toxi_pid" 2>/dev/null
  fi
  if [ "$own_db" = 1 ]; then
    bash "$root/deploy/local/mariadb.sh" stop "$TXGATE_TEST_DB_DIR"
  else
    # The suite stops and restarts mariadbd; whatever happened, leave it running.
    bash "$root/deploy/local/mariadb.sh" resume "$TXGATE_TEST_DB_DIR"
    bash "$root/deploy/local/mariadb.sh" start "$TXGATE_TEST_DB_DIR" "$TXGATE_TEST_MYSQL_PORT"
  fi
  [ "$rc" -ne 0 ] && echo "chaos: failed (exit $rc); logs in $work and $TXGATE_LOG_DIR" >&2
  exit "$rc"
}
trap cleanup EXIT

echo "chaos: building the driver and running its own tests"
(
  cd "$here"
  go build -buildvcs=false -mod=mod -o "$work/chaos" .
  go test -buildvcs=false -mod=mod -count=1 .
)

toxi_port=$(free_port)
proxy_port=$(free_port)
LOG_LEVEL=warn toxiproxy-server -host 127.0.0.1 -port "$toxi_port" >"$work/toxiproxy.log" 2>&1 &
toxi_pid=$!
toxi() { toxiproxy-cli -h "http://127.0.0.1:$toxi_port" "$@"; }
wait_for toxi list
toxi create -l "127.0.0.1:$proxy_port" -u "127.0.0.1:$TXGATE_TEST_MYSQL_PORT" mariadb >/dev/null
echo "chaos: toxiproxy 127.0.0.1:$toxi_port, proxy 127.0.0.1:$proxy_port -> MariaDB 127.0.0.1:$TXGATE_TEST_MYSQL_PORT"

txgate_port=$(free_port)
# Flags after start_txgate's own --mysql_port override it (absl: last wins).
start_txgate "$txgate_port" --mysql_port="$proxy_port" \
  --pool_min_idle=4 --pool_max_size=16 --pool_acquire_timeout=3s --pool_connect_timeout=2s \
  --pool_backoff_initial=20ms --pool_backoff_max=500ms --mysql_read_timeout=15s \
  --max_conflict_retries=5
echo "chaos: txgate 127.0.0.1:$txgate_port ($TXGATE_BUILD_DIR/txgate-server, log $TXGATE_LOG_DIR/txgate-$txgate_port.log)"

rc=0
"$work/chaos" -profile "$profile" -txgate "127.0.0.1:$txgate_port" \
  -toxiproxy "127.0.0.1:$toxi_port" -proxy mariadb -repo "$root" \
  -db_dir "$TXGATE_TEST_DB_DIR" -db_port "$TXGATE_TEST_MYSQL_PORT" \
  -server "$TXGATE_BUILD_DIR/txgate-server" -results "$here/results/latest-$profile.txt" "$@" || rc=$?

# txgate must also survive all of it and shut down cleanly.
port=$txgate_port
txgate_port=""
if ! stop_txgate "$port"; then
  echo "chaos: txgate did not exit cleanly; the end of its log:" >&2
  tail -30 "$TXGATE_LOG_DIR/txgate-$port.log" >&2
  [ $rc -ne 0 ] || rc=1
fi
exit $rc
