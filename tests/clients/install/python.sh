#!/usr/bin/env bash
# Installs the Python package the way a user does and runs a small program with it
# against a live txgate, in a fresh project outside the repository:
#   1. builds the wheel and the sdist (`python -m build`) from a copy of client/python;
#   2. checks their metadata (version = pyproject.toml's, License-Expression Apache-2.0,
#      py.typed shipped);
#   3. in a fresh venv and project directory (mktemp -d): installs the wheel with its
#      [sqlalchemy] extra and the newest dependencies pip picks, and runs the program
#      (also through SQLAlchemy, whose mysql+txgate dialect the entry point registers);
#   4. in another: installs the sdist with the lowest dependencies pyproject.toml
#      allows (client/python/constraints-lowest.txt), and runs the program again.
#
#   TXGATE_ADDR=127.0.0.1:PORT bash tests/clients/install/python.sh
# (tests/clients/run.sh calls it with its txgate.) Needs python3 and PyPI.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
: "${TXGATE_ADDR:?TXGATE_ADDR (a running txgate) is required}"
tools=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
build_venv=$tools/venv/txgate-py-build
pip_quiet=(--quiet --disable-pip-version-check --no-input)
if [ ! -x "$build_venv/bin/python" ] || ! "$build_venv/bin/python" -c 'import build' 2>/dev/null; then
  python3 -m venv "$build_venv"
  "$build_venv/bin/pip" install "${pip_quiet[@]}" build==1.6.1
fi

work=$(mktemp -d /tmp/txgate-py-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Build from a copy: setuptools leaves build/ and *.egg-info next to its input.
mkdir "$work/src"
(cd "$root/client/python" && git ls-files -co --exclude-standard | grep -v '^tests/' |
  tar -cf - -T -) | tar -xf - -C "$work/src"
"$build_venv/bin/python" -m build --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/client/python/pyproject.toml")
wheel=$work/dist/txgate_client-$version-py3-none-any.whl
sdist=$work/dist/txgate_client-$version.tar.gz
[ -f "$wheel" ] && [ -f "$sdist" ] || { ls -l "$work/dist" >&2; exit 1; }
python3 - "$wheel" "$version" <<'PY'
import sys, zipfile
wheel, version = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(wheel)
meta = z.read(f"txgate_client-{version}.dist-info/METADATA").decode()
names = z.namelist()
for want in (f"Version: {version}", "License-Expression: Apache-2.0"):
    assert want in meta.splitlines(), f"wheel METADATA lacks {want!r}"
for f in ("txgate_dbapi/py.typed", "txgate_client/py.typed", "txgate/v1/service_config.json",
          f"txgate_client-{version}.dist-info/licenses/LICENSE"):
    assert f in names, f"wheel lacks {f}"
print(f"python install: built {wheel.rsplit('/', 1)[1]} and the sdist; metadata ok")
PY

# The user's program: DB-API (sync and asyncio) and the helper.
program() {
  cat >"$1/app.py" <<'PY'
import asyncio, decimal, os, sys
import google.protobuf, grpc
import txgate_client, txgate_dbapi
from txgate_dbapi import aio

addr = os.environ["TXGATE_ADDR"]
assert "site-packages" in txgate_dbapi.__file__, txgate_dbapi.__file__
table = f"py_install_{os.getpid()}"
with txgate_dbapi.connect(addr, autocommit=True) as conn:
    conn.cursor().execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, amount DECIMAL(10,2))")
with txgate_dbapi.connect(addr) as conn:  # commits at the end of the block
    cur = conn.cursor()
    cur.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(1, decimal.Decimal("9.99")), (2, 1)])
with txgate_client.Client(addr) as db:
    db.run_in_transaction(lambda tx: tx.execute(f"UPDATE {table} SET amount = amount + 1"))
    total = db.execute(f"SELECT SUM(amount) AS total FROM {table}").rows[0]["total"]

async def read():
    async with await aio.connect(addr, autocommit=True) as conn:
        cur = await conn.cursor().execute(f"SELECT amount FROM {table} ORDER BY id")
        rows = await cur.fetchall()
        await conn.cursor().execute(f"DROP TABLE {table}")
        return rows
rows = asyncio.run(read())
assert rows == [(decimal.Decimal("10.99"),), (decimal.Decimal("2.00"),)], rows
assert total == decimal.Decimal("12.99"), total
extra = ""
if os.environ.get("WITH_SQLALCHEMY"):  # the [sqlalchemy] extra: the dialect's entry point
    import sqlalchemy
    engine = sqlalchemy.create_engine(f"mysql+txgate://{addr}")
    with engine.connect() as conn:
        assert conn.scalar(sqlalchemy.select(sqlalchemy.literal(41) + 1)) == 42
    extra = f", SQLAlchemy {sqlalchemy.__version__} (mysql+txgate)"
print(f"app ok: txgate-client {txgate_client.__version__}, protobuf {google.protobuf.__version__},"
      f" grpcio {grpc.__version__}{extra}")
PY
}

# run_fresh NAME PACKAGE [PIP ARGS...]: a fresh venv and project outside the
# repository, the package installed, the program run from there.
run_fresh() {
  local name=$1 package=$2
  shift 2
  local dir
  dir=$(mktemp -d "$work/$name.XXXXXX")
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install "${pip_quiet[@]}" "$@" "$package" >"$dir/pip.log" 2>&1 ||
    { tail -n 30 "$dir/pip.log" >&2; return 1; }
  program "$dir"
  (cd "$dir" && TXGATE_ADDR=$TXGATE_ADDR WITH_SQLALCHEMY=${WITH_SQLALCHEMY:-} "$dir/venv/bin/python" app.py) |
    sed "s/^/python install ($name): /"
}

WITH_SQLALCHEMY=1 run_fresh newest "$wheel[sqlalchemy]"
run_fresh lowest "$sdist" -c "$root/client/python/constraints-lowest.txt"
echo "python install: ok"
