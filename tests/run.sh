#!/usr/bin/env bash
# Runs txgate's whole test suite; works on a fresh Debian 12 machine by itself.
#
#   tests/run.sh                          # everything; what CI runs
#   TXGATE_SUITES="unit integration" tests/run.sh   # a subset, by name
#
# It installs what is missing (deploy/local/deps.sh --test), builds three times
# (AddressSanitizer+UBSan for everything, ThreadSanitizer for the pool's and the
# runner's unit tests, clang with -Wthread-safety -Werror for the server and
# unit tests), starts a private MariaDB on 127.0.0.1 in a temporary directory,
# runs each suite, and stops everything it started. Suites: lint threadsafety
# unit tsan integration readme, then every tests/<kind>/run.sh that exists
# (clients, connections, shutdown, memory, deploy, chaos, replication, load).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export TXGATE_TOOLS=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export PATH="$TXGATE_TOOLS/bin:$PATH"
suites=${TXGATE_SUITES:-"lint threadsafety unit tsan integration readme clients connections shutdown memory deploy chaos replication load"}
want() { [[ " $suites " == *" $1 "* ]]; }
started=$(date +%s)
step() { echo; echo "=== [$(($(date +%s) - started))s] $*"; }

step "dependencies"
bash deploy/local/deps.sh --test

jobs=$(nproc)
build() {  # build DIR SANITIZER [TARGETS...]
  local dir=$1 san=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTXGATE_SANITIZE="$san" >/dev/null
  cmake --build "$dir" -j "$jobs" ${1:+--target "$@"}
}

if want lint; then
  step "lint: buf lint (STANDARD + COMMENTS)"
  buf lint proto
  step "lint: buf breaking (against the last landed commit)"
  bash tests/lint/buf_breaking.sh
  step "lint: README error reasons = txgate.v1.ErrorReason"
  python3 tests/lint/check_reasons.py
  step "lint: one version (CMake project = client packages = Helm chart = image tags)"
  bash tests/lint/check_versions.sh
  step "lint: clang-format (server/, client/cpp/, tests/)"
  bash tests/lint/format.sh
fi

if want threadsafety; then
  step "threadsafety: clang -Wthread-safety -Werror (server, unit tests)"
  CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DTXGATE_THREAD_SAFETY=ON >/dev/null
  cmake --build build-clang -j "$jobs" --target txgate-server unit_tests
  ctest --test-dir build-clang -L unit --output-on-failure -j "$jobs"
fi

step "build: AddressSanitizer + UBSan"
build build-asan address
export TXGATE_BUILD_DIR=$root/build-asan
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/support/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if want unit; then
  step "unit tests (ASan+UBSan)"
  ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"
fi

if want tsan; then
  step "pool and runner tests under ThreadSanitizer"
  build build-tsan thread connection_pool_test periodic_worker_test transaction_runner_test \
    outcome_store_test statement_killer_test executor_test
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir build-tsan -L "pool|runner" --output-on-failure
fi

work=$(mktemp -d /tmp/txgate-tests.XXXXXX)
export TXGATE_LOG_DIR=$work
cleanup() {
  local rc=$?
  for pidfile in "$work"/*.pid; do
    [ -f "$pidfile" ] || continue
    [ "$(basename "$pidfile")" = mysqld.pid ] && continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  done
  bash deploy/local/mariadb.sh stop "$work/db" || true
  if [ $rc -ne 0 ]; then
    echo "tests failed (exit $rc); logs in $work" >&2
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT

. tests/support/lib.sh
export TXGATE_TEST_DB_DIR=$work/db
export TXGATE_TEST_MYSQL_PORT=$(free_port)
step "MariaDB on 127.0.0.1:$TXGATE_TEST_MYSQL_PORT ($TXGATE_TEST_DB_DIR)"
bash deploy/local/mariadb.sh start "$TXGATE_TEST_DB_DIR" "$TXGATE_TEST_MYSQL_PORT"

if want integration; then
  step "integration tests (ASan+UBSan, real MariaDB)"
  ctest --test-dir build-asan -L integration --output-on-failure
fi

for suite in readme clients connections shutdown memory deploy chaos replication load; do
  script=tests/$suite/run.sh
  if want "$suite" && [ -f "$script" ]; then
    step "$suite ($script)"
    bash "$script"
  fi
done

step "all suites passed"
