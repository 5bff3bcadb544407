#!/usr/bin/env bash
# txgate's load benchmark: txgate, a plain Go gateway (tests/load/gateway, the
# yardstick) and MariaDB used directly (sysbench), side by side in one run.
#
#   tests/load/bench.sh                    # full: 10 s per run, concurrency 1 8 32, 2 rounds (~20 min)
#   tests/load/bench.sh --db-latency-ms=1  # the same, plus the transfers through toxiproxy with 1 ms latency
#   tests/load/bench.sh --smoke            # a few hundred calls per cell, concurrency 1 and 8 (CI: run.sh)
#   tests/load/bench.sh --profile          # the full run, then a perf profile of txgate (point selects)
#
# Options: --duration SECONDS, --rounds N, --concurrency "1 8 32", --workloads
# "health point_select transfer transfer_key stream_query interactive", --pool N
# (txgate's --pool_max_size, --pool_min_idle and --max_open_transactions, the
# gateway's --pool; default 32), --db-latency-ms=N (also run transfer and transfer_key with N ms of
# toxiproxy latency on every MariaDB reply, for all three sides), --server PATH
# (a built txgate-server; default: build RelWithDebInfo in build-rel/),
# --gateway PATH (a built gateway; default: go build it), --db-dir DIR --db-port
# PORT (a running MariaDB of deploy/local/mariadb.sh; default: start one),
# --results DIR, --no-deps, --note TEXT (kept in the results, e.g. "contended").
#
# Sides: txgate (ghz), gateway (the same ghz config against tests/load/gateway)
# and direct (sysbench, for point_select and the transfers). Runs are
# interleaved: each round goes through every workload and concurrency, and
# within each cell through every side in turn, so all sides see the same
# background. Per run: calls/s, p50/p99 latency, errors, CPU µs per call of
# txgate / the gateway / mariadbd (utime+stime deltas of /proc/PID/stat),
# MariaDB commands per call (Questions and Com_* deltas of SHOW GLOBAL STATUS)
# and the serving process's context switches per call (voluntary +
# nonvoluntary, summed over /proc/PID/task/*/status). The table shows the
# median over rounds. It writes tests/load/results/DATE.json, latest.json and
# latest.md (--smoke: results/smoke/, not kept in git). Exit status 1 if any
# run had an error; --smoke also fails when a serving process did no work.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
command_line="tests/load/bench.sh${*:+ $*}"

mode=full
duration=10
rounds=""
concurrency=""
workloads="health point_select transfer transfer_key stream_query interactive"
pool=32
server=""
gateway=""
db_dir=""
db_port=""
results=""
deps=1
profile=0
note=""
db_latency_ms=0
while [ $# -gt 0 ]; do
  case "$1" in
  --smoke) mode=smoke ;;
  --profile) profile=1 ;;
  --duration) duration=$2; shift ;;
  --rounds) rounds=$2; shift ;;
  --concurrency) concurrency=$2; shift ;;
  --workloads) workloads=$2; shift ;;
  --pool) pool=$2; shift ;;
  --db-latency-ms=*) db_latency_ms=${1#*=} ;;
  --db-latency-ms) db_latency_ms=$2; shift ;;
  --server) server=$(realpath "$2"); shift ;;
  --gateway) gateway=$(realpath "$2"); shift ;;
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
  calls=200         # per run (stream_query: 20); no timing is looked at
  rounds=${rounds:-1}
  concurrency=${concurrency:-"1 8"}
  results=${results:-$here/results/smoke}
  [ "$db_latency_ms" != 0 ] || db_latency_ms=1  # keep the toxiproxy path working
else
  calls=""
  rounds=${rounds:-2}
  concurrency=${concurrency:-"1 8 32"}
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
for tool in ghz sysbench grpcurl mariadb mariadbd python3 go toxiproxy-server toxiproxy-cli curl; do
  command -v "$tool" >/dev/null || { log "$tool not found; run deploy/local/deps.sh --test"; exit 2; }
done

if [ -z "$server" ]; then
  log "building a RelWithDebInfo txgate-server in build-rel/"
  cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTXGATE_BUILD_TESTS=OFF >/dev/null
  cmake --build build-rel --target txgate-server
  server=$root/build-rel/txgate-server
