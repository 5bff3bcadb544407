#!/usr/bin/env bash
# The C++ client's tests (txgate_client_test: offline retry/format tests, the
# client against the live txgate, and txgate-cli run as a program), then its
# example (txgate_client_example).
#
#   TXGATE_ADDR=127.0.0.1:PORT TXGATE_TEST_DB_DIR=DIR TXGATE_BUILD_DIR=build-asan \
#     bash tests/clients/cpp/run.sh
#
# Called by tests/clients/run.sh with a txgate it started. Logs to
# $TXGATE_LOG_DIR/clients-cpp.log; fails when a test fails or is skipped.
set -euo pipefail

: "${TXGATE_ADDR:?TXGATE_ADDR (a live txgate) is required}"
: "${TXGATE_TEST_DB_DIR:?TXGATE_TEST_DB_DIR (its MariaDB) is required}"
dir=${TXGATE_BUILD_DIR:?TXGATE_BUILD_DIR is required}/client/cpp
bin=$dir/txgate_client_test
log=${TXGATE_LOG_DIR:-/tmp}/clients-cpp.log

if ! "$bin" --gtest_color=no >"$log" 2>&1; then
  tail -n 80 "$log" >&2
  echo "clients: cpp failed; full log in $log" >&2
  exit 1
fi
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\.$/\1/p' "$log")
skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\?, listed below:$/\1/p' "$log")
echo "cpp: ${passed:-0} passed, ${skipped:-0} skipped (log: $log)"
if [ "${skipped:-0}" != 0 ] || [ "${passed:-0}" = 0 ]; then
  echo "clients: cpp skipped tests against the live txgate; see $log" >&2
  exit 1
fi

echo "--- example: C++"
"$dir/txgate_client_example"
