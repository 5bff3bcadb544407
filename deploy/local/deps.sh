#!/usr/bin/env bash
# Installs what txgate needs on Debian 12, skipping what is already there.
#
#   deploy/local/deps.sh           # build + run: compilers, libraries, MariaDB, grpcurl
#   deploy/local/deps.sh --test    # also what the test suite uses (clang, toxiproxy, ghz, buf, ...)
#
# Go tools and buf go to $TXGATE_TOOLS (default ~/.cache/txgate/tools), pinned;
# add "$TXGATE_TOOLS/bin" to PATH to use them (the scripts do).
set -euo pipefail

GRPCURL_VERSION=v1.9.3
GHZ_VERSION=v0.120.0
TOXIPROXY_VERSION=v2.12.0
BUF_VERSION=1.75.0
HELM_VERSION=v3.22.0 # tests/deploy/check_k8s.sh lints and renders deploy/helm/txgate

tools=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
mkdir -p "$tools/bin"

packages=(build-essential cmake ninja-build pkg-config git ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  default-libmysqlclient-dev mariadb-server mariadb-client prometheus-cpp-dev libjemalloc-dev
  golang-go)
if [ "${1:-}" = "--test" ]; then
  packages+=(libgtest-dev libgmock-dev sysbench python3-venv clang clang-format)
  # The Java client (client/java): Java 17 and Maven; its Maven repository is
  # cached under $TXGATE_TOOLS/m2 (tests/clients/run.sh passes -Dmaven.repo.local).
  packages+=(default-jdk-headless maven)
fi

missing=()
for p in "${packages[@]}"; do
  # golang-go only matters if no Go is installed at all.
  if [ "$p" = golang-go ] && command -v go >/dev/null; then continue; fi
  # default-jdk-headless only if no JDK 17 or newer is there (its javac).
  if [ "$p" = default-jdk-headless ] && javac -version 2>&1 | grep -Eq 'javac (1[7-9]|[2-9][0-9])'; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go_tool() {  # go_tool BINARY MODULE/PATH@VERSION
  local bin=$1 pkg=$2
  [ -x "$tools/bin/$bin" ] && [ -f "$tools/bin/.$bin.version" ] &&
    [ "$(cat "$tools/bin/.$bin.version")" = "$pkg" ] && return 0
  echo "deps: go install $pkg" >&2
  local tmp
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install "$pkg"
  mv "$tmp"/* "$tools/bin/$bin"
  rmdir "$tmp"
  echo "$pkg" >"$tools/bin/.$bin.version"
}

go_tool grpcurl "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
if [ "${1:-}" = "--test" ]; then
  go_tool ghz "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
  go_tool toxiproxy-server "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  go_tool toxiproxy-cli "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
  # Debian 12 has no helm package; its module is on the Go proxy like the tools above.
  GOTOOLCHAIN=local go_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  if [ ! -x "$tools/node/node_modules/.bin/buf" ] ||
    ! "$tools/node/node_modules/.bin/buf" --version | grep -qx "$BUF_VERSION"; then
    echo "deps: npm install @bufbuild/buf@$BUF_VERSION" >&2
    npm install --silent --no-audit --no-fund --prefix "$tools/node" "@bufbuild/buf@$BUF_VERSION" >/dev/null
  fi
  ln -sf "$tools/node/node_modules/.bin/buf" "$tools/bin/buf"
fi
