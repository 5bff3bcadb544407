#!/usr/bin/env bash
# Proves txgate's graceful shutdown with the real binary, a real MariaDB, ghz
# load and grpcurl clients: SIGTERM arrives while ghz runs `SELECT SLEEP(0.2)`
# at concurrency 20, a `SELECT SLEEP(2)` is in flight and an interactive
# transaction holds an inserted, uncommitted row. Then:
#   - the in-flight calls complete OK (the SLEEP(2) and ghz's: ghz sees only
#     OK and, once the server stopped taking calls, UNAVAILABLE);
#   - a new call is refused (the port is closed: connection refused);
#   - during the drain, readiness ("") says NOT_SERVING, liveness SERVING;
#   - the open interactive transaction ends at once with UNAVAILABLE
#     (SERVER_SHUTTING_DOWN) and its row is gone (rolled back);
#   - txgate exits 0 within --shutdown_grace;
#   - its log holds neither a parameter value nor the database password.
#
#   bash tests/shutdown/run.sh   # env from tests/run.sh: TXGATE_BUILD_DIR,
#                                # TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT, TXGATE_LOG_DIR
# Needs ghz and grpcurl on PATH (tests/run.sh puts ~/.cache/txgate/tools/bin there).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/tests/support/lib.sh"
: "${TXGATE_BUILD_DIR:?}" "${TXGATE_TEST_DB_DIR:?}" "${TXGATE_TEST_MYSQL_PORT:?}"
export TXGATE_LOG_DIR=${TXGATE_LOG_DIR:-$(mktemp -d)}

work=$(mktemp -d /tmp/txgate-shutdown.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() {  # check DESCRIPTION CMD...: runs CMD, counts and reports the result
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok    $what"
  else
    failed=$((failed + 1))
    echo "FAIL  $what"
  fi
}
admin() {
  mariadb --socket="$TXGATE_TEST_DB_DIR/mysqld.sock" -uroot -N -B txgate -e "$1"
}
now_ms() { date +%s%3N; }
absent() { ! grep -qF -- "$1" "$2"; }   # absent STRING FILE
ghz_codes_ok() {  # ghz_codes_ok SUMMARY: only OK, UNAVAILABLE, and at most 20 Canceled
  local code
  for code in $(head -1 "$1"); do
    case $code in
      OK=* | Unavailable=*) ;;
      Canceled=*) [ "${code#Canceled=}" -le 20 ] || return 1 ;;
      *) return 1 ;;
    esac
  done
}

secret=param-secret-4f1c9e
grace=10
port=$(free_port)
health=$(free_port)
metrics=$(free_port)
log="$TXGATE_LOG_DIR/txgate-$port.log"
addr=127.0.0.1:$port

admin "DROP TABLE IF EXISTS shutdown_t; CREATE TABLE shutdown_t (id INT PRIMARY KEY, v VARCHAR(64))"

start_txgate "$port" --shutdown_grace=${grace}s --pool_max_size=32 \
  --health_listen=127.0.0.1:$health --metrics_listen=127.0.0.1:$metrics
txgate_pid=$(cat "$TXGATE_LOG_DIR/txgate-$port.pid")
rm -f "$TXGATE_LOG_DIR/txgate-$port.pid"  # this script waits for it itself
pids+=("$txgate_pid")

# An interactive transaction that inserted a row and then waits: grpcurl
# reads its messages from a FIFO that stays open.
mkfifo "$work/txn.in"
grpcurl -plaintext -d @ "$addr" txgate.v1.DatabaseService/Transaction \
  <"$work/txn.in" >"$work/txn.out" 2>"$work/txn.err" &
txn_pid=$!
pids+=("$txn_pid")
exec 3>"$work/txn.in"
cat >&3 <<MSGS
{"begin": {}}
{"statement": {"sql": "INSERT INTO shutdown_t VALUES (?, ?)", "params": [{"int64_value": 1}, {"string_value": "$secret"}]}}
MSGS
wait_for grep -q '"affected_rows"' "$work/txn.out"
check "the open transaction's row is not visible outside it" \
  test "$(admin 'SELECT COUNT(*) FROM shutdown_t')" = 0

# Load: ghz through reflection, 20 concurrent SELECT SLEEP(0.2) for 8 s.
ghz --insecure --call txgate.v1.DatabaseService.Execute \
  -d "{\"sql\": \"SELECT SLEEP(0.2), ?\", \"params\": [{\"string_value\": \"$secret\"}]}" \
  -c 20 -z 8s --connections 4 --rps 400 -O json -o "$work/ghz.json" "$addr" 2>"$work/ghz.err" &
ghz_pid=$!
pids+=("$ghz_pid")
sleep 2

