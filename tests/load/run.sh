#!/usr/bin/env bash
# CI's load suite: the benchmark's smoke (tests/load/bench.sh --smoke), so that
# the benchmark cannot rot. Every workload runs 200 calls (StreamQuery: 20) at
# concurrency 1 and 8 on each side (txgate, the Go gateway of
# tests/load/gateway, direct sysbench), and the transfers once more through
# toxiproxy with 1 ms latency. No timing is asserted: it fails on any error,
# on a server that died, and on a serving process (txgate, the gateway,
# mariadbd) that did no work.
#
#   tests/load/run.sh        # by hand: bench.sh --smoke with its own MariaDB and RelWithDebInfo build
#
# Called by tests/run.sh with TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR,
# TXGATE_TEST_MYSQL_PORT and TXGATE_LOG_DIR set: to save CI time it reuses the
# running MariaDB and the sanitizer build's txgate-server (its figures are
# meaningless, which the smoke does not look at) instead of building one.
# About a minute on a quiet machine; the results go to $TXGATE_LOG_DIR/load/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
args=(--smoke)
if [ -n "${TXGATE_BUILD_DIR:-}" ]; then
  args+=(--server "$TXGATE_BUILD_DIR/txgate-server" --no-deps)
fi
if [ -n "${TXGATE_TEST_DB_DIR:-}" ]; then
  args+=(--db-dir "$TXGATE_TEST_DB_DIR" --db-port "${TXGATE_TEST_MYSQL_PORT:?}")
fi
if [ -n "${TXGATE_LOG_DIR:-}" ]; then
  args+=(--results "$TXGATE_LOG_DIR/load")
fi
exec bash "$here/bench.sh" "${args[@]}"
