'use strict';
// Tests against a live txgate and a real MariaDB. They need TXGATE_ADDR (and
// TXGATE_TEST_DB_DIR for the connection-kill test); tests/clients/run.sh sets
// both. Without TXGATE_ADDR they are skipped.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const t = require('../lib');

const addr = process.env.TXGATE_ADDR;
const skip = addr ? false : 'TXGATE_ADDR not set (no live txgate)';
const REPO = path.resolve(__dirname, '..', '..', '..');
let db;

test.before(() => {
  if (addr) db = new t.Client(addr);
});
test.after(() => db && db.close());

function adminSql(sql) {
  const dir = process.env.TXGATE_TEST_DB_DIR;
  assert.ok(dir, 'TXGATE_TEST_DB_DIR not set (no admin access to MariaDB)');
  return execFileSync('bash', [path.join(REPO, 'deploy/local/mariadb.sh'), 'sql', dir, sql], { encoding: 'utf8' })
    .split(/\s+/).filter(Boolean);
}

// KILL CONNECTION for every session of user txgate; waits until they are gone.
async function killTxgateSessions() {
  const query = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER='txgate'";
  const ids = adminSql(query);
  assert.ok(ids.length > 0, 'txgate holds no MariaDB sessions to kill');
  for (const id of ids) {
    try {
      adminSql(`KILL CONNECTION ${Number(id)}`);
    } catch (e) {
      // the session may have closed by itself meanwhile
    }
  }
  for (let i = 0; i < 300; i++) {
    if (!adminSql(query).some((id) => ids.includes(id))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`sessions ${ids} still alive`);
}

const DECIMAL_65_30 = new t.Decimal(`-${'9'.repeat(35)}.${'0'.repeat(29)}1`);
const ROW = [
  1n, null, t.UINT64_MAX, DECIMAL_65_30, Buffer.from('\x00\xff\x00txgate\xff', 'latin1'),
  new t.DateTime(2024, 2, 29, 23, 59, 59, 999999), new t.DateOnly(1000, 1, 1),
  new t.Time(true, 838, 59, 59, 999999), new t.Time(false, 100, 1, 2, 500000), t.INT64_MIN, 'héllo ☃',
];
// ROW as read back by default: safe integers as numbers, DECIMAL as its text, DATETIME as a Date.
const ROW_DECODED = [1, null, t.UINT64_MAX, DECIMAL_65_30.text, ROW[4], ROW[5].toDate(), ...ROW.slice(6)];

test('typed values round-trip', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_types');
  await db.execute(`CREATE TABLE node_types (id INT PRIMARY KEY, n VARCHAR(10) NULL, u BIGINT UNSIGNED,
    d DECIMAL(65,30), b VARBINARY(32), ts DATETIME(6), da DATE, neg TIME(6), big TIME(6), i BIGINT,
    s VARCHAR(20)) CHARACTER SET utf8mb4`);
  const ins = await db.execute('INSERT INTO node_types VALUES (?,?,?,?,?,?,?,?,?,?,?)', ROW);
  assert.equal(ins.affectedRows, 1);
  const res = await db.execute('SELECT * FROM node_types WHERE id = ?', [1]);
  assert.deepEqual(res.rowsAsArrays, [ROW_DECODED]);
  assert.deepEqual(res.columnNames, ['id', 'n', 'u', 'd', 'b', 'ts', 'da', 'neg', 'big', 'i', 's']);
  assert.deepEqual(res.rows, [Object.fromEntries(res.columnNames.map((c, i) => [c, ROW_DECODED[i]]))]);
  const [row] = res.rows;
  assert.ok(row.ts instanceof Date);
  assert.equal(row.ts.toISOString(), '2024-02-29T23:59:59.999Z');
  assert.equal(row.ts.microsecond, 999999);
  // Everything but the integers beyond 2^53 - 1 is plain JSON; jsonReplacer writes those as strings.
  assert.throws(() => JSON.stringify(res.rows), TypeError);
  assert.deepEqual(JSON.parse(JSON.stringify(res.rows, t.jsonReplacer))[0], {
    id: 1, n: null, u: '18446744073709551615', d: DECIMAL_65_30.text, b: { type: 'Buffer', data: [...ROW[4]] },
    ts: '2024-02-29T23:59:59.999Z', da: '1000-01-01', neg: '-838:59:59.999999', big: '100:01:02.500000',
    i: '-9223372036854775808', s: 'héllo ☃',
  });
  // The exact decoding: every integer a bigint, DATETIME as its fields.
  const exact = new t.Client(addr, { integers: 'bigint', datetimes: 'fields' });
  try {
    const r = await exact.execute('SELECT id, ts FROM node_types WHERE id = ?', [1]);
    assert.deepEqual(r.rows, [{ id: 1n, ts: ROW[5] }]);
    assert.equal(r.affectedRows, 0n);
  } finally {
    exact.close();
  }
  assert.equal(res.columns[2].type, 'BIGINT UNSIGNED');
  assert.equal(res.columns[3].type, 'DECIMAL');
  assert.deepEqual(res.columns.slice(0, 2).map((c) => Boolean(c.nullable)), [false, true]);
  const echo = await db.execute('SELECT ?, ?, ?, ?', [null, t.UINT64_MAX, Buffer.from([0, 0xff]), 2.5]);
  assert.deepEqual(echo.rowsAsArrays[0], [null, t.UINT64_MAX, Buffer.from([0, 0xff]), 2.5]);
});

