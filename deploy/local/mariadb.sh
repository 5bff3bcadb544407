#!/usr/bin/env bash
# A private MariaDB for txgate's quick start and tests: its own data directory,
# listening on 127.0.0.1 only, with database `txgate`, its least-privilege
# user `txgate` (password in DIR/password) and the read-only user `txgate_ro`
# (SELECT only; password in DIR/ro-password). See README, "Security".
# The binary log is on (GTIDs, server id $TXGATE_SERVER_ID or 1): every commit
# gets the GTID txgate hands out as its causality token (README, "Reads on
# replicas"), and the server can be a replication primary.
#
#   deploy/local/mariadb.sh start DIR PORT [OPTION...]  # creates DIR on first use, waits
#                                            # until ready; OPTIONs go to mariadbd last (they
#                                            # win), e.g. tests/support/cluster.sh's replication
#   deploy/local/mariadb.sh stop DIR         # clean shutdown, waits until gone
#   deploy/local/mariadb.sh kill DIR         # SIGKILL, as a crash would
#   deploy/local/mariadb.sh pause DIR        # SIGSTOP: a hung server (resume: SIGCONT)
#   deploy/local/mariadb.sh sql DIR 'SQL'    # runs SQL as the admin (root over the socket)
set -euo pipefail

cmd=${1:?usage: mariadb.sh start|stop|kill|pause|resume|sql DIR [PORT|SQL]}
dir=$(realpath -m "${2:?DIR missing}")
sock="$dir/mysqld.sock"
pidfile="$dir/mysqld.pid"

admin() { mariadb --no-defaults --protocol=socket --socket="$sock" -uroot "$@"; }

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

wait_gone() {
  local pid=$1
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "mariadbd $pid did not stop" >&2
  return 1
}

case "$cmd" in
start)
  port=${3:?PORT missing}
  shift 3
  if alive; then exit 0; fi
  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
  fi
  # --user is needed to run as root; it is ignored for other users.
  mariadbd --no-defaults --datadir="$dir/data" --socket="$sock" --pid-file="$pidfile" \
    --port="$port" --bind-address=127.0.0.1 --user="$(id -un)" --skip-name-resolve \
    --log-error="$dir/error.log" --innodb-buffer-pool-size=256M --max-connections=1000 \
    --innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_unicode_ci --log-bin=mysql-bin --server-id="${TXGATE_SERVER_ID:-1}" \
    --log-bin-trust-function-creators=1 --binlog-expire-logs-seconds=86400 "$@" >/dev/null 2>&1 &
  for _ in $(seq 1 600); do
    if admin -e 'SELECT 1' >/dev/null 2>&1; then break; fi
    if ! kill -0 $! 2>/dev/null; then
      echo "mariadbd exited; see $dir/error.log" >&2
      tail -20 "$dir/error.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  admin -e 'SELECT 1' >/dev/null
  # Least privilege: txgate's main account gets rights on its own database
  # only (an account may always KILL its own sessions, so nothing ON *.*);
  # txgate_ro may only read it. Passwords are kept in DIR/password and
  # DIR/ro-password. Set up once per DIR (DIR/accounts marks it done, so a
  # restart keeps grants that tests added); an older DIR is upgraded.
  if [ -f "$dir/accounts" ]; then exit 0; fi
  umask 077
  [ -s "$dir/password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/password"
  [ -s "$dir/ro-password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/ro-password"
  password=$(cat "$dir/password")
  ro_password=$(cat "$dir/ro-password")
  admin <<SQL
CREATE DATABASE IF NOT EXISTS txgate;
CREATE USER IF NOT EXISTS 'txgate'@'127.0.0.1', 'txgate'@'localhost',
  'txgate_ro'@'127.0.0.1', 'txgate_ro'@'localhost';
ALTER USER 'txgate'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'txgate'@'localhost' IDENTIFIED BY '$password';
ALTER USER 'txgate_ro'@'127.0.0.1' IDENTIFIED BY '$ro_password';
ALTER USER 'txgate_ro'@'localhost' IDENTIFIED BY '$ro_password';
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'txgate'@'127.0.0.1', 'txgate'@'localhost',
  'txgate_ro'@'127.0.0.1', 'txgate_ro'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES,
  CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE,
  ALTER ROUTINE, EXECUTE, TRIGGER, EVENT, DELETE HISTORY
  ON txgate.* TO 'txgate'@'127.0.0.1', 'txgate'@'localhost';
GRANT SELECT ON txgate.* TO 'txgate_ro'@'127.0.0.1', 'txgate_ro'@'localhost';
SQL
  touch "$dir/accounts"
  ;;
stop)
  if alive; then
    pid=$(cat "$pidfile")
    kill -CONT "$pid" # a paused server could not act on TERM
    kill -TERM "$pid"
    wait_gone "$pid"
  fi
  ;;
kill)
  if alive; then
    pid=$(cat "$pidfile")
    kill -KILL "$pid"
    wait_gone "$pid"
  fi
  ;;
pause)
  # SIGSTOP: a hung database (connections stay open, nothing is answered).
  if alive; then kill -STOP "$(cat "$pidfile")"; fi
  ;;
resume)
  if alive; then kill -CONT "$(cat "$pidfile")"; fi
  ;;
sql)
  admin -N -B -e "${3:?SQL missing}"
  ;;
*)
  echo "unknown command $cmd" >&2
  exit 2
  ;;
esac