fi
[ -x "$server" ] || { log "no txgate-server at $server"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/txgate-bench.XXXXXX")
runs=$work/runs
mkdir -p "$runs"
if [ -z "$gateway" ]; then
  log "building the Go gateway (tests/load/gateway)"
  (cd "$here/gateway" && go build -o "$work/gateway" .)
  gateway=$work/gateway
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

own_db=0
txgate_pid=""
gateway_pid=""
toxiproxy_pid=""
cleanup() {
  local rc=$?
  set +e
  stop_servers
  if [ -n "$toxiproxy_pid" ]; then kill -TERM "$toxiproxy_pid"; wait "$toxiproxy_pid"; fi
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

log "preparing sbtest1 ($table_size rows) and tests/load/schema.sql"
sql "DROP TABLE IF EXISTS txgate.sbtest1"
sysbench oltp_point_select --mysql-host=127.0.0.1 "--mysql-port=$db_port" --mysql-user=txgate \
  "--mysql-password=$password" --mysql-db=txgate --tables=1 --table-size=$table_size prepare >"$work/prepare.log"
sql "USE txgate; $(cat "$here/schema.sql")"

# wait_serving PORT PID NAME: until Health/Check answers SERVING (the process must stay alive).
wait_serving() {
  for _ in $(seq 1 300); do
    if grpcurl -plaintext "127.0.0.1:$1" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  log "$3 did not become SERVING; see $work/$3.log"
  tail -20 "$work/$3.log" >&2
  return 1
}

# start_servers MYSQL_PORT: txgate and the gateway against MariaDB (or the proxy) at MYSQL_PORT.
start_servers() {
  local mport=$1
  txgate_port=$(free_port)
  TXGATE_MYSQL_PASSWORD=$password "$server" --listen="127.0.0.1:$txgate_port" \
    --mysql_port="$mport" --mysql_user=txgate --mysql_database=txgate \
    --pool_max_size="$pool" --pool_min_idle="$pool" --max_open_transactions="$pool" >>"$work/txgate.log" 2>&1 &
  txgate_pid=$!
  gateway_port=$(free_port)
  TXGATE_MYSQL_PASSWORD=$password "$gateway" --listen="127.0.0.1:$gateway_port" \
    --mysql="127.0.0.1:$mport" --user=txgate --database=txgate --pool="$pool" >>"$work/gateway.log" 2>&1 &
  gateway_pid=$!
  wait_serving "$txgate_port" "$txgate_pid" txgate
  wait_serving "$gateway_port" "$gateway_pid" gateway
}

# stop_servers: SIGTERM to both; a server that died or exits non-zero is an error.
server_failures=0
stop_servers() {
  local pid name rc
  for name in txgate gateway; do
    if [ $name = txgate ]; then pid=$txgate_pid; else pid=$gateway_pid; fi
    [ -n "$pid" ] || continue
    rc=0
    if kill -TERM "$pid" 2>/dev/null; then
      wait "$pid" || rc=$?
    else
      wait "$pid" || rc=$?
      log "$name (pid $pid) had exited before the end, status $rc"
      rc=1
    fi
    if [ "$rc" != 0 ]; then
      log "$name exited with status $rc; see $work/$name.log"
      server_failures=$((server_failures + 1))
    fi
  done
  txgate_pid=""
  gateway_pid=""
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

# ctx_switches PID: voluntary + nonvoluntary context switches of all its live threads so far.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

db_counters=(Questions Com_stmt_prepare Com_stmt_execute Com_stmt_close Com_stmt_reset Com_admin_commands
  Com_set_option Com_begin Com_commit Com_rollback Com_select Com_insert Com_update Com_change_db)
db_status() {
  local in
  in=$(printf "'%s'," "${db_counters[@]}")
  sql "SHOW GLOBAL STATUS WHERE Variable_name IN (${in%,})"
}

seq_no=0
# measure WORKLOAD SIDE CONCURRENCY ROUND TOOL CMD...: runs CMD and records its report and costs.
measure() {
  local workload=$1 side=$2 c=$3 round=$4 tool=$5
  shift 5
  local pid=""
  case $side in txgate) pid=$txgate_pid ;; gateway) pid=$gateway_pid ;; esac
  seq_no=$((seq_no + 1))
  local dir
  dir=$runs/$(printf '%03d' $seq_no)-$workload-$side-c$c-r$round
  mkdir -p "$dir"
  printf '%q ' "$@" | sed "s/--mysql-password=[^ ]*/--mysql-password=\$(cat DB_DIR\/password)/; s/ \$//" >"$dir/cmd"
  log "r$round $workload $side c=$c"
  local before after s0=0 s1=0 x0=0 x1=0 m0 m1 rc=0 la0 la1
  before=$(db_status)
  la0=$(cut -d' ' -f1-3 /proc/loadavg)
  if [ -n "$pid" ]; then
    s0=$(cpu_ticks "$pid")
    x0=$(ctx_switches "$pid")
  fi
  m0=$(cpu_ticks "$mariadbd_pid")
  ("$@" >"$dir/out" 2>"$dir/err"; r=$?; times >"$dir/times"; exit $r) || rc=$?
  m1=$(cpu_ticks "$mariadbd_pid")
  if [ -n "$pid" ]; then
    s1=$(cpu_ticks "$pid")
    x1=$(ctx_switches "$pid")
  fi
  la1=$(cut -d' ' -f1-3 /proc/loadavg)
  after=$(db_status)
  # `times`: line 2 is the children's user and system time, e.g. "0m1.250s 0m0.310s".
  local cu cs
  read -r cu cs < <(sed -n 2p "$dir/times" | awk '{
    split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2], s[1] * 60 + s[2] }')
  {
    echo "workload=$workload"
    echo "side=$side"
    echo "concurrency=$c"
    echo "round=$round"
    echo "tool=$tool"
    echo "rc=$rc"
    echo "clk_tck=$clk_tck"
    if [ -n "$pid" ]; then
      echo "server_ticks=$((s1 - s0))"
      echo "server_ctx_switches=$((x1 - x0))"
    fi
    echo "mariadbd_ticks=$((m1 - m0))"
    echo "client_user_s=$cu"
    echo "client_sys_s=$cs"
    echo "loadavg_before=$la0"
    echo "loadavg_after=$la1"
    # One SHOW GLOBAL STATUS (counted in Questions) comes from us.
    join <(sort <<<"$before") <(sort <<<"$after") |
      awk '{ d = $3 - $2; if ($1 == "Questions") d -= 1; print "db_" $1 "=" d }'
  } >"$dir/meta"
  if [ $rc -ne 0 ]; then
    log "$workload $side c=$c exited $rc: $(tail -3 "$dir/err" | tr '\n' ' ')"
  fi
}