test('integers: numbers up to 2^53 - 1, bigints beyond', { skip }, async () => {
  const M = Number.MAX_SAFE_INTEGER;
  const { rows } = await db.execute('SELECT ? AS a, ? AS b, ? AS c, ? AS d, CAST(? AS SIGNED) AS e',
    [M, BigInt(M) + 1n, -M, BigInt(-M) - 1n, '12']);
  assert.deepEqual(rows, [{ a: M, b: BigInt(M) + 1n, c: -M, d: BigInt(-M) - 1n, e: 12 }]);
});

test('DATETIME and TIMESTAMP come back as Dates in UTC with their microseconds', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_times');
  await db.execute('CREATE TABLE node_times (id INT PRIMARY KEY, dt DATETIME(6), ts TIMESTAMP(6) NULL, z DATETIME)');
  const when = new Date(Date.UTC(2024, 6, 1, 12, 30, 45, 123));
  const precise = new t.DateTime(2024, 7, 1, 12, 30, 45, 123456).toDate();
  await db.execute('INSERT INTO node_times VALUES (1, ?, ?, ?), (2, ?, ?, NULL)',
    [when, when, new t.DateTime(0, 0, 0), precise, precise]);
  const { rows } = await db.execute('SELECT dt, ts, z FROM node_times ORDER BY id');
  assert.equal(rows[0].dt.getTime(), when.getTime());
  assert.equal(rows[0].ts.getTime(), when.getTime());
  assert.deepEqual(rows[0].z, new t.DateTime(0, 0, 0), 'a zero date has no Date');
  assert.deepEqual([rows[1].dt.microsecond, rows[1].ts.microsecond], [123456, 123456]);
  assert.equal(rows[1].ts.toISOString(), '2024-07-01T12:30:45.123Z');
  assert.deepEqual(rows[1].dt.toDateTime(), new t.DateTime(2024, 7, 1, 12, 30, 45, 123456));
});

test('an error carries its MySQL detail', { skip }, async () => {
  await assert.rejects(db.execute('SELEC 1'), (e) => {
    assert.ok(e instanceof t.TxgateError);
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(e.codeName, 'INVALID_ARGUMENT');
    assert.deepEqual([e.domain, e.reason, e.mysqlErrno, e.mysqlSqlstate], ['txgate.dev', 'MYSQL_ERROR', 1064, '42000']);
    assert.match(e.mysqlMessage, /SQL syntax/);
    return true;
  });
});

test('runTransaction', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_accounts');
  await db.execute('CREATE TABLE node_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)');
  await db.execute('INSERT INTO node_accounts VALUES (1, 100), (2, 0)');
  const res = await db.runTransaction([
    ['UPDATE node_accounts SET balance = balance - ? WHERE id = ?', [30, 1]],
    { sql: 'UPDATE node_accounts SET balance = balance + ? WHERE id = ?', params: [30, 2] },
    'SELECT id, balance FROM node_accounts ORDER BY id',
  ], { isolation: 'read committed' });
  assert.deepEqual(res.results.slice(0, 2).map((r) => r.affectedRows), [1, 1]);
  assert.deepEqual(res.results[2].rowsAsArrays, [[1, 70], [2, 30]]);
  assert.ok(res.attempts >= 1);
  assert.equal(res.calls, 1);
  assert.equal(res.idempotencyKey.length, 36);
  // All or nothing: the failing second statement undoes the first.
  await assert.rejects(db.runTransaction([
    ['UPDATE node_accounts SET balance = 0 WHERE id = ?', [1]],
    ['INSERT INTO node_accounts VALUES (?, ?)', [2, 5]],
  ]), (e) => e.code === grpc.status.ALREADY_EXISTS && e.mysqlErrno === 1062);
  assert.deepEqual((await db.execute('SELECT balance FROM node_accounts WHERE id = 1')).rowsAsArrays, [[70]]);
});

