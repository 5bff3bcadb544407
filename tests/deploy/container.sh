#!/usr/bin/env bash
# Builds txgate's container image from the top-level Dockerfile with buildah (no
# Docker engine, no registry) and checks it: the runtime image holds no compiler
# and links completely, txgate-server in it runs as uid 10001, serves health
# and a real query against MariaDB, and exits 0 on SIGTERM.
#
#   bash tests/deploy/container.sh        # as root, on Debian 12
#
# The base image debian:bookworm-slim is made locally, once: a minbase
# debootstrap of bookworm (cached in $TXGATE_TOOLS/rootfs-bookworm) from the
# host's own Debian mirror, trimmed like the official slim image and imported
# into buildah's storage. Installs buildah, debootstrap (apt) and grpcurl
# (deploy/local/deps.sh) when missing. Uses tests/run.sh's MariaDB
# (TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT) or, when those are unset, starts
# and stops its own. Build layers are cached (buildah --layers): a re-run only
# rebuilds what changed. The image stays as txgate:test.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
tools=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export PATH="$tools/bin:$PATH"
image=${TXGATE_IMAGE:-txgate:test}
base=debian:bookworm-slim
started=$(date +%s)
step() { echo "=== container [$(($(date +%s) - started))s] $*"; }
fail() { echo "container: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (buildah, debootstrap and apt need it)"

# --- tools ---------------------------------------------------------------------
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v grpcurl >/dev/null ||
  { [ -z "${TXGATE_TEST_DB_DIR:-}" ] && ! command -v mariadbd >/dev/null; }; then
  step "deploy/local/deps.sh (grpcurl, MariaDB)"
  bash deploy/local/deps.sh
fi
# shellcheck source=tests/support/lib.sh
. tests/support/lib.sh # free_port, wait_for

work=$(mktemp -d /tmp/txgate-container.XXXXXX)
bctr="" ctr="" run_pid="" server_pid="" own_db="" port=""
server_pid_of() { # server_pid_of PORT: pid of the txgate-server given --listen=127.0.0.1:PORT
  local p cmd
  for p in $(pgrep -x txgate-server || true); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    if [[ $cmd == *"--listen=127.0.0.1:$1 "* ]]; then echo "$p"; fi
  done
}
cleanup() {
  local rc=$?
  set +e
  [ -z "$server_pid" ] && [ -n "$run_pid" ] && server_pid=$(server_pid_of "$port")
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  [ -n "$run_pid" ] && kill -KILL "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null
  [ -n "$bctr" ] && buildah rm "$bctr" >/dev/null
  [ -n "$own_db" ] && bash deploy/local/mariadb.sh stop "$own_db"
  if [ $rc -ne 0 ]; then
    echo "container: failed (exit $rc); logs in $work" >&2
    tail -20 "$work"/*.log 2>/dev/null >&2
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- base image: debian:bookworm-slim from a local debootstrap -------------------
host_uri() { # host_uri NAME: the host's apt URI whose path ends in /NAME, if any
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^[:space:]]+' |
    sed 's:/*$::' | grep -E "/$1\$" | head -n1 || true
}
if ! buildah inspect --type image "docker.io/library/$base" >/dev/null 2>&1; then
  mirror=${TXGATE_DEBIAN_MIRROR:-$(host_uri debian)}
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${TXGATE_DEBIAN_SECURITY_MIRROR:-$(host_uri debian-security)}
  security=${security:-http://deb.debian.org/debian-security}
  rootfs=$tools/rootfs-bookworm
  if [ ! -f "$rootfs/.txgate-complete" ]; then
    step "debootstrap bookworm (minbase) from $mirror into $rootfs"
    rm -rf "$rootfs" "$rootfs.partial"
    mkdir -p "$tools"
    debootstrap --variant=minbase bookworm "$rootfs.partial" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      fail "debootstrap failed; see $work/debootstrap.log"
    rm -rf "$rootfs.partial"/var/cache/apt/archives/*.deb "$rootfs.partial"/var/lib/apt/lists/*
    touch "$rootfs.partial/.txgate-complete"
    mv "$rootfs.partial" "$rootfs"
  fi
  step "importing $rootfs as $base"
  bctr=$(buildah from scratch)
  mnt=$(buildah mount "$bctr")
  # Like the official slim image: no docs, man pages or locales, now or later.
  tar -C "$rootfs" -cf - --exclude=./.txgate-complete --exclude=./usr/share/man \
    --exclude=./usr/share/info --exclude=./usr/share/locale --exclude=./usr/share/doc \
    --exclude=./etc/resolv.conf --exclude=./etc/hostname --exclude=./etc/apt/sources.list . |
    tar -C "$mnt" -xpf - --numeric-owner
  mkdir -p "$mnt/usr/share/man" "$mnt/usr/share/info" "$mnt/usr/share/locale" "$mnt/usr/share/doc"
  cp "$rootfs/usr/share/locale/locale.alias" "$mnt/usr/share/locale/" 2>/dev/null || true
  cat >"$mnt/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$mnt/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$mnt/etc/apt/apt.conf.d/docker-no-languages"
  echo force-unsafe-io >"$mnt/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$mnt/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  : >"$mnt/etc/resolv.conf"
  # Trust what the host trusts locally (e.g. a TLS-inspecting egress proxy's
  # CA): the ca-certificates package, once installed, adds these to its bundle,
  # so pip inside the build can reach PyPI.
  mkdir -p "$mnt/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$mnt/usr/local/share/ca-certificates/" 2>/dev/null || true
  buildah umount "$bctr" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash --os linux --arch "$(dpkg --print-architecture)" "$bctr"
  buildah commit -q --rm "$bctr" "docker.io/library/$base" >/dev/null
  bctr=""
  buildah tag "docker.io/library/$base" "localhost/$base"
fi

# --- build -----------------------------------------------------------------------
step "buildah bud -t $image ."
bud_start=$SECONDS
# --layers caches every step; --jobs=2 builds both stages side by side.
buildah bud --isolation=chroot --layers --pull=never --jobs=2 \
  --build-arg VERSION="$(git describe --always --dirty 2>/dev/null || echo dev)" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$image" . 2>&1 | while IFS= read -r line; do
  printf '%4ds %s\n' $((SECONDS - bud_start)) "$line"
done >"$work/bud.log" || fail "buildah bud failed; see $work/bud.log"
grep -E '^ *[0-9]+s \[[0-9]/[0-9]\] STEP [0-9]+/[0-9]+: (FROM|RUN|COPY)' "$work/bud.log" | cut -c1-110 || true
step "built $image in $((SECONDS - bud_start))s, $(buildah images --format '{{.Size}}' "$image")"

# --- static checks of the image ----------------------------------------------------
buildah inspect --type image "$image" >"$work/image.json"
python3 - "$work/image.json" <<'EOF' || fail "image configuration is wrong (see $work/image.json)"
import json, sys
c = json.load(open(sys.argv[1]))["OCIv1"]["config"]
got = {
    "User": c.get("User"),
    "Entrypoint": c.get("Entrypoint"),
    "TXGATE_LISTEN": dict(e.split("=", 1) for e in c.get("Env", [])).get("TXGATE_LISTEN"),
    "ExposedPorts": sorted(c.get("ExposedPorts", {})),
    "title label": c.get("Labels", {}).get("org.opencontainers.image.title"),
}
want = {
    "User": "10001:10001",
    "Entrypoint": ["/usr/local/bin/txgate-server"],
    "TXGATE_LISTEN": "0.0.0.0:50051",
    "ExposedPorts": ["50051/tcp", "9464/tcp"],
    "title label": "txgate",
}
bad = [f"{k}: got {got[k]!r}, want {v!r}" for k, v in want.items() if got[k] != v]
print("\n".join(bad), file=sys.stderr, end="\n" if bad else "")
sys.exit(1 if bad else 0)
EOF

ctr=$(buildah from --pull=never "$image")
mnt=$(buildah mount "$ctr")
for f in usr/bin/gcc usr/bin/g++ usr/bin/cc usr/bin/c++ usr/bin/cpp usr/bin/ld usr/bin/as \
  usr/bin/make usr/bin/cmake usr/bin/protoc; do
  if [ -e "$mnt/$f" ] || [ -L "$mnt/$f" ]; then fail "runtime image contains /$f"; fi
done
[ -z "$(find "$mnt/usr/lib/gcc" -name 'cc1*' 2>/dev/null)" ] || fail "runtime image contains cc1"
[ ! -e "$mnt/usr/include/grpcpp" ] || fail "runtime image contains -dev headers"
[ -x "$mnt/usr/local/bin/txgate-server" ] || fail "no /usr/local/bin/txgate-server"
if buildah run --isolation=chroot "$ctr" -- ldd /usr/local/bin/txgate-server | grep 'not found'; then
  fail "txgate-server misses shared libraries in the runtime image"
fi

# --- run it against MariaDB -------------------------------------------------------
if [ -z "${TXGATE_TEST_DB_DIR:-}" ]; then
  export TXGATE_TEST_DB_DIR=$work/db TXGATE_TEST_MYSQL_PORT
  TXGATE_TEST_MYSQL_PORT=$(free_port)
  step "starting MariaDB on 127.0.0.1:$TXGATE_TEST_MYSQL_PORT"
  own_db=$TXGATE_TEST_DB_DIR
  bash deploy/local/mariadb.sh start "$TXGATE_TEST_DB_DIR" "$TXGATE_TEST_MYSQL_PORT"
fi
: "${TXGATE_TEST_MYSQL_PORT:?TXGATE_TEST_MYSQL_PORT must be set with TXGATE_TEST_DB_DIR}"
# The server runs as uid 10001: hand it a private copy of the password.
install -m 0400 -o 10001 -g 10001 "$TXGATE_TEST_DB_DIR/password" "$work/mysql-password"

port=$(free_port)
step "txgate-server from $image on 127.0.0.1:$port (host network)"
buildah run --isolation=chroot --network=host \
  -v "$work/mysql-password:/run/secrets/mysql-password:ro" "$ctr" -- \
  /usr/local/bin/txgate-server --listen="127.0.0.1:$port" --mysql_host=127.0.0.1 \
  --mysql_port="$TXGATE_TEST_MYSQL_PORT" --mysql_user=txgate --mysql_database=txgate \
  --mysql_password_file=/run/secrets/mysql-password --shutdown_grace=5s \
  >"$work/txgate.log" 2>&1 &
run_pid=$!
wait_for sh -c "grpcurl -plaintext 127.0.0.1:$port grpc.health.v1.Health/Check | grep -q SERVING" ||
  fail "health never said SERVING"

server_pid=$(server_pid_of "$port")
if [ -z "$server_pid" ] || [ "$(echo "$server_pid" | wc -l)" != 1 ]; then
  fail "cannot find the txgate-server process (found '$server_pid')"
fi
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$server_pid/status")
[ "$uids" = "10001 10001 10001 10001" ] || fail "txgate-server runs with uids $uids, want 10001"
step "txgate-server is pid $server_pid, uid 10001"

out=$(grpcurl -plaintext -d '{"sql":"SELECT 1 AS one"}' "127.0.0.1:$port" txgate.v1.DatabaseService/Execute 2>&1) ||
  fail "Execute failed: $out"
flat=$(tr -d ' \n' <<<"$out")
[[ $flat == *'"name":"one"'* ]] || fail "Execute: no column 'one' in $out"
[[ $flat =~ \"values\":\[\{\"[a-z0-9_]+\":\"?1\"?\}\] ]] || fail "Execute: no row 1 in $out"

step "SIGTERM"
kill -TERM "$server_pid"
for _ in $(seq 1 300); do # --shutdown_grace=5s, so 30 s is plenty
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && fail "txgate-server still running 30 s after SIGTERM"
rc=0
wait "$run_pid" || rc=$?
run_pid="" server_pid=""
[ $rc -eq 0 ] || fail "txgate-server exited $rc after SIGTERM"
grep -q '"stopped"' "$work/txgate.log" || fail "no 'stopped' in the server log"

step "passed"
