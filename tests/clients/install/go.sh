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
# `go run` of a program using the database/sql driver and the helper.
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
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

go mod init example.com/txgate-install-check >/dev/null 2>&1
go mod edit -go="$want_go"
go mod edit -replace="$module=$root/client/go"
cat >main.go <<'GO'
// A first program with txgate's database/sql driver and its helper.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/txgate/txgate/client/go/txgate"
	_ "github.com/txgate/txgate/client/go/txgatesql"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("txgate", "txgate://"+os.Getenv("TXGATE_ADDR")+"?tls=false")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS install_check
		(id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, amount DECIMAL(12,2) NOT NULL, at DATETIME(6) NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	at := time.Date(2024, 1, 15, 12, 0, 0, 0, time.FixedZone("EST", -5*3600))
	res, err := db.ExecContext(ctx, "INSERT INTO install_check (amount, at) VALUES (?, ?)", txgate.Decimal("19.99"), at)
	if err != nil {
		log.Fatal(err)
	}
	id, _ := res.LastInsertId()
	var amount txgate.Decimal
	var stored string
	err = db.QueryRowContext(ctx, "SELECT amount, DATE_FORMAT(at, '%H:%i') FROM install_check WHERE id = ?", id).
		Scan(&amount, &stored)
	if err != nil {
		log.Fatal(err)
	}
	if amount != "19.99" || stored != "17:00" {
		log.Fatalf("read back %s at %s, want 19.99 at 17:00 (UTC)", amount, stored)
	}
	if _, err := db.ExecContext(ctx, "DROP TABLE install_check"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("install check: inserted id %d, read back %s at %s UTC\n", id, amount, stored)
}
GO
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
go vet ./...
go run .