test('runTransaction retried with its key applies once', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_once');
  await db.execute('CREATE TABLE node_once (id INT PRIMARY KEY)');
  const opts = { idempotencyKey: require('node:crypto').randomUUID() };
  const stmts = [['INSERT INTO node_once VALUES (?)', [1]]];
  const first = await db.runTransaction(stmts, opts);
  const again = await db.runTransaction(stmts, opts); // a retry: the stored response
  assert.deepEqual([first.results[0].affectedRows, again.results[0].affectedRows], [1, 1]);
  assert.deepEqual((await db.execute('SELECT COUNT(*) FROM node_once')).rowsAsArrays, [[1]]);
});

test('conditional transfer: an unmet expectation rolls back and keeps the key unused', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_cond');
  await db.execute('CREATE TABLE node_cond (id INT PRIMARY KEY, balance BIGINT NOT NULL)');
  await db.execute('INSERT INTO node_cond VALUES (1, 65), (2, 0)');
  const transfer = [
    ['UPDATE node_cond SET balance = balance - ? WHERE id = 1 AND balance >= ?', [1000, 1000],
      { expect: { minAffectedRows: 1 } }],
    { sql: 'UPDATE node_cond SET balance = balance + ? WHERE id = 2', params: [1000], expect: { affectedRows: 1 } },
  ];
  const balances = async () => (await db.execute('SELECT balance FROM node_cond ORDER BY id')).rowsAsArrays;
  const opts = { idempotencyKey: require('node:crypto').randomUUID() };
  await assert.rejects(db.runTransaction(transfer, opts), (e) => {
    assert.ok(e instanceof t.ExpectationFailed, String(e));
    assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(e.reason, t.REASON_EXPECTATION_FAILED);
    assert.deepEqual([e.statementIndex, e.expectation, e.expected, e.actual], [1, 'min_affected_rows', 1n, 0n]);
    assert.equal(e.idempotencyKey, opts.idempotencyKey);
    return true;
  });
  assert.deepEqual(await balances(), [[65], [0]]);
  // "Exactly 0" is a condition of its own, not an unset one.
  await assert.rejects(db.runTransaction([['UPDATE node_cond SET balance = balance WHERE id = 2', [],
    { expect: { affectedRows: 0 } }]]), (e) => e instanceof t.ExpectationFailed && e.actual === 1n);
  // The failure used up nothing: after a top-up the same key succeeds, once.
  await db.execute('UPDATE node_cond SET balance = balance + 1000 WHERE id = 1');
  await db.runTransaction(transfer, opts);
  await db.runTransaction(transfer, opts);
  assert.deepEqual(await balances(), [[65], [1000]]);
  // In an interactive transaction, an options object; an unmet one ends it.
  const tx = await db.begin();
  await tx.execute('UPDATE node_cond SET balance = balance + ? WHERE id = 2', [1000], { expect: { affectedRows: 1 } });
  await assert.rejects(tx.execute('SELECT balance FROM node_cond WHERE id = ? FOR UPDATE', [3],
    { expect: { minRows: 1 } }), (e) => e instanceof t.ExpectationFailed && e.statementIndex === 2);
  assert.equal(tx.state, 'failed');
  await tx.close();
  assert.deepEqual(await balances(), [[65], [1000]]);
  assert.throws(() => t.expectation({ minAffected: 1 }), TypeError);
});

test('streamQuery in several chunks', { skip }, async () => {
  const rows = db.streamQuery("SELECT seq, REPEAT('x', 100) FROM seq_1_to_2500 WHERE seq > ?", [0],
    { maxRowsPerChunk: 400 });
  const got = [];
  for await (const row of rows) got.push(row.seq);
  assert.equal(got.length, 2500);
  assert.ok(got.every((n, i) => n === i + 1));
  assert.ok(rows.chunks >= 7, `${rows.chunks} chunks`);
  assert.ok(rows.done);
  assert.deepEqual(rows.columns.map((c) => c.name), ['seq', "REPEAT('x', 100)"]);
  await assert.rejects(async () => {
    for await (const row of db.streamQuery('SELECT * FROM node_no_such_table')) assert.fail(String(row));
  }, (e) => e.code === grpc.status.NOT_FOUND && e.mysqlErrno === 1146);
});

