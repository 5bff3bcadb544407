#!/usr/bin/env bash
# A replicated MariaDB cluster on loopback for txgate's failover and read
# routing tests: a primary and N replicas, GTID replication
# (master_use_gtid=slave_pos, gtid_strict_mode, log_slave_updates), each
# server started by deploy/local/mariadb.sh in its own data directory
# DIR/nK with a 32M buffer pool. Replicas run read_only=1. txgate's accounts
# (txgate, txgate_ro; passwords in DIR/n0/password, DIR/n0/ro-password, the
# same on every server) are created on the first primary and reach the
# replicas by replication; only the harness's replication account
# txgate_repl (DIR/repl-password) has REPLICATION SLAVE. txgate's account
# gets SLAVE MONITOR (SHOW ALL SLAVES STATUS: a replica's lag, README
# "Replication and failover"); txgate_ro does not, and its probes fall
# back to the Slave_running status (roles without lag).
#
#   cluster.sh start DIR REPLICAS [--semi-sync]  # a fresh DIR: n0 primary, n1..nREPLICAS replicas
#   cluster.sh stop DIR                 # stops every server it started
#   cluster.sh hosts DIR                # "127.0.0.1:P0,127.0.0.1:P1,..." (--mysql_hosts)
#   cluster.sh port DIR NODE            # NODE's port
#   cluster.sh primary DIR              # the node the harness made primary (n0 at start)
#   cluster.sh kill-primary DIR         # SIGKILL the primary, as a crash would
#   cluster.sh newest DIR               # the live replica that received the most (promote it
#                                       # after a kill: with semi-sync it holds every ack)
#   cluster.sh promote DIR NODE         # NODE applies what it received, stops replicating,
#                                       # read_only=0; the other live replicas follow it
#   cluster.sh switchover DIR NODE      # planned: old primary read_only=1, NODE catches up
#                                       # (MASTER_GTID_WAIT), promote, old primary replicates
#   cluster.sh lag DIR NODE on|off      # STOP/START SLAVE SQL_THREAD: NODE falls behind
#   cluster.sh sql DIR NODE 'SQL'       # runs SQL as root on NODE
#
# With --semi-sync the primary waits (AFTER_SYNC) for one replica's
# acknowledgement before a commit returns: an acknowledged commit survives
# the primary's loss when the newest replica is promoted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mariadb_sh="$here/../../deploy/local/mariadb.sh"

cmd=${1:?usage: cluster.sh start|stop|hosts|port|primary|kill-primary|newest|promote|switchover|lag|sql DIR ...}
dir=$(realpath -m "${2:?DIR missing}")

node_sql() { bash "$mariadb_sh" sql "$dir/$1" "$2"; }
port_of() { cat "$dir/$1/port"; }
nodes() { cat "$dir/nodes"; }
alive() { [ -f "$dir/$1/mysqld.pid" ] && kill -0 "$(cat "$dir/$1/mysqld.pid")" 2>/dev/null; }
current_primary() { cat "$dir/primary"; }

# start_node NODE PORT SERVER_ID ROLE: mariadbd with the replication settings.
start_node() {
  local node=$1 port=$2 id=$3 role=$4
  mkdir -p "$dir/$node"
  echo "$port" >"$dir/$node/port"
  local opts=(--server-id="$id" --log-bin=mysql-bin --log-slave-updates=1 --binlog-format=ROW
    --relay-log=relay-bin --gtid-strict-mode=1 --gtid-domain-id=0 --skip-slave-start
    --innodb-buffer-pool-size=32M --slave-net-timeout=5
    --rpl-semi-sync-master-wait-point=AFTER_SYNC --rpl-semi-sync-master-timeout=10000)
  if [ "$role" = replica ]; then opts+=(--read-only=1); fi
  if [ -f "$dir/semi-sync" ]; then
    opts+=(--rpl-semi-sync-slave-enabled=1)
    if [ "$role" = primary ]; then opts+=(--rpl-semi-sync-master-enabled=1); fi
  fi
  bash "$mariadb_sh" start "$dir/$node" "$port" "${opts[@]}"
}

# replicate NODE FROM [POS]: NODE replicates from FROM by GTID.
replicate() {
  local node=$1 from=$2
  node_sql "$node" "STOP SLAVE; CHANGE MASTER TO master_host='127.0.0.1',
    master_port=$(port_of "$from"), master_user='txgate_repl',
    master_password='$(cat "$dir/repl-password")', master_use_gtid=slave_pos,
    master_connect_retry=1; START SLAVE;"
}

# caught_up NODE GTID_POS: waits (30 s at most) until NODE has applied GTID_POS.
caught_up() {
  local got
  got=$(node_sql "$1" "SELECT MASTER_GTID_WAIT('$2', 30)")
  if [ "$got" != 0 ]; then
    echo "$1 did not apply $2 within 30 s" >&2
    node_sql "$1" "SHOW SLAVE STATUS\G" >&2 || true
    return 1
  fi
}

# slave_field NODE FIELD: one field of NODE's SHOW SLAVE STATUS.
# (mariadb.sh sql prints no column names, which \G output needs.)
slave_field() {
  mariadb --no-defaults --protocol=socket --socket="$dir/$1/mysqld.sock" -uroot \
    -e "SHOW SLAVE STATUS\G" | sed -n "s/^ *$2: //p"
}

