#!/usr/bin/env bash
# Two txgate binaries side by side on one MariaDB, runs interleaved (A, B, A,
# B, ...), so both see the same background: plain point SELECT and INSERT
# through Execute with ghz (and, by WORKLOADS, RunTransaction: a two-UPDATE
# transfer, a one-SELECT read-only transaction). Prints requests/s and
# latency per run and the median ratio B/A.
#
#   tests/load/compare.sh DB_DIR DB_PORT BINARY_A BINARY_B [ROUNDS] [SECONDS] [CONCURRENCY]
#
# WORKLOADS: any of "select insert transfer readtx" (default "select insert").
# A_ARGS / B_ARGS: extra flags for A / B (the same binary twice with a flag
# on and off compares the flag).
#
# DB_DIR/DB_PORT: a MariaDB of deploy/local/mariadb.sh (user txgate with
# DB_DIR/password, database txgate).
set -euo pipefail
db=$1 port=$2 a=$3 b=$4 rounds=${5:-3} seconds=${6:-10} c=${7:-8}
export PATH=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}/bin:$PATH
mariadb -S "$db/mysqld.sock" -uroot -N -e "CREATE TABLE IF NOT EXISTS txgate.cost (id INT PRIMARY KEY AUTO_INCREMENT, v INT);
  INSERT IGNORE INTO txgate.cost (id, v) SELECT seq, seq FROM txgate.seq_1_to_1000"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
start() {  # BINARY PORT FLAGS
  # shellcheck disable=SC2086  # the extra flags are words
  TXGATE_MYSQL_PASSWORD=$(cat "$db/password") "$1" --listen="127.0.0.1:$2" --mysql_port="$port" \
    --mysql_user=txgate --mysql_database=txgate --pool_max_size=16 --pool_min_idle=16 $3 \
    2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do
    grpcurl -plaintext "127.0.0.1:$2" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING && return
    sleep 0.1
  done
}
start "$a" 50081 "${A_ARGS:-}"
start "$b" 50082 "${B_ARGS:-}"
declare -A rps
echo "| workload | binary | round | req/s | average | p99 |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for w in ${WORKLOADS:-select insert}; do
  call=Execute
  case $w in
    select) data='{"sql":"SELECT v FROM cost WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]}' ;;
    insert) data='{"sql":"INSERT INTO cost (v) VALUES (?)","params":[{"int64_value":"1"}]}' ;;
    transfer)
      call=RunTransaction
      data='{"statements":[{"sql":"UPDATE cost SET v = v - 1 WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]},{"sql":"UPDATE cost SET v = v + 1 WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]}]}' ;;
    readtx)
      call=RunTransaction
      data='{"options":{"read_only":true},"statements":[{"sql":"SELECT v FROM cost WHERE id = ?","params":[{"int64_value":"{{randomInt 1 1000}}"}]}]}' ;;
  esac
  for r in $(seq "$rounds"); do
    for side in A B; do
      p=50081; [ $side = B ] && p=50082
      ghz --insecure --call "txgate.v1.DatabaseService/$call" -d "$data" -z "${seconds}s" -c "$c" \
        "127.0.0.1:$p" >/tmp/compare.ghz
      r_s=$(awk '/Requests\/sec:/ {print $2}' /tmp/compare.ghz)
      avg=$(awk '/Average:/ {print $2 $3; exit}' /tmp/compare.ghz)
      p99=$(awk '/99 % in/ {print $4 $5}' /tmp/compare.ghz)
      rps[$w,$side,$r]=$r_s
      echo "| $w | $side | $r | $r_s | $avg | $p99 |"
    done
  done
  ratios=$(for r in $(seq "$rounds"); do echo "${rps[$w,B,$r]} / ${rps[$w,A,$r]}" | bc -l; done | sort -n)
  echo "| $w | B/A median | | $(echo "$ratios" | sed -n "$(((rounds + 1) / 2))p" | cut -c1-5) | | |"
done
