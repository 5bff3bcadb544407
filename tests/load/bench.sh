#!/usr/bin/env bash
# txgate's load benchmark: txgate against direct MySQL, side by side.
#
#   tests/load/bench.sh                  # full: 30 s per run at concurrency 1, 8, 32, 128 (~11 min)
#   tests/load/bench.sh --smoke          # ~2 s per run at concurrency 1 and 8 (~40 s; what CI runs)
#   tests/load/bench.sh --profile        # full, then a perf profile of txgate under point selects (+2 min)
#
# Options: --duration SECONDS, --concurrency "1 8 32 128", --pool N (txgate's
# --pool_max_size and --pool_min_idle, default 32), --server PATH (a built
# txgate-server; default: build a Release one in build-release/), --db-dir DIR
# --db-port PORT (a running MariaDB of deploy/local/mariadb.sh; default: start
# one of its own), --results DIR, --no-deps, --note TEXT (kept in the results).
#
# It installs what is missing (deploy/local/deps.sh --test: ghz, sysbench,
# MariaDB), builds txgate (Release), starts MariaDB and txgate on loopback,
# prepares sysbench's sbtest1 (100000 rows) and tests/load/schema.sql, then
# measures each workload both ways, alternating direct and txgate runs:
#   point_select  direct: sysbench oltp_point_select (prepared statements)
#                 txgate: ghz Execute of the same SELECT (point_select.json)
#   transfer      direct: sysbench transfer.lua, BEGIN; UPDATE; UPDATE; INSERT; COMMIT
#                 txgate: ghz RunTransaction of the same 3 statements (transfer.json)
#   health        txgate only, concurrency 1: the floor of any RPC (health.json)
#   insert, stream_query: txgate only, at concurrency 8 (insert.json, stream_query.json)
# For each run it records requests/s, p50/p95/p99 latency, errors, and the CPU
# time per request of txgate, mariadbd and the load client (utime+stime from
# /proc/PID/stat before and after), plus the commands mariadbd received per
# request. It prints the tables and writes tests/load/results/DATE.json,
# latest.json and latest.md (--smoke: tests/load/results/smoke/, not kept in
# git). Exit status 1 if any run had an error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
command_line="tests/load/bench.sh${*:+ $*}"

mode=full
duration=""
concurrency=""
pool=32
server=""
db_dir=""
db_port=""
results=""
deps=1
profile=0
note=""
while [ $# -gt 0 ]; do
  case "$1" in
  --smoke) mode=smoke ;;
  --profile) profile=1 ;;
  --duration) duration=$2; shift ;;
  --concurrency) concurrency=$2; shift ;;
  --pool) pool=$2; shift ;;
  --server) server=$(realpath "$2"); shift ;;
  --db-dir) db_dir=$(realpath -m "$2"); shift ;;
  --db-port) db_port=$2; shift ;;
  --results) results=$(realpath -m "$2"); shift ;;
  --no-deps) deps=0 ;;
  --note) note=$2; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$mode" = smoke ]; then
  duration=${duration:-2}
  concurrency=${concurrency:-"1 8"}
  warmup=1
  results=${results:-$here/results/smoke}
else
  duration=${duration:-30}
  concurrency=${concurrency:-"1 8 32 128"}
  warmup=5
  results=${results:-$here/results}
fi
if [ -n "$db_dir" ] && [ -z "$db_port" ]; then
  echo "bench: --db-dir needs --db-port" >&2
  exit 2
fi
table_size=100000

export TXGATE_TOOLS=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export PATH="$TXGATE_TOOLS/bin:$PATH"
cd "$root"
log() { echo "bench: $*" >&2; }

if [ "$deps" = 1 ]; then
  bash deploy/local/deps.sh --test
fi
for tool in ghz sysbench grpcurl mariadb mariadbd python3; do
  command -v "$tool" >/dev/null || { log "$tool not found; run deploy/local/deps.sh --test"; exit 2; }
done