// Sizes (README, "Limits"): txgate bounds every response message's encoded
// size by --max_result_bytes, by default 64 KiB under gRPC's default 4 MiB
// receive limit, which this client keeps.
const CLIENT_LIMIT = 4 << 20;
const SERVER_LIMIT = (4 << 20) - (64 << 10);
const PATTERN = Buffer.from(Array.from({ length: 4093 }, (_, i) => (i * 7919 + (i >> 3)) & 0xff)); // a prime period
const TEXT = 'ab€😀é'; // 1- to 4-byte characters: pieces are cut between them

test('streamQuery: values of 5 and 64 MiB arrive whole', { skip }, async () => {
  // Needs the server's max_allowed_packet above 64 MiB (tests/clients/run.sh).
  const size = 64 << 20;
  const times = Math.floor(size / PATTERN.length) + 1;
  const textBytes = Buffer.byteLength(TEXT);
  const reps = Math.ceil((5 << 20) / textBytes);
  const rows = db.streamQuery("SELECT 1, LEFT(REPEAT(?, ?), ?), 'after', REPEAT(?, ?), 2",
    [PATTERN, times, size, TEXT, reps], { timeoutMs: 120000, rowMode: 'array' });
  const got = [];
  for await (const row of rows) got.push(row);
  assert.equal(got.length, 1);
  assert.ok(rows.done);
  const [one, blob, after, text, two] = got[0];
  assert.deepEqual([one, after, two], [1, 'after', 2]);
  assert.equal(blob.length, size);
  const want = Buffer.alloc(size);
  for (let off = 0; off < size; off += PATTERN.length) PATTERN.copy(want, off, 0, Math.min(PATTERN.length, size - off));
  assert.ok(blob.equals(want), 'the 64 MiB value differs');
  assert.ok(text === TEXT.repeat(reps), 'the 5 MiB text differs');
  assert.ok(rows.chunks >= 18, `${rows.chunks} chunks`);
});

// The encoded size of the ExecuteResponse to `request`, read as raw bytes.
function encodedSize(request) {
  const def = t.packageDefinition['txgate.v1.DatabaseService'].Execute;
  const raw = new grpc.Client(addr, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    raw.makeUnaryRequest(def.path, def.requestSerialize, (buf) => buf.length, request, (err, n) => {
      raw.close();
      if (err) reject(err); else resolve(n);
    });
  });
}

test('results around 4 MiB are the result or RESULT_TOO_LARGE, never a client failure', { skip }, async () => {
  const sql = "SELECT REPEAT('x', ?) AS v";
  // Bytes the response adds to n, for n from 2 MiB to 256 MiB (4-byte lengths).
  const n0 = 3 << 20;
  const overhead = (await encodedSize({ sql, params: [t.toValue(n0)] })) - n0;
  const sizes = [-64, -1, 0, 1, 64].flatMap((d) => [CLIENT_LIMIT + d, SERVER_LIMIT + d]);
  for (const encoded of sizes) {
    const n = encoded - overhead;
    try {
      const r = await db.execute(sql, [n]);
      assert.ok(encoded <= SERVER_LIMIT, `${encoded} bytes answered`);
      assert.ok(r.rowsAsArrays.length === 1 && r.rowsAsArrays[0][0] === 'x'.repeat(n));
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.equal(e.reason, 'RESULT_TOO_LARGE', `${encoded}: ${e.message}`);
      assert.ok(e.details.includes('StreamQuery'));
      assert.ok(encoded > SERVER_LIMIT, `${encoded} bytes refused`);
    }
    const streamed = [];
    for await (const row of db.streamQuery(sql, [n])) streamed.push(row);
    assert.ok(streamed.length === 1 && streamed[0].v === 'x'.repeat(n));
  }
});

async function setupTxTable() {
  await db.execute('DROP TABLE IF EXISTS node_tx');
  await db.execute('CREATE TABLE node_tx (id INT PRIMARY KEY, v VARCHAR(10))');
}
const count = async () => (await db.execute('SELECT COUNT(*) FROM node_tx')).rowsAsArrays[0][0];

