#!/usr/bin/env bash
# Proves that txgate's memory stays within the Kubernetes limit
# (deploy/k8s/base/deployment.yaml: 512Mi) under large requests, and is given
# back afterwards: 32 concurrent Execute calls, each with a legal 15 MiB
# parameter, for three rounds (ghz -c 32 -n 96), against txgate with its
# default flags. Asserts:
#   - the peak RSS (VmHWM) stays below the limit;
#   - once the load ends, RSS comes back below 160 MiB (the allocator gives
#     memory back: glibc's arenas kept ~680 MB);
#   - every call was answered OK or RESOURCE_EXHAUSTED: by txgate beyond
#     --max_inflight_request_bytes (naming it), or by gRPC's memory quota
#     (twice that) resetting the stream (ENHANCE_YOUR_CALM).
# RSS only means something without sanitizers, so this builds its own
# txgate-server (RelWithDebInfo) in $TXGATE_MEMORY_BUILD_DIR (default
# build-memory) unless TXGATE_MEMORY_SERVER names one.
#
#   bash tests/memory/run.sh   # env from tests/run.sh: TXGATE_TEST_DB_DIR,
#                              # TXGATE_TEST_MYSQL_PORT, TXGATE_LOG_DIR
# Needs ghz and grpcurl on PATH (tests/run.sh puts ~/.cache/txgate/tools/bin there).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/tests/support/lib.sh"
: "${TXGATE_TEST_DB_DIR:?}" "${TXGATE_TEST_MYSQL_PORT:?}"
export TXGATE_LOG_DIR=${TXGATE_LOG_DIR:-$(mktemp -d)}

limit_mib=512
after_mib=160
server=${TXGATE_MEMORY_SERVER:-}
if [ -z "$server" ]; then
  dir=${TXGATE_MEMORY_BUILD_DIR:-$root/build-memory}
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTXGATE_SANITIZE= \
    -DTXGATE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$dir" -j "$(nproc)" --target txgate-server
  server=$dir/txgate-server
fi
export TXGATE_BUILD_DIR=$(dirname "$server")

work=$(mktemp -d /tmp/txgate-memory.XXXXXX)
port=$(free_port)
cleanup() {
  stop_txgate "$port" || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }  # rss_kib PID VmRSS|VmHWM

# One request: SELECT LENGTH(?) with 15 MiB of bytes (base64 in JSON).
python3 - "$work/request.json" <<'PY'
import base64, json, os, sys
blob = base64.b64encode(os.urandom(15 << 20)).decode()
json.dump({"sql": "SELECT LENGTH(?) AS n", "params": [{"bytes_value": blob}]}, open(sys.argv[1], "w"))
PY

start_txgate "$port"
pid=$(cat "$TXGATE_LOG_DIR/txgate-$port.pid")
before=$(rss_kib "$pid" VmRSS)

ghz --insecure --call txgate.v1.DatabaseService.Execute -D "$work/request.json" \
  -c 32 -n 96 --max-recv-message-size=64MB --max-send-message-size=64MB -t 120s \
  -O json -o "$work/ghz.json" "127.0.0.1:$port" 2>"$work/ghz.err"
peak=$(rss_kib "$pid" VmHWM)
codes=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(f"{k}={v}" for k,v in sorted(d.get("statusCodeDistribution",{}).items())))' "$work/ghz.json")

# The allocator returns freed memory within seconds: wait for it (bounded).
after=$(rss_kib "$pid" VmRSS)
for _ in $(seq 1 60); do
  [ "$after" -lt $((after_mib * 1024)) ] && break
  sleep 0.5
  after=$(rss_kib "$pid" VmRSS)
done

echo "RSS before ${before} KiB, peak ${peak} KiB, after ${after} KiB; calls: $codes"
failed=0
check() {  # check DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; failed=1; fi
}
only_ok_or_overloaded() {
  local c
  for c in $codes; do
    case $c in OK=* | ResourceExhausted=*) ;; *) return 1 ;; esac
  done
  [[ " $codes" == *" OK="* ]]
}
check "peak RSS below the ${limit_mib} MiB limit" test "$peak" -lt $((limit_mib * 1024))
check "RSS back below ${after_mib} MiB after the load" test "$after" -lt $((after_mib * 1024))
check "calls answered OK or RESOURCE_EXHAUSTED (and some OK)" only_ok_or_overloaded
refusals_explained() {  # ours name the flag; gRPC's own (its memory quota) reset the stream
  python3 - "$work/ghz.json" <<'PY'
import json, sys
errors = json.load(open(sys.argv[1])).get("errorDistribution") or {}
bad = [e for e in errors if "--max_inflight_request_bytes" not in e and "ENHANCE_YOUR_CALM" not in e]
for e in errors:
    print(f"      {errors[e]} x {e[:160]}")
sys.exit(1 if bad else 0)
PY
}
check "refusals name --max_inflight_request_bytes or are gRPC's quota (ENHANCE_YOUR_CALM)" \
  refusals_explained
exit $failed
