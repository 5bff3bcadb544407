#!/usr/bin/env bash
# The replicated-cluster suite: a MariaDB primary and two replicas on
# loopback (tests/support/cluster.sh, semi-synchronous replication), txgate
# with --mysql_hosts, then
#   1. cluster_topology_test: the monitor's roles, lag, a switchover and back;
#      replica_reads_test: reads on replicas with causality tokens (README,
#      "Reads on replicas");
#   2. the failover driver (main.go): a bank workload of keyed transfers
#      through txgate while the primary is SIGKILLed and a replica promoted,
#      then a planned switchover; checks the total balance, duplicates,
#      every acknowledged transfer on the new primary, and that callers
#      whose deadline outlasts the failover saw no error. ~1-2 min.
#
#   tests/replication/run.sh                 # what tests/run.sh runs (TXGATE_SUITES=replication)
#   tests/replication/run.sh -- -detect 5s   # driver flags after --
#   TXGATE_REPLICATION_MODE=async tests/replication/run.sh   # asynchronous replication:
#       acknowledged transfers lost with the old primary are reported, and must be
#       applied once by their client's re-send with the key (README)
#
# Uses TXGATE_BUILD_DIR (default build/) and TXGATE_LOG_DIR; needs go.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export TXGATE_BUILD_DIR=${TXGATE_BUILD_DIR:-$root/build}
export TXGATE_LOG_DIR=${TXGATE_LOG_DIR:-$(mktemp -d /tmp/txgate-replication-logs.XXXXXX)}
export PATH="${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}/bin:$PATH"
if [ "${1:-}" = -- ]; then shift; fi
. "$root/tests/support/lib.sh"

work=$(mktemp -d /tmp/txgate-replication.XXXXXX)
cluster="$work/cluster"
txgate_pid=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$txgate_pid" ]; then
    kill -TERM "$txgate_pid" 2>/dev/null
    wait "$txgate_pid" 2>/dev/null
  fi
  bash "$root/tests/support/cluster.sh" stop "$cluster"
  if [ "$rc" -ne 0 ]; then
    echo "replication: failed (exit $rc); logs in $work and $TXGATE_LOG_DIR" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT

echo "replication: building the failover driver"
(cd "$here" && go build -buildvcs=false -mod=mod -o "$work/failover" .)

mode=${TXGATE_REPLICATION_MODE:-semi-sync}
driver_flags=()
if [ "$mode" = async ]; then
  driver_flags+=(-async)
  semi=""
else
  semi=--semi-sync
fi
echo "replication: starting a primary and two replicas ($mode) in $cluster"
bash "$root/tests/support/cluster.sh" start "$cluster" 2 $semi
hosts=$(bash "$root/tests/support/cluster.sh" hosts "$cluster")
echo "replication: --mysql_hosts=$hosts"

if [ -x "$TXGATE_BUILD_DIR/tests/integration/cluster_topology_test" ]; then
  TXGATE_TEST_CLUSTER_DIR=$cluster "$TXGATE_BUILD_DIR/tests/integration/cluster_topology_test" \
    >"$work/cluster_topology_test.log" 2>&1 || {
    tail -40 "$work/cluster_topology_test.log" >&2
    exit 1
  }
  grep -E '^\[  (PASSED|FAILED) ' "$work/cluster_topology_test.log"
fi
# Reads on replicas (README): write-then-read pairs with causality tokens,
# lagging replicas; 2000 pairs, 500 in CI's short profile.
if [ -x "$TXGATE_BUILD_DIR/tests/integration/replica_reads_test" ]; then
  TXGATE_TEST_CLUSTER_DIR=$cluster TXGATE_REPLICA_PAIRS=${TXGATE_REPLICA_PAIRS:-$([ "${CI:-}" = true ] && echo 500 || echo 2000)} \
    "$TXGATE_BUILD_DIR/tests/integration/replica_reads_test" >"$work/replica_reads_test.log" 2>&1 || {
    grep -v '^{' "$work/replica_reads_test.log" | tail -40 >&2
    exit 1
  }
  grep -E '^pairs |^\[  (PASSED|FAILED) ' "$work/replica_reads_test.log"
fi

port=$(free_port)
metrics_port=$(free_port)
log="$TXGATE_LOG_DIR/txgate-$port.log"
TXGATE_MYSQL_PASSWORD=$(cat "$cluster/n0/password") "$TXGATE_BUILD_DIR/txgate-server" \
  --listen="127.0.0.1:$port" --metrics_listen="127.0.0.1:$metrics_port" \
  --mysql_hosts="$hosts" --mysql_user=txgate --mysql_database=txgate \
  --pool_min_idle=4 --pool_max_size=16 --failover_buffer_window=10s \
  --topology_check_interval=1s >"$log" 2>&1 &
txgate_pid=$!
wait_for sh -c "grpcurl -plaintext 127.0.0.1:$port grpc.health.v1.Health/Check | grep -q SERVING"
echo "replication: txgate 127.0.0.1:$port (log $log)"

# A primary turned read-only under txgate (no new primary yet): the write
# it refuses (1290) is not applied; txgate re-checks the topology, the call
# waits in the failover buffer, and runs once the server is writable again.
echo "replication: a primary turned read-only under txgate"
call() { grpcurl -plaintext -max-time 20 -d "$2" "127.0.0.1:$port" "txgate.v1.DatabaseService/$1"; }
call Execute '{"sql":"CREATE TABLE IF NOT EXISTS ro_check (id INT PRIMARY KEY)"}' >/dev/null
call Execute '{"sql":"SELECT 1"}' >/dev/null
primary=$(bash "$root/tests/support/cluster.sh" primary "$cluster")
bash "$root/tests/support/cluster.sh" sql "$cluster" "$primary" "SET GLOBAL read_only=1"
call RunTransaction '{"statements":[{"sql":"INSERT INTO ro_check VALUES (1)"}],"idempotency_key":"ro-1"}' \
  >"$work/ro.json" &
ro_pid=$!
wait_for sh -c "curl -sf 127.0.0.1:$metrics_port/metrics | grep -q '^txgate_failover_buffer_calls 1'"
bash "$root/tests/support/cluster.sh" sql "$cluster" "$primary" "SET GLOBAL read_only=0"
wait "$ro_pid"
rows=$(bash "$root/tests/support/cluster.sh" sql "$cluster" "$primary" \
  "SELECT COUNT(*) FROM txgate.ro_check WHERE id = 1")
[ "$rows" = 1 ] || { echo "replication: the refused write is there $rows times" >&2; exit 1; }
echo "replication: applied once after waiting in the buffer ($(tr -d ' \n' <"$work/ro.json" | grep -o '"attempts":[0-9]*' || echo '"attempts":1'))"

"$work/failover" -txgate "127.0.0.1:$port" -metrics "127.0.0.1:$metrics_port" \
  -cluster "$cluster" -repo "$root" "${driver_flags[@]}" "$@" | tee "$work/report.txt"
# txgate must shut down cleanly after it all.
kill -TERM "$txgate_pid"
rc=0
wait "$txgate_pid" || rc=$?
txgate_pid=""
if [ "$rc" -ne 0 ]; then
  echo "replication: txgate exited $rc after SIGTERM" >&2
  exit 1
fi
mkdir -p "$here/results"
cp "$work/report.txt" "$here/results/latest-$mode.txt"