test('interactive transaction: commit', { skip }, async () => {
  await setupTxTable();
  const tx = await db.begin({ isolation: 'REPEATABLE_READ', timeoutMs: 30000 });
  assert.equal((await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'a'])).affectedRows, 1);
  assert.deepEqual((await tx.execute('SELECT v FROM node_tx WHERE id = ?', [1])).rowsAsArrays, [['a']]);
  assert.equal(await count(), 0, 'not visible before commit');
  const key = await tx.commit();
  assert.equal(key.length, 36);
  assert.equal(tx.state, 'committed');
  assert.equal(await count(), 1);
  // The callback form commits when the callback resolves.
  const v = await db.transaction(async (t2) => {
    await t2.execute('INSERT INTO node_tx VALUES (?, ?)', [2, 'b']);
    return 'done';
  });
  assert.equal(v, 'done');
  assert.equal(await count(), 2);
});

test('interactive transaction: rollback', { skip }, async () => {
  await setupTxTable();
  const tx = await db.begin();
  await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'a']);
  await tx.rollback();
  assert.equal(tx.state, 'rolled back');
  let inner;
  await assert.rejects(db.transaction(async (t2) => {
    inner = t2;
    await t2.execute('INSERT INTO node_tx VALUES (?, ?)', [2, 'b']);
    throw new Error('boom');
  }), /boom/);
  assert.equal(inner.state, 'rolled back');
  assert.equal(await count(), 0);
});

test('runInTransaction runs fn again, whole, after a deadlock (ABORTED, 1213)', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_deadlock');
  await db.execute('CREATE TABLE node_deadlock (id INT PRIMARY KEY, n INT NOT NULL)');
  await db.execute('INSERT INTO node_deadlock VALUES (1, 0), (2, 0)');
  // Each first attempt locks one row, waits until the other has locked the
  // other row, then asks for it: InnoDB breaks the cycle by rolling one of
  // them back (1213), and runInTransaction runs that one's fn again.
  let locked = 0;
  let bothLocked;
  const barrier = new Promise((resolve) => { bothLocked = resolve; });
  const retries = [];
  const bump = (first, second) => db.runInTransaction(async (tx, attempt) => {
    await tx.execute('UPDATE node_deadlock SET n = n + 1 WHERE id = ?', [first]);
    if (attempt === 1) {
      if (++locked === 2) bothLocked();
      await barrier;
    }
    await tx.execute('UPDATE node_deadlock SET n = n + 10 WHERE id = ?', [second]);
    return attempt;
  }, { initialBackoffMs: 1, onRetry: (e, attempt) => retries.push([e.code, e.mysqlErrno, attempt]) });
  const attempts = await Promise.all([bump(1, 2), bump(2, 1)]);
  assert.deepEqual(attempts.sort(), [1, 2], 'one ran once, the other twice');
  assert.deepEqual(retries, [[grpc.status.ABORTED, 1213, 1]]);
  // Both committed exactly once: the rolled-back attempt left nothing.
  assert.deepEqual((await db.execute('SELECT n FROM node_deadlock ORDER BY id')).rowsAsArrays, [[11], [11]]);
});

