'use strict';
// lib/index.d.ts declares exactly what lib/index.js exports (tsc checks the
// declarations' use, typecheck; this checks they cover the module).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const lib = require('../lib');

test('index.d.ts declares every export, and nothing else', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'lib', 'index.d.ts'), 'utf8');
  const declared = [...dts.matchAll(/^export (?:const|class|function) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(declared)].sort(), Object.keys(lib).sort());
});