# sides WORKLOAD: the sides that run it.
sides() {
  case "$1" in
  point_select | transfer | transfer_key) echo "txgate gateway direct" ;;
  *) echo "txgate gateway" ;;
  esac
}

# client_cmd WORKLOAD SIDE C SECONDS MYSQL_PORT: sets cmd=(the load client's command).
client_cmd() {
  local workload=$1 side=$2 c=$3 secs=$4 mport=$5 amount
  if [ "$side" = direct ]; then
    case "$workload" in
    point_select) cmd=(sysbench oltp_point_select --tables=1 "--table-size=$table_size" --rand-type=uniform) ;;
    transfer) cmd=(sysbench tests/load/transfer.lua) ;;
    transfer_key) cmd=(sysbench tests/load/transfer.lua --key=on) ;;
    esac
    amount=(--time="$secs")
    [ -z "$calls" ] || amount=(--time=0 --events="$calls")
    cmd+=(--mysql-host=127.0.0.1 "--mysql-port=$mport" --mysql-user=txgate "--mysql-password=$password"
      --mysql-db=txgate --threads="$c" "${amount[@]}" --histogram=on --percentile=99 --report-interval=0 run)
    return
  fi
  local port=$txgate_port
  [ "$side" = txgate ] || port=$gateway_port
  amount=(-z "${secs}s")
  if [ -n "$calls" ]; then
    amount=(-z 0 -n "$calls")
    [ "$workload" != stream_query ] || amount=(-z 0 -n $((calls / 10)))
  fi
  # One HTTP/2 connection per 16 concurrent calls, as many clients would spread them.
  cmd=(ghz --config "tests/load/$workload.json" -c "$c" --connections $(((c + 15) / 16))
    "${amount[@]}" -O json "127.0.0.1:$port")
}