// The breaker's transfers (finding 1): each fn catches the deadlock of its
// second UPDATE, logs it and goes on. The transaction stays failed with that
// error: every later statement and commit rejects with it again (same class,
// code, reason, errno), and runInTransaction re-runs fn, whatever fn did
// after catching it: went on to another statement, resolved, threw its own.
for (const after of ['statement', 'resolve', 'throw']) {
  test(`runInTransaction re-runs fn whose deadlock was swallowed (then: ${after})`, { skip }, async () => {
    await db.execute('DROP TABLE IF EXISTS node_swallow');
    await db.execute('CREATE TABLE node_swallow (id INT PRIMARY KEY, n INT NOT NULL)');
    await db.execute('INSERT INTO node_swallow VALUES (1, 0), (2, 0)');
    let locked = 0;
    let bothLocked;
    const barrier = new Promise((resolve) => { bothLocked = resolve; });
    const caught = [];
    const transfer = (first, second) => db.runInTransaction(async (tx, attempt) => {
      await tx.execute('UPDATE node_swallow SET n = n + 1 WHERE id = ?', [first]);
      if (attempt === 1) {
        if (++locked === 2) bothLocked();
        await barrier;
      }
      try {
        await tx.execute('UPDATE node_swallow SET n = n + 10 WHERE id = ?', [second]);
      } catch (e) {
        caught.push(e); // "log(e)" and carry on
        if (after === 'statement') {
          const again = await tx.execute('SELECT 1').catch((e2) => e2);
          assert.equal(again, e, 'a later statement rejects with the original error');
          assert.equal(await tx.commit().catch((e2) => e2), e, 'so does commit');
          assert.equal(tx.commitSent, false);
        } else if (after === 'throw') {
          throw new Error('something else');
        }
      }
      return attempt;
    }, { initialBackoffMs: 1 });
    const attempts = await Promise.all([transfer(1, 2), transfer(2, 1)]);
    assert.deepEqual(attempts.sort(), [1, 2], 'one ran once, the other twice');
    assert.equal(caught.length, 1);
    assert.ok(caught[0] instanceof t.TxgateError);
    assert.deepEqual([caught[0].code, caught[0].mysqlErrno], [grpc.status.ABORTED, 1213]);
    // Both transfers applied exactly once.
    assert.deepEqual((await db.execute('SELECT n FROM node_swallow ORDER BY id')).rowsAsArrays, [[11], [11]]);
  });
}

test('runInTransaction: bounded re-runs; other errors thrown at once', { skip }, async () => {
  await setupTxTable();
  let runs = 0;
  // SQLSTATE class 40 is ABORTED (README, "Errors"): a conflict on every attempt.
  await assert.rejects(db.runInTransaction(async (tx) => {
    runs++;
    await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [runs, 'x']);
    await tx.execute("SIGNAL SQLSTATE '40001' SET MESSAGE_TEXT = 'conflict', MYSQL_ERRNO = 1213");
  }, { maxAttempts: 3, initialBackoffMs: 1 }), (e) => {
    assert.equal(e.code, grpc.status.ABORTED);
    assert.equal(e.attempts, 3);
    return true;
  });
  assert.equal(runs, 3);
  assert.equal(await count(), 0, 'every attempt rolled back');
  // An unmet expectation, a constraint, the application's own error: once.
  for (const [fn, check] of [
    [(tx) => tx.execute('SELECT * FROM node_tx', [], { expect: { minRows: 1 } }), (e) => e instanceof t.ExpectationFailed],
    [(tx) => tx.execute('INSERT INTO node_tx VALUES (1, ?), (1, ?)', ['a', 'b']),
      (e) => e.code === grpc.status.ALREADY_EXISTS && e.attempts === 1],
    [() => { throw new Error('boom'); }, /boom/],
  ]) {
    runs = 0;
    await assert.rejects(db.runInTransaction((tx) => { runs++; return fn(tx); }, { initialBackoffMs: 1 }), check);
    assert.equal(runs, 1);
  }
  assert.equal(await db.runInTransaction(async (tx) => (await tx.execute('SELECT 7 AS v')).rows[0].v), 7);
});

test('runInTransaction and its AbortSignal: aborted before, or during an attempt', { skip }, async () => {
  await setupTxTable();
  // Already aborted: rejects with the signal's reason, fn never runs.
  const before = new AbortController();
  before.abort(new Error('stop'));
  let ran = false;
  await assert.rejects(db.runInTransaction(() => { ran = true; }, { signal: before.signal }),
    (e) => e === before.signal.reason);
  assert.equal(ran, false);
  // During an attempt: fn holds row 1's lock and waits on something that
  // never ends; the abort rejects at once and cancels the stream (rolled back).
  const during = new AbortController();
  let inserted;
  const holding = new Promise((resolve) => { inserted = resolve; });
  let fnTx;
  const call = db.runInTransaction(async (tx) => {
    fnTx = tx;
    await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'lost']);
    inserted();
    await new Promise(() => {});
  }, { signal: during.signal });
  await holding;
  during.abort();
  await assert.rejects(call, (e) => e === during.signal.reason && e.name === 'AbortError');
  assert.equal(fnTx.state, 'failed');
  await assert.rejects(fnTx.execute('SELECT 1'), (e) => e.code === grpc.status.CANCELLED);
  // The row and its lock are gone: the same key inserts (lock waits bounded at 5 s).
  const tx = await db.begin({ timeoutMs: 30000 });
  await tx.execute('SET SESSION innodb_lock_wait_timeout = 5');
  await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'kept']);
  await tx.commit();
  assert.deepEqual((await db.execute('SELECT v FROM node_tx')).rowsAsArrays, [['kept']]);
});