case "$cmd" in
start)
  replicas=${3:?REPLICAS missing}
  mkdir -p "$dir"
  rm -f "$dir/semi-sync"
  if [ "${4:-}" = --semi-sync ]; then touch "$dir/semi-sync"; fi
  . "$here/lib.sh"
  : >"$dir/nodes"
  for i in $(seq 0 "$replicas"); do
    echo "n$i" >>"$dir/nodes"
    [ -f "$dir/n$i/port" ] || free_port >"$dir/n$i.port.new"
  done
  start_node n0 "$(cat "$dir/n0/port" 2>/dev/null || cat "$dir/n0.port.new")" 1 primary
  echo n0 >"$dir/primary"
  umask 077
  [ -s "$dir/repl-password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/repl-password"
  node_sql n0 "CREATE USER IF NOT EXISTS 'txgate_repl'@'127.0.0.1'
    IDENTIFIED BY '$(cat "$dir/repl-password")';
    GRANT REPLICATION SLAVE ON *.* TO 'txgate_repl'@'127.0.0.1';
    GRANT SLAVE MONITOR ON *.* TO 'txgate'@'127.0.0.1', 'txgate'@'localhost';"
  for i in $(seq 1 "$replicas"); do
    node=n$i
    mkdir -p "$dir/$node"
    # The accounts come from the primary by replication: the same password
    # files, and mariadb.sh must not create them locally (a local GTID
    # would break gtid_strict_mode).
    cp "$dir/n0/password" "$dir/n0/ro-password" "$dir/$node/"
    touch "$dir/$node/accounts"
    start_node "$node" "$(cat "$dir/$node/port" 2>/dev/null || cat "$dir/$node.port.new")" \
      $((i + 1)) replica
    replicate "$node" n0
  done
  rm -f "$dir"/n*.port.new
  pos=$(node_sql n0 "SELECT @@gtid_binlog_pos")
  for i in $(seq 1 "$replicas"); do caught_up "n$i" "$pos"; done
  ;;
stop)
  [ -f "$dir/nodes" ] || exit 0
  for node in $(nodes); do bash "$mariadb_sh" stop "$dir/$node"; done
  ;;
hosts)
  list=""
  for node in $(nodes); do list="$list${list:+,}127.0.0.1:$(port_of "$node")"; done
  echo "$list"
  ;;
port)
  port_of "${3:?NODE missing}"
  ;;
primary)
  current_primary
  ;;
kill-primary)
  bash "$mariadb_sh" kill "$dir/$(current_primary)"
  ;;
newest)
  best="" best_seq=-1
  for node in $(nodes); do
    [ "$node" != "$(current_primary)" ] && alive "$node" || continue
    pos=$(slave_field "$node" Gtid_IO_Pos)
    seq_no=${pos##*-}
    seq_no=${seq_no:-0}
    if [ "$seq_no" -gt "$best_seq" ]; then best=$node best_seq=$seq_no; fi
  done
  [ -n "$best" ] || { echo "no live replica" >&2; exit 1; }
  echo "$best"
  ;;
promote)
  node=${3:?NODE missing}
  # Apply everything already received (with semi-sync: every acknowledged
  # commit) before writes start on it.
  node_sql "$node" "STOP SLAVE IO_THREAD"
  io_pos=$(slave_field "$node" Gtid_IO_Pos)
  [ -z "$io_pos" ] || caught_up "$node" "$io_pos"
  semi=0
  [ -f "$dir/semi-sync" ] && semi=1
  node_sql "$node" "STOP SLAVE; RESET SLAVE ALL;
    SET GLOBAL rpl_semi_sync_master_enabled=$semi; SET GLOBAL read_only=0;"
  old=$(current_primary)
  echo "$node" >"$dir/primary"
  for other in $(nodes); do
    if [ "$other" != "$node" ] && [ "$other" != "$old" ] && alive "$other"; then
      replicate "$other" "$node"
    fi
  done
  ;;
switchover)
  node=${3:?NODE missing}
  old=$(current_primary)
  node_sql "$old" "SET GLOBAL read_only=1"
  caught_up "$node" "$(node_sql "$old" "SELECT @@gtid_binlog_pos")"
  bash "$0" promote "$dir" "$node"
  # The old primary continues from where its own binlog ends.
  node_sql "$old" "SET GLOBAL rpl_semi_sync_master_enabled=0;
    SET GLOBAL gtid_slave_pos=@@gtid_binlog_pos;
    SET GLOBAL rpl_semi_sync_slave_enabled=$([ -f "$dir/semi-sync" ] && echo 1 || echo 0)"
  replicate "$old" "$node"
  ;;
lag)
  node=${3:?NODE missing}
  case "${4:?on|off missing}" in
  on) node_sql "$node" "STOP SLAVE SQL_THREAD" ;;
  off) node_sql "$node" "START SLAVE SQL_THREAD" ;;
  *) echo "lag: on or off" >&2; exit 2 ;;
  esac
  ;;
sql)
  node_sql "${3:?NODE missing}" "${4:?SQL missing}"
  ;;
*)
  echo "unknown command $cmd" >&2
  exit 2
  ;;
esac
