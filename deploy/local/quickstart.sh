#!/usr/bin/env bash
# Runs txgate on an embedded default: builds it (Release), starts a private
# MariaDB in ${TXGATE_HOME:-~/.local/share/txgate}/mariadb on 127.0.0.1:3307,
# serves gRPC on 127.0.0.1:50051, and prints how to call it with grpcurl.
# Installs what is missing first. Ctrl-C (or SIGTERM) stops txgate and MariaDB.
#
#   deploy/local/quickstart.sh [TXGATE-SERVER-FLAGS...]
#   TXGATE_PORT=50052 TXGATE_DB_PORT=3308 deploy/local/quickstart.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
home=${TXGATE_HOME:-$HOME/.local/share/txgate}
port=${TXGATE_PORT:-50051}
db_port=${TXGATE_DB_PORT:-3307}
export TXGATE_TOOLS=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export PATH="$TXGATE_TOOLS/bin:$PATH"

bash deploy/local/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTXGATE_BUILD_TESTS=OFF >/dev/null
cmake --build build --target txgate-server

bash deploy/local/mariadb.sh start "$home/mariadb" "$db_port"
stop_all() {
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" || true
  bash deploy/local/mariadb.sh stop "$home/mariadb"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# Least privilege (README, "Security"): txgate has rights on database txgate
# only; read-only tokens, once a tokens file is given (--auth_tokens_file),
# run as txgate_ro, which may only SELECT.
TXGATE_MYSQL_PASSWORD=$(cat "$home/mariadb/password") ./build/txgate-server \
  --listen="127.0.0.1:$port" --mysql_port="$db_port" --mysql_user=txgate \
  --mysql_database=txgate --mysql_ro_user=txgate_ro \
  --mysql_ro_password_file="$home/mariadb/ro-password" "$@" &
server_pid=$!
for _ in $(seq 1 100); do
  grpcurl -plaintext "127.0.0.1:$port" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING && break
  sleep 0.1
done

cat <<MSG

txgate is serving on 127.0.0.1:$port (MariaDB on 127.0.0.1:$db_port, data in $home/mariadb).
grpcurl is in $TXGATE_TOOLS/bin. Try, from another terminal:

  export PATH="$TXGATE_TOOLS/bin:\$PATH"
  grpcurl -plaintext localhost:$port list
  grpcurl -plaintext localhost:$port grpc.health.v1.Health/Check
  grpcurl -plaintext -d '{"sql": "SELECT ? + 1 AS answer", "params": [{"int64_value": 41}]}' \\
    localhost:$port txgate.v1.DatabaseService/Execute

More in README.md ("Calling txgate with grpcurl"). Ctrl-C stops txgate and MariaDB.
MSG
wait "$server_pid"
