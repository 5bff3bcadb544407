#!/usr/bin/env bash
# txgate's connection management with the real binary, a real MariaDB and
# real grpcio clients: a client pinging every 10 s keeps a 60 s call and a
# 50 s idle transaction; a second instance gets a fair share of calls within
# max connection age + grace; the age never cuts a call with the default
# grace; a silent client's transaction is rolled back within keepalive time +
# timeout; and every stderr line of a run (gRPC core's too) is JSON. Details and durations (env
# TXGATE_CONN_CALL_SECONDS, TXGATE_CONN_IDLE_SECONDS, TXGATE_CONN_PING_SECONDS):
# tests/connections/connections_test.py. Takes about 110 s with the defaults
# (the pinging check: max(call, idle) + 2 s of it).
#
#   bash tests/connections/run.sh [pinging|rebalance|age|silent|logs ...]
#     # env from tests/run.sh: TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR,
#     # TXGATE_TEST_MYSQL_PORT, TXGATE_LOG_DIR
# Needs the clients' venv (client/generate.sh, run by the clients suite) and grpcurl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${TXGATE_BUILD_DIR:?}" "${TXGATE_TEST_DB_DIR:?}" "${TXGATE_TEST_MYSQL_PORT:?}"
export TXGATE_LOG_DIR=${TXGATE_LOG_DIR:-$(mktemp -d)}
mkdir -p "$TXGATE_LOG_DIR"
export PATH=$HOME/.cache/txgate/tools/bin:$PATH
python=${TXGATE_CLIENTS_PYTHON:-$HOME/.cache/txgate/tools/venv/txgate-clients/bin/python3}
[ -x "$python" ] || { echo "connections: no $python (client/generate.sh creates the venv)" >&2; exit 1; }
PYTHONPATH="$root/client/python" exec "$python" "$root/tests/connections/connections_test.py" "$@"