// Breaker finding 14: close() with a transaction still open cancels its
// stream, so txgate rolls it back and frees its row lock at once, instead of
// after its idle timeout (60 s), and the process can exit.
test('close() with an open transaction rolls it back and frees its lock', { skip }, async () => {
  await setupTxTable();
  await db.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'a']);
  const other = new t.Client(addr);
  const tx = await other.begin();
  await tx.execute('UPDATE node_tx SET v = ? WHERE id = ?', ['locked', 1]);
  const pending = tx.execute('SELECT SLEEP(0)');
  other.close();
  await assert.rejects(pending, (e) => e.code === grpc.status.CANCELLED);
  assert.equal(tx.state, 'failed');
  await assert.rejects(tx.execute('SELECT 1'), (e) => e.code === grpc.status.CANCELLED);
  // The lock is free (a lock wait is bounded at 5 s: 1205 if row 1 were still locked).
  const check = await db.begin({ timeoutMs: 30000 });
  try {
    await check.execute('SET SESSION innodb_lock_wait_timeout = 5');
    const { rowsAsArrays } = await check.execute('SELECT v FROM node_tx WHERE id = ? FOR UPDATE', [1]);
    assert.deepEqual(rowsAsArrays, [['a']], 'rolled back');
  } finally {
    await check.close();
  }
  // And a process that closes its client with a transaction open exits (bounded
  // at 30 s, well under txgate's 60 s idle timeout, which it waited for before).
  const script = `const t = require(${JSON.stringify(path.join(__dirname, '..', 'lib'))});
    (async () => { const c = new t.Client(process.env.TXGATE_ADDR); const tx = await c.begin();
      await tx.execute("UPDATE node_tx SET v = 'child' WHERE id = 1"); c.close(); })();`;
  const child = require('node:child_process').spawnSync(process.execPath, ['-e', script],
    { env: process.env, timeout: 30000, encoding: 'utf8' });
  assert.equal(child.signal, null, 'the process did not exit after close()');
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual((await db.execute('SELECT v FROM node_tx')).rowsAsArrays, [['a']]);
});

test('a transaction whose error fn swallowed is not reported committed', { skip }, async () => {
  await setupTxTable();
  const conflict = "SIGNAL SQLSTATE '40001' SET MESSAGE_TEXT = 'conflict', MYSQL_ERRNO = 1213";
  let tx1;
  await assert.rejects(db.transaction(async (tx) => {
    tx1 = tx;
    await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'a']);
    await tx.execute(conflict).catch(() => {}); // swallowed: the transaction is over all the same
    return 'committed?';
  }), (e) => e.code === grpc.status.ABORTED && e === tx1.error);
  assert.equal(tx1.state, 'failed');
  // runInTransaction sees the swallowed ABORTED and runs fn again.
  const attempt = await db.runInTransaction(async (tx, n) => {
    await tx.execute('INSERT INTO node_tx VALUES (?, ?)', [1, 'a']);
    if (n === 1) await tx.execute(conflict).catch(() => {});
    return n;
  }, { initialBackoffMs: 1 });
  assert.equal(attempt, 2);
  assert.equal(await count(), 1);
});

test('a call succeeds across killed pooled connections', { skip }, async () => {
  await db.execute('DROP TABLE IF EXISTS node_kill');
  await db.execute('CREATE TABLE node_kill (id INT PRIMARY KEY)');
  for (let i = 0; i < 3; i++) await db.execute('SELECT 1');
  await killTxgateSessions();
  assert.deepEqual((await db.execute('SELECT ?', [42], { timeoutMs: 20000 })).rowsAsArrays, [[42]]);
  await killTxgateSessions();
  const res = await db.runTransaction([['INSERT INTO node_kill VALUES (?)', [1]]], { timeoutMs: 20000 });
  assert.equal(res.results[0].affectedRows, 1);
  assert.deepEqual((await db.execute('SELECT COUNT(*) FROM node_kill')).rowsAsArrays, [[1]]);
});

