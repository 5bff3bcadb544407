#!/usr/bin/env bash
# Counts what MariaDB receives per txgate call, for plain statements and for
# statements that leave session state (README, "Session state"): resets
# (Com_change_db: each reset restores --mysql_database), prepares and
# statements per call, plus ghz's average latency. Plain calls must show 0
# resets and 1 statement per call.
#
#   tests/load/session_cost.sh DB_DIR DB_PORT [TXGATE_BINARY]
#
# DB_DIR/DB_PORT: a MariaDB started by deploy/local/mariadb.sh (root over its
# socket, user txgate with DB_DIR/password). Prints a Markdown table.
set -euo pipefail
db=$1
port=$2
bin=${3:-build/txgate-server}
export PATH=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}/bin:$PATH
listen=127.0.0.1:${TXGATE_COST_PORT:-50091}
q() { mariadb -S "$db/mysqld.sock" -uroot -N -e "$1"; }
q "CREATE TABLE IF NOT EXISTS txgate.cost (id INT PRIMARY KEY AUTO_INCREMENT, v INT);
   INSERT IGNORE INTO txgate.cost (id, v) SELECT seq, seq FROM txgate.seq_1_to_1000"
TXGATE_MYSQL_PASSWORD=$(cat "$db/password") "$bin" --listen="$listen" --mysql_port="$port" \
  --mysql_user=txgate --mysql_database=txgate --pool_max_size=4 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grpcurl -plaintext "$listen" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING && break
  sleep 0.1
done
counters() {
  q "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_change_db','Com_stmt_prepare','Questions')" |
    awk '{printf "%s ", $2}'
}
n=2000
run() {  # NAME REQUEST_JSON
  local b a avg
  read -r -a b <<<"$(counters)"
  ghz --insecure --call txgate.v1.DatabaseService/Execute -d "$2" -n "$n" -c 4 "$listen" >/tmp/session_cost.ghz
  read -r -a a <<<"$(counters)"
  avg=$(grep -m1 "Average:" /tmp/session_cost.ghz | awk '{print $2, $3}')
  printf "| %s | %s | %s | %.3f | %.3f | %.3f |\n" "$1" "$n" "$avg" \
    "$(echo "(${a[0]}-${b[0]})/$n" | bc -l)" "$(echo "(${a[1]}-${b[1]})/$n" | bc -l)" \
    "$(echo "(${a[2]}-${b[2]})/$n" | bc -l)"
}
echo "| call | n | ghz average | resets/call | prepares/call | statements/call |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
run "SELECT (point, param)" '{"sql":"SELECT v FROM cost WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]}'
run "INSERT" '{"sql":"INSERT INTO cost (v) VALUES (?)","params":[{"int64_value":"1"}]}'
run "UPDATE" '{"sql":"UPDATE cost SET v = v + 1 WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]}'
run "DELETE (no row)" '{"sql":"DELETE FROM cost WHERE id = ?","params":[{"int64_value":"0"}]}'
run "SELECT with NOW(), COALESCE()" '{"sql":"SELECT COALESCE(v, 0), NOW() FROM cost WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]}'
run "SET @x (reset after)" '{"sql":"SET @x = 1"}'
run "SELECT GET_LOCK (reset after)" '{"sql":"SELECT GET_LOCK(\"k\", 0)"}'
run "SELECT LAST_INSERT_ID() (fresh before, reset after)" '{"sql":"SELECT LAST_INSERT_ID()"}'
