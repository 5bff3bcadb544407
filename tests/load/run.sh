#!/usr/bin/env bash
# CI's load suite: the benchmark's smoke (tests/load/bench.sh --smoke), so that
# the benchmark cannot rot. Every workload runs ~2 s at concurrency 1 and 8,
# both direct and through txgate; no timing is asserted, but any error fails.
#
#   tests/load/run.sh        # by hand: bench.sh --smoke with its own MariaDB and Release build
#
# Called by tests/run.sh with TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR,
# TXGATE_TEST_MYSQL_PORT and TXGATE_LOG_DIR set: to save CI time it reuses the
# running MariaDB and the sanitizer build's txgate-server (its figures are
# meaningless, which the smoke does not look at) instead of building Release.
# About 40 s; the results go to $TXGATE_LOG_DIR/load/.
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