if [ -z "$server" ]; then
  log "building a Release txgate-server in build-release/"
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTXGATE_BUILD_TESTS=OFF >/dev/null
  cmake --build build-release --target txgate-server
  server=$root/build-release/txgate-server
fi
[ -x "$server" ] || { log "no txgate-server at $server"; exit 2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

work=$(mktemp -d "${TMPDIR:-/tmp}/txgate-bench.XXXXXX")
runs=$work/runs
mkdir -p "$runs"
own_db=0
txgate_pid=""
cleanup() {
  local rc=$?
  set +e
  if declare -F stop_txgate >/dev/null; then stop_txgate; fi
  if [ "$own_db" = 1 ]; then bash deploy/local/mariadb.sh stop "$db_dir"; fi
  if [ $rc -ne 0 ]; then
    log "failed (exit $rc); logs in $work"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT

if [ -z "$db_dir" ]; then
  db_dir=$work/db
  db_port=$(free_port)
  own_db=1
  log "MariaDB on 127.0.0.1:$db_port ($db_dir)"
  bash deploy/local/mariadb.sh start "$db_dir" "$db_port"
else
  log "using the running MariaDB on 127.0.0.1:$db_port ($db_dir)"
fi
mariadbd_pid=$(cat "$db_dir/mysqld.pid")
password=$(cat "$db_dir/password")
sql() { bash deploy/local/mariadb.sh sql "$db_dir" "$1"; }

sysbench_args=(--mysql-host=127.0.0.1 "--mysql-port=$db_port" --mysql-user=txgate
  "--mysql-password=$password" --mysql-db=txgate)
log "preparing sbtest1 ($table_size rows) and tests/load/schema.sql"
sql "DROP TABLE IF EXISTS txgate.sbtest1"
sysbench oltp_point_select "${sysbench_args[@]}" --tables=1 --table-size=$table_size prepare >"$work/prepare.log"
sql "USE txgate; $(cat "$here/schema.sql")"

start_txgate() {
  txgate_port=$(free_port)
  TXGATE_MYSQL_PASSWORD=$password "$server" --listen="127.0.0.1:$txgate_port" \
    --mysql_port="$db_port" --mysql_user=txgate --mysql_database=txgate \
    --pool_max_size="$pool" --pool_min_idle="$pool" >>"$work/txgate.log" 2>&1 &
  txgate_pid=$!
  for _ in $(seq 1 300); do
    if grpcurl -plaintext "127.0.0.1:$txgate_port" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; then
      return 0
    fi
    kill -0 "$txgate_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "txgate did not become SERVING; see $work/txgate.log"
  tail -20 "$work/txgate.log" >&2
  return 1
}

stop_txgate() {
  [ -n "$txgate_pid" ] || return 0
  kill -TERM "$txgate_pid" 2>/dev/null || true
  wait "$txgate_pid" 2>/dev/null || true
  txgate_pid=""
}

clk_tck=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }  # the fields after "(comm) ", from field 3 (state) on
  # shellcheck disable=SC2086
  set -- $stat
  echo $((${12} + ${13}))  # fields 14 (utime) and 15 (stime)
}

# ctx_switches PID: context switches of all of a process's threads so far.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

db_counters=(Queries Com_stmt_prepare Com_stmt_execute Com_admin_commands Com_set_option Com_rollback Com_commit)
db_status() {
  local in
  in=$(printf "'%s'," "${db_counters[@]}")
  sql "SHOW GLOBAL STATUS WHERE Variable_name IN (${in%,})"
}

connections_for() {  # spread ghz's streams over HTTP/2 connections: 16 per connection
  local c=$1
  echo $(((c + 15) / 16))
}

