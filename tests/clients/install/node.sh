#!/usr/bin/env bash
# Installs the Node.js client as a user would and runs it against a live txgate.
#
# `npm pack`s client/node, creates a fresh npm project OUTSIDE the repository
# (mktemp -d), `npm install`s the tarball there (its dependencies come from the
# registry, as declared in its package.json, not from client/node/node_modules),
# then runs client/README.md's Node.js first query, a CommonJS and an ES
# module program that use it against TXGATE_ADDR (HOST:PORT), and
# type-checks a TypeScript one with the
# package's own declarations (typescript and @types/node at the versions
# client/node/package.json pins). Called by tests/clients/run.sh; needs
# TXGATE_ADDR, node and npm.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
: "${TXGATE_ADDR:?TXGATE_ADDR (HOST:PORT of a live txgate) not set}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm_quiet() { npm --no-audit --no-fund --loglevel=error "$@"; }

tarball=$(cd "$root/client/node" && npm pack --silent --pack-destination "$work")
echo "packed $tarball"
# The package carries its README (client/node/README.md) and LICENSE.
contents=$(tar -tzf "$work/$tarball")
for f in README.md LICENSE; do
  grep -qx "package/$f" <<<"$contents" || { echo "$tarball: no $f" >&2; exit 1; }
done
app="$work/app"
mkdir "$app"
cd "$app"
npm_quiet init -y >/dev/null
npm_quiet install "$work/$tarball"
ts_pins=$(node -p "const d = require('$root/client/node/package.json').devDependencies;
  ['typescript', '@types/node'].map((n) => n + '@' + d[n]).join(' ')")
# shellcheck disable=SC2086 # two package@version words
npm_quiet install --save-dev $ts_pins

cat >main.js <<'EOF'
'use strict';
const assert = require('node:assert/strict');
const { Client, PreciseDate } = require('@txgate/client');

(async () => {
  const db = new Client(process.env.TXGATE_ADDR);
  try {
    const { rows } = await db.execute(
      "SELECT 42 AS answer, CAST('2024-02-29 23:59:59.123456' AS DATETIME(6)) AS at, 1.50 AS price");
    assert.equal(JSON.stringify(rows), '[{"answer":42,"at":"2024-02-29T23:59:59.123Z","price":"1.50"}]');
    assert.ok(rows[0].at instanceof PreciseDate && rows[0].at.microsecond === 123456);
    const v = await db.runInTransaction(async (tx) => (await tx.execute('SELECT ? AS v', [7])).rows[0].v);
    assert.equal(v, 7);
    console.log(`cjs: ${JSON.stringify(rows)}`);
  } finally {
    db.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
EOF
cat >main.mjs <<'EOF'
import assert from 'node:assert/strict';
import { Client } from '@txgate/client';

const db = new Client(process.env.TXGATE_ADDR);
try {
  const { rows, rowsAsArrays } = await db.execute('SELECT ? AS a, ? AS b', [1, 2n ** 63n - 1n]);
  assert.deepEqual(rows, [{ a: 1, b: 2n ** 63n - 1n }]);
  assert.deepEqual(rowsAsArrays, [[1, 2n ** 63n - 1n]]);
  console.log('esm: ok');
} finally {
  db.close();
}
EOF
cat >main.ts <<'EOF'
import { Client } from '@txgate/client';

interface Answer {
  answer: number;
}

export async function answer(addr: string): Promise<number> {
  const db = new Client(addr);
  try {
    const { rows } = await db.execute<Answer>('SELECT 42 AS answer');
    return rows[0]?.answer ?? 0;
  } finally {
    db.close();
  }
}
EOF
cat >tsconfig.json <<'EOF'
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "ES2022", "module": "commonjs",
  "moduleResolution": "node10", "types": ["node"] }, "files": ["main.ts"] }
EOF

# client/README.md's first query ("## Node.js", its first js block), saved
# as the .mjs it says and run as is but for the address, on the table it reads.
cat >setup.js <<'EOF'
'use strict';
const { Client, DateTime } = require('@txgate/client');
const db = new Client(process.env.TXGATE_ADDR);
(async () => {
  await db.execute('DROP TABLE IF EXISTS orders');
  await db.execute('CREATE TABLE orders (id BIGINT PRIMARY KEY, amount DECIMAL(12,2), placed DATETIME(6))');
  await db.execute('INSERT INTO orders VALUES (1, 19.99, ?)', [new DateTime(2024, 2, 29, 23, 59, 59, 999999)]);
})().finally(() => db.close());
EOF
awk '/^## Node.js/ { s = 1 } s && /^```js$/ { b = 1; next } b && /^```$/ { exit } b' "$root/client/README.md" |
  sed "s/127\\.0\\.0\\.1:50051/$TXGATE_ADDR/" >first.mjs
grep -q "from '@txgate/client'" first.mjs || { echo "client/README.md: no Node.js first-query snippet found" >&2; exit 1; }
node setup.js
got=$(node first.mjs)
want='[{"id":1,"amount":"19.99","placed":"2024-02-29T23:59:59.999Z"}]'
[ "$got" = "$want" ] || { echo "client/README.md's Node.js snippet printed $got, not $want" >&2; exit 1; }
echo "readme: $got"
node main.js
node main.mjs
npx --no-install tsc -p .
echo "ts: ok"
echo "node package: installed from $tarball into a fresh project and ran against $TXGATE_ADDR"