# sweep PHASE_SUFFIX MYSQL_PORT WORKLOADS: every round, workload, concurrency and side, interleaved.
sweep() {
  local suffix=$1 mport=$2 list=$3 round workload c side
  for round in $(seq 1 "$rounds"); do
    for workload in $list; do
      for c in $concurrency; do
        for side in $(sides "$workload"); do
          client_cmd "$workload" "$side" "$c" "$duration" "$mport"
          measure "$workload$suffix" "$side" "$c" "$round" "${cmd[0]}" "${cmd[@]}"
        done
      done
    done
  done
}

# warm_up MYSQL_PORT WORKLOADS: a short unrecorded run of each workload and side (caches, prepared statements).
warm_up() {
  local mport=$1 workload side saved_calls=$calls
  calls=200
  for workload in $2; do
    for side in $(sides "$workload"); do
      client_cmd "$workload" "$side" 8 0 "$mport"
      "${cmd[@]}" >/dev/null 2>&1 || log "warm-up $workload $side failed (the measured runs will show it)"
    done
  done
  calls=$saved_calls
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

start_servers "$db_port"
warm_up "$db_port" "$workloads"
sweep "" "$db_port" "$workloads"
stop_servers

latency_workloads=""
for w in transfer transfer_key; do
  case " $workloads " in *" $w "*) latency_workloads+=" $w" ;; esac
done
if [ "$db_latency_ms" != 0 ] && [ -n "$latency_workloads" ]; then
  # Every side reaches MariaDB through one toxiproxy whose replies are delayed
  # by db_latency_ms: each database round trip costs that much more.
  toxi_api=$(free_port)
  proxy_port=$(free_port)
  LOG_LEVEL=warn toxiproxy-server -host 127.0.0.1 -port "$toxi_api" >"$work/toxiproxy.log" 2>&1 &
  toxiproxy_pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$toxi_api/version" >/dev/null && break; sleep 0.1; done
  toxiproxy-cli -h "127.0.0.1:$toxi_api" create -l "127.0.0.1:$proxy_port" -u "127.0.0.1:$db_port" mariadb >/dev/null
  toxiproxy-cli -h "127.0.0.1:$toxi_api" toxic add -t latency -a "latency=$db_latency_ms" -d mariadb >/dev/null
  log "transfers with ${db_latency_ms} ms latency on each MariaDB reply (toxiproxy 127.0.0.1:$proxy_port)"
  start_servers "$proxy_port"
  warm_up "$proxy_port" "$latency_workloads"
  sweep "@${db_latency_ms}ms" "$proxy_port" "$latency_workloads"
  stop_servers
  kill -TERM "$toxiproxy_pid"
  wait "$toxiproxy_pid" || true
  toxiproxy_pid=""
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

profile_file=""
if [ "$profile" = 1 ]; then
  # perf with the cpu-clock software event works in VMs without hardware
  # counters; DWARF unwinding sees through Debian's libraries (no frame pointers).
  if perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    start_servers "$db_port"
    profile_file=$work/profile.txt
    for c in 1 8; do
      log "profiling txgate under point selects at concurrency $c for 10 s (perf, cpu-clock, dwarf)"
      client_cmd point_select txgate "$c" 13 "$db_port"
      "${cmd[@]}" >/dev/null &
      ghz_pid=$!
      sleep 1
      perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$txgate_pid" \
        -o "$work/perf-c$c.data" -- sleep 10 >/dev/null 2>&1
      wait "$ghz_pid" || true
      perf report -i "$work/perf-c$c.data" --no-children --sort dso --stdio -g none \
        >"$work/perf-c$c-dso.txt" 2>/dev/null || true
      perf report -i "$work/perf-c$c.data" --children --sort symbol --stdio -g none \
        --percent-limit 2 >"$work/perf-c$c-total.txt" 2>/dev/null || true
      {
        echo "## txgate under point selects, concurrency $c: share of txgate's CPU samples by library"
        grep '%' "$work/perf-c$c-dso.txt" | sed 's/ *$//' | awk 'NR <= 12'
        echo
        echo "## inclusive (function and what it calls), >= 2%, unresolved frames left out"
        grep '%' "$work/perf-c$c-total.txt" | grep -v '\] 0x0000' | cut -c1-200 | sed 's/ *$//' | awk 'NR <= 60'
        echo
      } >>"$profile_file"
    done
    stop_servers
  else
    log "perf cannot sample here; profile skipped"
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
go_version=$(go env GOVERSION)
mysql_driver=$(sed -n 's/^\tgithub.com\/go-sql-driver\/mysql \(v[^ ]*\).*/\1/p' "$here/gateway/go.mod")
# txgate's version: the commit of the source tree the server was built from
# (TXGATE_BENCH_VERSION overrides it, e.g. for a prebuilt binary).
src=$(sed -n 's/^txgate_SOURCE_DIR:[A-Z]*=//p' "$(dirname "$server")/CMakeCache.txt" 2>/dev/null || true)
if [ -n "${TXGATE_BENCH_VERSION:-}" ]; then
  txgate_version=$TXGATE_BENCH_VERSION