seq_no=0
# measure WORKLOAD SIDE CONCURRENCY CONNECTIONS TOOL CMD...: runs CMD and records its report and costs.
measure() {
  local workload=$1 side=$2 c=$3 conns=$4 tool=$5
  shift 5
  seq_no=$((seq_no + 1))
  local dir
  dir=$runs/$(printf '%02d' $seq_no)-$workload-$side-c$c
  mkdir -p "$dir"
  printf '%q ' "$@" | sed "s/--mysql-password=[^ ]*/--mysql-password=\$(cat DB_DIR\/password)/; s/ \$//" >"$dir/cmd"
  log "$workload $side c=$c: $(cat "$dir/cmd")"
  local before t0=0 t1=0 m0 m1 rc=0 la0 la1
  before=$(db_status)
  la0=$(cut -d' ' -f1-3 /proc/loadavg)
  local x0=0 x1=0
  if [ -n "$txgate_pid" ]; then
    t0=$(cpu_ticks "$txgate_pid")
    x0=$(ctx_switches "$txgate_pid")
  fi
  m0=$(cpu_ticks "$mariadbd_pid")
  ( "$@" >"$dir/out" 2>"$dir/err"; r=$?; times >"$dir/times"; exit $r ) || rc=$?
  m1=$(cpu_ticks "$mariadbd_pid")
  if [ -n "$txgate_pid" ]; then
    t1=$(cpu_ticks "$txgate_pid")
    x1=$(ctx_switches "$txgate_pid")
  fi
  la1=$(cut -d' ' -f1-3 /proc/loadavg)
  local after
  after=$(db_status)
  # `times`: line 2 is the children's user and system time, e.g. "0m1.250s 0m0.310s".
  local cu cs
  read -r cu cs < <(sed -n 2p "$dir/times" | awk '{
    split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2], s[1] * 60 + s[2] }')
  {
    echo "workload=$workload"
    echo "side=$side"
    echo "concurrency=$c"
    echo "connections=$conns"
    echo "tool=$tool"
    echo "rc=$rc"
    echo "clk_tck=$clk_tck"
    if [ "$side" = txgate ]; then
      echo "txgate_ticks=$((t1 - t0))"
      echo "txgate_ctx_switches=$((x1 - x0))"
    fi
    echo "mariadbd_ticks=$((m1 - m0))"
    echo "client_user_s=$cu"
    echo "client_sys_s=$cs"
    echo "loadavg_before=$la0"
    echo "loadavg_after=$la1"
    # One SHOW GLOBAL STATUS (counted in Queries) comes from us.
    join <(sort <<<"$before") <(sort <<<"$after") |
      awk '{ d = $3 - $2; if ($1 == "Queries") d -= 1; print "db_" $1 "=" d }'
  } >"$dir/meta"
  if [ $rc -ne 0 ]; then
    log "$workload $side c=$c exited $rc: $(tail -3 "$dir/err" | tr '\n' ' ')"
  fi
}