# A call that is in flight when SIGTERM arrives and takes 2 s more.
grpcurl -plaintext -max-time 30 -d '{"sql": "SELECT SLEEP(2) AS slept"}' \
  "$addr" txgate.v1.DatabaseService/Execute >"$work/long.out" 2>"$work/long.err" &
long_pid=$!
pids+=("$long_pid")
wait_for sh -c "mariadb --socket='$TXGATE_TEST_DB_DIR/mysqld.sock' -uroot -N -B -e \
  \"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(2)%'\" | grep -qx 1"

term_ms=$(now_ms)
kill -TERM "$txgate_pid"
sleep 0.5

# Draining: health says so on the probe port; the gRPC port takes no new call.
health_status() {  # health_status SERVICE: the status on the health port (no reflection there)
  grpcurl -plaintext -import-path "$TXGATE_BUILD_DIR/_deps/protos" -proto grpc/health/v1/health.proto \
    -d "{\"service\": \"$1\"}" "127.0.0.1:$health" grpc.health.v1.Health/Check |
    sed -n 's/.*"status": "\([A-Z_]*\)".*/\1/p'
}
check "readiness is NOT_SERVING while draining" test "$(health_status '')" = NOT_SERVING
check "liveness stays SERVING while draining" test "$(health_status txgate.v1.Liveness)" = SERVING
new_rc=0
grpcurl -plaintext -max-time 5 -d '{"sql": "SELECT 1"}' "$addr" txgate.v1.DatabaseService/Execute \
  >"$work/new.out" 2>&1 || new_rc=$?
check "a new call during the drain fails" test "$new_rc" -ne 0
check "... because the port refuses connections (or UNAVAILABLE)" \
  grep -Eq 'connection refused|Unavailable' "$work/new.out"

long_rc=0
wait "$long_pid" || long_rc=$?
check "the call in flight at SIGTERM completed OK" test "$long_rc" -eq 0
check "... with its result" grep -q '"slept"' "$work/long.out"

txgate_rc=0
wait "$txgate_pid" || txgate_rc=$?
exit_ms=$(($(now_ms) - term_ms))
echo "      txgate exited $txgate_rc, ${exit_ms} ms after SIGTERM (grace ${grace}s)"
check "txgate exits 0" test "$txgate_rc" -eq 0
check "txgate exits within --shutdown_grace" test "$exit_ms" -lt $((grace * 1000))
check "txgate waited for the in-flight call" test "$exit_ms" -ge 1000

# The interactive transaction was ended at SIGTERM, as UNAVAILABLE: had it
# stayed open, txgate would have waited out the whole grace period. grpcurl
# reports the status once its stdin ends.
exec 3>&-
txn_rc=0
wait "$txn_pid" || txn_rc=$?
check "the open transaction's stream failed" test "$txn_rc" -ne 0
check "... with UNAVAILABLE" grep -q 'Code: Unavailable' "$work/txn.err"
check "... saying the server is shutting down" grep -q 'shutting down' "$work/txn.err"
check "txgate logged it as ended by the drain" \
  grep -q '"method":"Transaction","code":"UNAVAILABLE".*"reason":"SERVER_SHUTTING_DOWN"' "$log"
check "the open transaction was rolled back (its row is absent)" \
  test "$(admin 'SELECT COUNT(*) FROM shutdown_t')" = 0

ghz_rc=0
wait "$ghz_pid" || ghz_rc=$?
check "ghz ran" test -s "$work/ghz.json"
python3 - "$work/ghz.json" >"$work/ghz.summary" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution") or {}
print(" ".join(f"{k}={v}" for k, v in sorted(codes.items())))
for e in (r.get("errorDistribution") or {}):
    print("error:", e)
PY
echo "      ghz: $(head -1 "$work/ghz.summary")"
check "ghz had OK calls" grep -Eq '(^| )OK=[1-9]' "$work/ghz.summary"
# ghz itself cancels the calls it has in flight when its -z duration ends,
# long after txgate exited (they are Canceled; at most its concurrency); what
# txgate accepted, its log shows.
check "ghz saw only OK and UNAVAILABLE (and its own final cancels)" ghz_codes_ok "$work/ghz.summary"
check "every Execute that txgate accepted completed OK (its log)" \
  sh -c "! grep '\"method\":\"Execute\"' '$log' | grep -v '\"code\":\"OK\"'"
check "... and it accepted ghz's calls" test "$(grep -c '"method":"Execute","code":"OK"' "$log")" -gt 100

check "the log has a line per call with a request id" grep -q '"msg":"rpc","request_id":' "$log"
check "the log records the drain" grep -q '"msg":"stopped"' "$log"
check "the log holds no parameter value" absent "$secret" "$log"
password=$(cat "$TXGATE_TEST_DB_DIR/password")
check "the log holds a password to look for" test -n "$password"
check "the log holds no database password" absent "$password" "$log"

admin "DROP TABLE IF EXISTS shutdown_t"
echo "shutdown: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
