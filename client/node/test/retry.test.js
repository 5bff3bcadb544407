'use strict';
// Offline tests of runTransaction's retries and of the channel's retry
// policy, against fakes: a stub, and an in-process gRPC server.
const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const t = require('../lib');

// A stub whose RunTransaction fails with the given codes, then succeeds. A
// code may be a [code, reason] pair; UNKNOWN alone is a lost commit
// (COMMIT_OUTCOME_UNKNOWN).
function fakeStub(codes) {
  const stub = { requests: [], deadlines: [] };
  stub.RunTransaction = (request, options, callback) => {
    stub.requests.push(request);
    stub.deadlines.push(options.deadline);
    const next = codes.shift();
    const [code, reason] = Array.isArray(next) ? next
      : [next, next === grpc.status.UNKNOWN ? t.REASON_COMMIT_OUTCOME_UNKNOWN : ''];
    setImmediate(() => (code === undefined
      ? callback(null, { results: [{ affected_rows: '1' }], attempts: 1 })
      : callback(reason ? new t.TxgateError(code, 'fake', { reason })
        : Object.assign(new Error('fake'), { code, details: 'fake', metadata: new grpc.Metadata() }))));
  };
  return stub;
}

test('retries UNAVAILABLE and UNKNOWN with the same key', async () => {
  const { UNAVAILABLE, UNKNOWN } = grpc.status;
  const stub = fakeStub([UNAVAILABLE, UNKNOWN, UNAVAILABLE]);
  const res = await new t.Client(null, { stub }).runTransaction([['INSERT INTO t VALUES (?)', [1]]],
    { timeoutMs: 10000, initialBackoffMs: 1 });
  assert.equal(res.calls, 4);
  assert.equal(res.results[0].affectedRows, 1n);
  assert.match(res.idempotencyKey, /^[0-9a-f-]{36}$/);
  assert.deepEqual(new Set(stub.requests.map((r) => r.idempotency_key)), new Set([res.idempotencyKey]));
  assert.equal(new Set(stub.deadlines).size, 1, 'one overall deadline');
});

test('each logical transaction gets its own key', async () => {
  const client = new t.Client(null, { stub: fakeStub([]) });
  const a = await client.runTransaction(['DELETE FROM t']);
  const b = await client.runTransaction(['DELETE FROM t']);
  const ro = await client.runTransaction(['SELECT 1'], { readOnly: true });
  assert.ok(a.idempotencyKey && a.idempotencyKey !== b.idempotencyKey);
  assert.equal(ro.idempotencyKey, '');
});

test('does not retry other codes', async () => {
  const { INVALID_ARGUMENT, ABORTED, DEADLINE_EXCEEDED, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, UNKNOWN } = grpc.status;
  for (const next of [INVALID_ARGUMENT, ABORTED, DEADLINE_EXCEEDED, FAILED_PRECONDITION, RESOURCE_EXHAUSTED,
    [FAILED_PRECONDITION, 'MYSQL_ERROR'], [RESOURCE_EXHAUSTED, 'PACKET_TOO_LARGE'],
    // UNKNOWN for another reason than a lost commit
    [UNKNOWN, 'MYSQL_ERROR']]) {
    const code = Array.isArray(next) ? next[0] : next;
    const stub = fakeStub([next]);
    await assert.rejects(new t.Client(null, { stub }).runTransaction(['DELETE FROM t'], { initialBackoffMs: 1 }),
      (e) => e instanceof t.TxgateError && e.code === code &&
        (Array.isArray(next) || e.idempotencyKey === stub.requests[0].idempotency_key));
    assert.equal(stub.requests.length, 1);
  }
});

test('gives up at the overall deadline', async () => {
  const stub = fakeStub(Array(1000).fill(grpc.status.UNAVAILABLE));
  const start = Date.now();
  await assert.rejects(new t.Client(null, { stub }).runTransaction(['DELETE FROM t'],
    { timeoutMs: 300, initialBackoffMs: 10, maxBackoffMs: 50 }), (e) => e.code === grpc.status.UNAVAILABLE);
  assert.ok(Date.now() - start < 1000);
  assert.ok(stub.requests.length >= 3);
});

// A server whose first `failures` Execute calls fail with `code` and an ErrorInfo.
async function flakyServer(code, failures) {
  const server = new grpc.Server();
  const state = { calls: 0 };
  server.addService(t.txgatev1.DatabaseService.service, {
    Execute(call, callback) {
      state.calls++;
      if (state.calls > failures) return callback(null, { result: { affected_rows: '7' } });
      const info = t.ErrorInfoType.encode({
        reason: code === grpc.status.UNKNOWN ? t.REASON_COMMIT_OUTCOME_UNKNOWN : 'DATABASE_UNAVAILABLE',
        domain: t.ERROR_DOMAIN,
        metadata: { mysql_errno: '2013', mysql_sqlstate: 'HY000' },
      }).finish();
      const status = t.StatusType.encode({
        code, message: 'flaky', details: [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: info }],
      }).finish();
      const metadata = new grpc.Metadata();
      metadata.set('grpc-status-details-bin', Buffer.from(status));
      return callback({ code, details: 'flaky', metadata });
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const client = new t.Client(`127.0.0.1:${port}`);
  return { state, client, stop: () => { client.close(); server.forceShutdown(); } };
}

test('the channel retries UNAVAILABLE', async () => {
  const f = await flakyServer(grpc.status.UNAVAILABLE, 2);
  try {
    const res = await f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000 });
    assert.equal(res.affectedRows, 7n);
    assert.equal(f.state.calls, 3);
  } finally {
    f.stop();
  }
});

test('the channel never retries UNKNOWN', async () => {
  const f = await flakyServer(grpc.status.UNKNOWN, 1);
  try {
    await assert.rejects(f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000 }), (e) => {
      assert.ok(e instanceof t.CommitOutcomeUnknown && e.outcomeUnknown);
      assert.deepEqual([e.reason, e.domain, e.mysqlErrno, e.mysqlSqlstate],
        ['COMMIT_OUTCOME_UNKNOWN', 'txgate.dev', 2013, 'HY000']);
      return true;
    });
    assert.equal(f.state.calls, 1);
  } finally {
    f.stop();
  }
});
