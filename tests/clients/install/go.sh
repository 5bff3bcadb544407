#!/usr/bin/env bash
# Installs the Go client the way an application does and runs a small
# database/sql program with it against a live txgate:
#
#   TXGATE_ADDR=127.0.0.1:50051 bash tests/clients/install/go.sh
#
# A fresh module in a temporary directory outside the repository, at
# `go 1.23.0` (the client module's own go directive: the check fails if
# adding the client raises it), `go mod edit -replace` to this checkout's
# client/go (the module path github.com/txgate/txgate/client/go is not
# published), `go get` of the module at v0.0.0, `go mod tidy`, `go vet` and
# `go run` of client/README.md's first Go program (database/sql and the helper).
# It builds and runs with the oldest Go the go directive admits
# (GOTOOLCHAIN=go1.23.0, fetched once into the module cache like any module;
# TXGATE_GO_TOOLCHAIN overrides, e.g. "local"), so the directive is proved,
# not only declared. Called by tests/clients/run.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
: "${TXGATE_ADDR:?TXGATE_ADDR (a live txgate) is not set}"
module=github.com/txgate/txgate/client/go
want_go=$(sed -n 's/^go //p' "$root/client/go/go.mod")
export GOTOOLCHAIN=${TXGATE_GO_TOOLCHAIN:-go$want_go}
# The module's go.mod and go.sum are exactly what its imports need.
(cd "$root/client/go" && go mod tidy -diff) ||
  { echo "install/go: client/go/go.mod is not tidy (run go mod tidy there)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

go mod init example.com/txgate-install-check >/dev/null 2>&1
go mod edit -go="$want_go"
go mod edit -replace="$module=$root/client/go"
# The program is client/README.md's first Go program (the ```go block after
# the <!-- go-install-check --> marker), so the README's snippet is what runs.
python3 - "$root/client/README.md" >main.go <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"<!-- go-install-check -->\s*```go\n(.*?)```", text, re.S)
if not m:
    sys.exit("install/go: no ```go block after <!-- go-install-check --> in client/README.md")
print(m.group(1), end="")
PY
# The replaced module has no published version: v0.0.0 names the
# replacement (`go get PACKAGE` would ask the module proxy for @latest, and
# for a module at each longer path, first); `go mod tidy` adds the rest.
go get "$module@v0.0.0"
go mod tidy
got_go=$(sed -n 's/^go //p' go.mod)
if [ "$got_go" != "$want_go" ]; then
  echo "install/go: adding the client raised the application's go directive from $want_go to $got_go" >&2
  exit 1
fi
go version
if [ -n "$(gofmt -l main.go)" ]; then
  echo "install/go: client/README.md's Go program is not gofmt-formatted" >&2
  exit 1
fi
go vet ./...
out=$(go run .)
echo "$out"
# 12:00 at -05:00 is stored, and read back, as 17:00 UTC.
grep -qx 'database/sql: 19.99 2024-01-15T17:00:00Z' <<<"$out"
grep -qx 'helper: rows with that id: 1' <<<"$out"
echo "install/go: the client installed into a fresh module and ran against txgate"