# direct_cmd WORKLOAD C SECONDS / txgate_cmd WORKLOAD C SECONDS: set cmd=(the client's command).
direct_cmd() {
  local workload=$1 c=$2 secs=$3
  case "$workload" in
  point_select) cmd=(sysbench oltp_point_select --tables=1 "--table-size=$table_size" --rand-type=uniform) ;;
  transfer) cmd=(sysbench tests/load/transfer.lua) ;;
  esac
  cmd+=("${sysbench_args[@]}" --threads="$c" --time="$secs" --histogram=on --percentile=99
    --report-interval=0 run)
}
txgate_cmd() {
  local workload=$1 c=$2 secs=$3
  cmd=(ghz --config "tests/load/$workload.json" -c "$c" --connections "$(connections_for "$c")"
    -z "${secs}s" -O json "127.0.0.1:$txgate_port")
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

for workload in point_select transfer; do
  start_txgate
  if [ "$warmup" -gt 0 ]; then
    log "$workload: warming up (${warmup}s each way, not recorded)"
    direct_cmd "$workload" 8 "$warmup"
    "${cmd[@]}" >/dev/null
    txgate_cmd "$workload" 8 "$warmup"
    "${cmd[@]}" >/dev/null
  fi
  for c in $concurrency; do
    direct_cmd "$workload" "$c" "$duration"
    measure "$workload" direct "$c" "" sysbench "${cmd[@]}"
    txgate_cmd "$workload" "$c" "$duration"
    measure "$workload" txgate "$c" "$(connections_for "$c")" ghz "${cmd[@]}"
  done
  stop_txgate
done

start_txgate
# health: the floor of any RPC through ghz and gRPC (no database work).
for extra in health:1 insert:8 stream_query:8; do
  workload=${extra%:*} c=${extra#*:}
  txgate_cmd "$workload" "$c" "$duration"
  measure "$workload" txgate "$c" "$(connections_for "$c")" ghz "${cmd[@]}"
done
stop_txgate
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

profile_file=""
if [ "$profile" = 1 ]; then
  # perf with the cpu-clock software event works in VMs without hardware
  # counters; DWARF unwinding sees through Debian's libraries (no frame pointers).
  if perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    start_txgate
    profile_file=$work/profile.txt
    secs=$((duration < 10 ? duration : 10))
    for c in 1 32; do
      log "profiling txgate under point selects at concurrency $c for ${secs}s (perf, cpu-clock, dwarf)"
      txgate_cmd point_select "$c" $((secs + 3))
      "${cmd[@]}" >/dev/null &
      ghz_pid=$!
      sleep 1
      perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$txgate_pid" \
        -o "$work/perf-c$c.data" -- sleep "$secs" >/dev/null 2>&1
      wait "$ghz_pid" || true
      perf report -i "$work/perf-c$c.data" --no-children --sort dso --stdio -g none \
        >"$work/perf-c$c-dso.txt" 2>/dev/null || true
      perf report -i "$work/perf-c$c.data" --no-children --sort dso,symbol --stdio -g none \
        --percent-limit 0.5 >"$work/perf-c$c-self.txt" 2>/dev/null || true
      perf report -i "$work/perf-c$c.data" --children --sort symbol --stdio -g none \
        --percent-limit 2 >"$work/perf-c$c-total.txt" 2>/dev/null || true
      {
        echo "## txgate under point selects, concurrency $c: share of txgate's CPU samples by library"
        grep '%' "$work/perf-c$c-dso.txt" | sed 's/ *$//' | awk 'NR <= 12'
        echo
        echo "## inclusive (function and what it calls), >= 2%, unresolved frames left out"
        grep '%' "$work/perf-c$c-total.txt" | grep -v '\] 0x0000' | cut -c1-200 | sed 's/ *$//' | awk 'NR <= 60'
        echo
        echo "## self time, >= 0.5%"
        grep '%' "$work/perf-c$c-self.txt" | sed 's/ *$//; s/ \{2,\}/  /g' | cut -c1-200 | awk 'NR <= 30'
        echo
      } >>"$profile_file"
    done
    stop_txgate
  else
    log "perf cannot sample here; profile skipped (see tests/load/README.md for callgrind)"
  fi
fi

grpc_version=$(dpkg-query -W -f='${Version}' libgrpc++-dev 2>/dev/null || echo unknown)
mariadb_version=$(mariadbd --version | sed 's/^.*Ver \([^ ]*\).*/\1/')
ghz_version=$(ghz --version 2>&1)
# A `go install`ed ghz says "dev"; deps.sh records the version it installed.
if [ "$ghz_version" = dev ] && [ -f "$TXGATE_TOOLS/bin/.ghz.version" ]; then
  ghz_version=$(sed 's/.*@//' "$TXGATE_TOOLS/bin/.ghz.version")
fi
sysbench_version=$(sysbench --version | sed 's/^sysbench //')
# txgate's version: the commit of the source tree the server was built from
# (TXGATE_BENCH_VERSION overrides it, e.g. for a build of a `git archive`).
src=$(sed -n 's/^txgate_SOURCE_DIR:[A-Z]*=//p' "$(dirname "$server")/CMakeCache.txt" 2>/dev/null || true)
src=${src:-$root}
if [ -n "${TXGATE_BENCH_VERSION:-}" ]; then
  txgate_version=$TXGATE_BENCH_VERSION
elif txgate_version=$(git -C "$src" rev-parse --short HEAD 2>/dev/null); then
  git -C "$src" diff --quiet HEAD -- server proto CMakeLists.txt 2>/dev/null ||
    txgate_version+=" with uncommitted changes"
else
  txgate_version=unknown
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$server")/CMakeCache.txt" 2>/dev/null || true)
sanitizer=$(sed -n 's/^TXGATE_SANITIZE:[A-Z]*=//p' "$(dirname "$server")/CMakeCache.txt" 2>/dev/null || true)
export BENCH_MODE=$mode BENCH_DATE=$started BENCH_COMMAND=$command_line \
  BENCH_LOAD_BEFORE=$load_before BENCH_LOAD_AFTER=$load_after BENCH_DURATION=$duration \
  BENCH_CONCURRENCY=$concurrency BENCH_POOL=$pool BENCH_TABLE_SIZE=$table_size \
  BENCH_SERVER=${server#"$root"/} BENCH_BUILD="${build_type:-unknown}${sanitizer:+ + $sanitizer sanitizer}" \
  BENCH_MARIADB=$mariadb_version BENCH_GRPC=$grpc_version BENCH_GHZ=$ghz_version \
  BENCH_SYSBENCH=$sysbench_version BENCH_TXGATE=$txgate_version \
  BENCH_OWN_DB=$own_db BENCH_PROFILE=$profile_file BENCH_NOTE=$note
python3 - "$work/info.json" <<'PY'
import json, os, platform, sys
e = os.environ
cpu = "unknown"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
os_name = ""
if os.path.exists("/etc/os-release"):
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
info = {
    "mode": e["BENCH_MODE"],
    "date": e["BENCH_DATE"],
    "command": e["BENCH_COMMAND"],
    **({"note": e["BENCH_NOTE"]} if e.get("BENCH_NOTE") else {}),
    "machine": {"nproc": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(), "os": os_name},
    "load_average_before": e["BENCH_LOAD_BEFORE"],
    "load_average_after": e["BENCH_LOAD_AFTER"],
    "versions": {"mariadb": e["BENCH_MARIADB"], "grpc": e["BENCH_GRPC"], "ghz": e["BENCH_GHZ"],
                 "sysbench": e["BENCH_SYSBENCH"], "txgate": e["BENCH_TXGATE"]},
    "server": {"binary": e["BENCH_SERVER"], "build": e["BENCH_BUILD"],
               "flags": f"--pool_max_size={e['BENCH_POOL']} --pool_min_idle={e['BENCH_POOL']} "
                        "(other flags default: --worker_threads = pool_max_size + 4)"},
    "settings": {"duration_s": int(e["BENCH_DURATION"]),
                 "concurrency": [int(c) for c in e["BENCH_CONCURRENCY"].split()],
                 "table_size": int(e["BENCH_TABLE_SIZE"]),
                 "mariadb": "deploy/local/mariadb.sh: " + ("its own, started by the benchmark" if e["BENCH_OWN_DB"] == "1"
                            else "the test suite's running server")
                            + "; innodb_buffer_pool_size=256M, innodb_flush_log_at_trx_commit=2",
                 "ghz_connections": "one HTTP/2 connection per 16 concurrent calls"},
}
if e.get("BENCH_PROFILE"):
    with open(e["BENCH_PROFILE"]) as f:
        info["profile"] = f.read()
with open(sys.argv[1], "w") as f:
    json.dump(info, f, indent=2)
PY

mkdir -p "$results"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ -d "$started")
report_rc=0
python3 "$here/report.py" "$runs" --info "$work/info.json" \
  --json "$results/$stamp.json" --md "$results/latest.md" || report_rc=$?
cp "$results/$stamp.json" "$results/latest.json"
if [ -n "$profile_file" ]; then
  cp "$profile_file" "$results/profile-$stamp.txt"
  cp "$profile_file" "$results/latest-profile.txt"
fi
log "results: ${results#"$root"/}/$stamp.json, latest.json, latest.md"
if [ $report_rc -ne 0 ]; then
  log "errors in the runs above"
  exit 1
fi