// toxiproxy's HTTP API (TXGATE_TOXIPROXY; tests/clients/run.sh starts one).
async function toxiproxy(method, urlPath, body) {
  const resp = await fetch(`http://${process.env.TXGATE_TOXIPROXY}${urlPath}`, {
    method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body),
  });
  const text = await resp.text();
  assert.ok(resp.ok, `toxiproxy ${method} ${urlPath}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// An INSERT reaches txgate and commits, its answer is dropped on its way to
// the client, then the connection is cut: execute re-sends it with its key
// and gets the stored answer; exactly one row exists.
test('execute whose answer is lost applies once', {
  skip: skip || (process.env.TXGATE_TOXIPROXY ? false : 'TXGATE_TOXIPROXY not set (no toxiproxy)'),
}, async () => {
  const name = `node-${process.pid}-${Date.now()}`;
  const { listen } = await toxiproxy('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: addr });
  const via = new t.Client(listen);
  try {
    await db.execute('DROP TABLE IF EXISTS node_lost');
    await db.execute('CREATE TABLE node_lost (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16))');
    await via.execute('SELECT 1'); // the channel is connected
    await toxiproxy('POST', `/proxies/${name}/toxics`, {
      name: 'drop_answers', type: 'timeout', stream: 'downstream', toxicity: 1.0, attributes: { timeout: 0 },
    });
    const call = via.execute('INSERT INTO node_lost (v) VALUES (?)', ['once'], { timeoutMs: 30000 });
    call.catch(() => {}); // awaited below
    // The INSERT was applied (and committed): its answer is on its way and lost.
    const deadline = Date.now() + 10000;
    while ((await db.execute('SELECT COUNT(*) FROM node_lost')).rowsAsArrays[0][0] !== 1) {
      assert.ok(Date.now() < deadline, 'the INSERT never arrived');
      await new Promise((r) => setTimeout(r, 10));
    }
    await toxiproxy('POST', `/proxies/${name}`, { enabled: false }); // cuts the connection
    await toxiproxy('DELETE', `/proxies/${name}/toxics/drop_answers`);
    await toxiproxy('POST', `/proxies/${name}`, { enabled: true });
    const res = await call;
    const { rowsAsArrays: rows } = await db.execute('SELECT id FROM node_lost');
    assert.equal(rows.length, 1);
    assert.ok(res.calls >= 2 && res.idempotencyKey);
    assert.deepEqual([res.affectedRows, res.lastInsertId], [1, rows[0][0]]); // the stored answer
  } finally {
    via.close();
    await toxiproxy('DELETE', `/proxies/${name}`);
  }
});

// The connection is cut in the middle of an interactive transaction, before
// its commit: txgate rolls it back, and runInTransaction runs fn again.
test('runInTransaction re-runs a transaction whose connection was cut before its commit', {
  skip: skip || (process.env.TXGATE_TOXIPROXY ? false : 'TXGATE_TOXIPROXY not set (no toxiproxy)'),
}, async () => {
  const name = `node-tx-${process.pid}-${Date.now()}`;
  const { listen } = await toxiproxy('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: addr });
  const via = new t.Client(listen);
  try {
    await db.execute('DROP TABLE IF EXISTS node_cut');
    await db.execute('CREATE TABLE node_cut (id INT PRIMARY KEY, attempt INT NOT NULL)');
    const causes = [];
    const attempt = await via.runInTransaction(async (tx, n) => {
      await tx.execute('INSERT INTO node_cut VALUES (1, ?)', [n]);
      if (n === 1) {
        await toxiproxy('POST', `/proxies/${name}`, { enabled: false }); // cuts the connection
        try {
          await tx.execute('SELECT COUNT(*) FROM node_cut');
        } finally {
          await toxiproxy('POST', `/proxies/${name}`, { enabled: true });
        }
      }
      return n;
    }, {
      // The default backoff (50 ms doubling to 2 s, 10 attempts) outlasts
      // grpc-js's reconnect backoff (1 s): later attempts may find the
      // channel still reconnecting (UNAVAILABLE at begin, also re-run).
      onRetry: (e) => causes.push(e.code),
    });
    assert.equal(causes[0], grpc.status.UNAVAILABLE);
    assert.ok(causes.every((c) => c === grpc.status.UNAVAILABLE), `causes ${causes}`);
    // The first attempt's row was rolled back with its stream; the last one's committed.
    assert.deepEqual((await db.execute('SELECT id, attempt FROM node_cut')).rows, [{ id: 1, attempt }]);
    assert.ok(attempt >= 2);
  } finally {
    via.close();
    await toxiproxy('DELETE', `/proxies/${name}`);
  }
});