elif [ -z "$src" ]; then
  txgate_version="unknown (no CMakeCache.txt beside $server; set TXGATE_BENCH_VERSION)"
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
  BENCH_CALLS=$calls BENCH_ROUNDS=$rounds BENCH_CONCURRENCY=$concurrency BENCH_POOL=$pool \
  BENCH_TABLE_SIZE=$table_size BENCH_LATENCY=$db_latency_ms \
  BENCH_SERVER=${server#"$root"/} BENCH_BUILD="${build_type:-unknown}${sanitizer:+ + $sanitizer sanitizer}" \
  BENCH_MARIADB=$mariadb_version BENCH_GRPC=$grpc_version BENCH_GHZ=$ghz_version \
  BENCH_SYSBENCH=$sysbench_version BENCH_TXGATE=$txgate_version BENCH_GO=$go_version \
  BENCH_DRIVER=$mysql_driver BENCH_OWN_DB=$own_db BENCH_PROFILE=$profile_file BENCH_NOTE=$note
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
                 "sysbench": e["BENCH_SYSBENCH"], "txgate": e["BENCH_TXGATE"],
                 "gateway": f"{e['BENCH_GO']}, go-sql-driver/mysql {e['BENCH_DRIVER']}"},
    "server": {"binary": e["BENCH_SERVER"], "build": e["BENCH_BUILD"],
               "flags": f"--pool_max_size={e['BENCH_POOL']} --pool_min_idle={e['BENCH_POOL']} "
                        f"--max_open_transactions={e['BENCH_POOL']} (others default)",
               "gateway_flags": f"--pool={e['BENCH_POOL']}"},
    "settings": {"duration_s": int(e["BENCH_DURATION"]) if not e.get("BENCH_CALLS") else None,
                 "calls_per_run": int(e["BENCH_CALLS"]) if e.get("BENCH_CALLS") else None,
                 "rounds": int(e["BENCH_ROUNDS"]),
                 "concurrency": [int(c) for c in e["BENCH_CONCURRENCY"].split()],
                 "db_latency_ms": int(e["BENCH_LATENCY"]),
                 "table_size": int(e["BENCH_TABLE_SIZE"]),
                 "mariadb": "deploy/local/mariadb.sh: " + ("its own, started by the benchmark" if e["BENCH_OWN_DB"] == "1"
                            else "an already running server")
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
check=()
[ "$mode" != smoke ] || check=(--check-ran)
report_rc=0
python3 "$here/report.py" "$runs" --info "$work/info.json" "${check[@]}" \
  --json "$results/$stamp.json" --md "$results/latest.md" || report_rc=$?
cp "$results/$stamp.json" "$results/latest.json"
if [ -n "$profile_file" ]; then
  cp "$profile_file" "$results/profile-$stamp.txt"
fi
log "results: ${results#"$root"/}/$stamp.json, latest.json, latest.md"
if [ $report_rc -ne 0 ] || [ $server_failures -ne 0 ]; then
  log "errors in the runs above"
  exit 1
fi
