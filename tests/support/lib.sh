# Shell helpers for test suites; source it: `. tests/support/lib.sh`.
# Expects tests/run.sh's environment: TXGATE_BUILD_DIR (holds txgate-server),
# TXGATE_TEST_DB_DIR and TXGATE_TEST_MYSQL_PORT (a running MariaDB).

# free_port: prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for CMD...: retries CMD every 0.1 s for up to 30 s; fails if it never succeeds.
wait_for() {
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $*" >&2
  return 1
}

# start_txgate PORT [FLAGS...]: starts txgate-server on 127.0.0.1:PORT against the
# test MariaDB (user txgate, read-only tokens as txgate_ro, database txgate), logs to $TXGATE_LOG_DIR/txgate-PORT.log,
# waits until health says SERVING, and records the pid for stop_txgate.
start_txgate() {
  local port=$1
  shift
  local log="${TXGATE_LOG_DIR:-/tmp}/txgate-$port.log"
  TXGATE_MYSQL_PASSWORD=$(cat "$TXGATE_TEST_DB_DIR/password") \
    "$TXGATE_BUILD_DIR/txgate-server" --listen="127.0.0.1:$port" \
    --mysql_port="$TXGATE_TEST_MYSQL_PORT" --mysql_user=txgate --mysql_database=txgate \
    --mysql_ro_user=txgate_ro --mysql_ro_password_file="$TXGATE_TEST_DB_DIR/ro-password" \
    "$@" >"$log" 2>&1 &
  echo $! >"${TXGATE_LOG_DIR:-/tmp}/txgate-$port.pid"
  wait_for sh -c "grpcurl -plaintext 127.0.0.1:$port grpc.health.v1.Health/Check | grep -q SERVING"
}

# stop_recorded PIDFILE: SIGTERM to the process whose pid PIDFILE holds (started by
# this shell), waits for its exit and returns its exit status; 0 if none is recorded.
stop_recorded() {
  local pidfile=$1
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill -TERM "$pid" 2>/dev/null || return 0
  local rc=0
  wait "$pid" || rc=$?
  return $rc
}

# stop_txgate PORT: SIGTERM, waits for the exit, returns txgate's exit status.
stop_txgate() { stop_recorded "${TXGATE_LOG_DIR:-/tmp}/txgate-$1.pid"; }

# start_toxiproxy PORT: starts toxiproxy-server (its HTTP API) on 127.0.0.1:PORT,
# logging to $TXGATE_LOG_DIR/toxiproxy-PORT.log, waits until the API answers, and
# records the pid for stop_toxiproxy. Tests create their own proxies through the API.
start_toxiproxy() {
  local port=$1
  LOG_LEVEL=warn toxiproxy-server -host 127.0.0.1 -port "$port" \
    >"${TXGATE_LOG_DIR:-/tmp}/toxiproxy-$port.log" 2>&1 &
  echo $! >"${TXGATE_LOG_DIR:-/tmp}/toxiproxy-$port.pid"
  wait_for curl -sf "http://127.0.0.1:$port/version"
}

# stop_toxiproxy PORT: stops the toxiproxy-server start_toxiproxy started.
stop_toxiproxy() { stop_recorded "${TXGATE_LOG_DIR:-/tmp}/toxiproxy-$1.pid" 2>/dev/null || true; }
