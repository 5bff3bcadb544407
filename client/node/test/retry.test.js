'use strict';
// Offline tests of execute's and runTransaction's retries and of the
// channel's service config, against fakes: a stub, and an in-process gRPC
// server.
const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const t = require('../lib');

// A stub whose RunTransaction fails with the given codes, then succeeds. A
// code may be a [code, reason] pair (txgate's ErrorInfo); UNKNOWN alone is a lost commit
// (COMMIT_OUTCOME_UNKNOWN).
// Execute fails the same way; an UNAVAILABLE alone carries no ErrorInfo (the
// transport's: a cut connection).
function fakeStub(codes) {
  const stub = { requests: [], deadlines: [] };
  const answer = (ok) => (request, options, callback) => {
    stub.requests.push(request);
    stub.deadlines.push(options.deadline);
    const next = codes.shift();
    const [code, reason] = Array.isArray(next) ? next
      : [next, next === grpc.status.UNKNOWN ? t.REASON_COMMIT_OUTCOME_UNKNOWN : ''];
    setImmediate(() => (code === undefined
      ? callback(null, ok)
      : callback(reason ? new t.TxgateError(code, 'fake', { reason, domain: t.ERROR_DOMAIN })
        : Object.assign(new Error('fake'), { code, details: 'fake', metadata: new grpc.Metadata() }))));
  };
  stub.RunTransaction = answer({ results: [{ affected_rows: '1' }], attempts: 1 });
  stub.Execute = answer({ result: { affected_rows: '1', last_insert_id: '9' } });
  return stub;
}

test('retries UNAVAILABLE and UNKNOWN with the same key', async () => {
  const { UNAVAILABLE, UNKNOWN } = grpc.status;
  const stub = fakeStub([UNAVAILABLE, UNKNOWN, UNAVAILABLE]);
  const res = await new t.Client(null, { stub }).runTransaction([['INSERT INTO t VALUES (?)', [1]]],
    { timeoutMs: 10000, initialBackoffMs: 1 });
  assert.equal(res.calls, 4);
  assert.equal(res.results[0].affectedRows, 1);
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

// txgate's own UNAVAILABLE says nothing was applied: retried, with or without a key.
test("execute retries txgate's UNAVAILABLE", async () => {
  for (const idempotencyKey of [undefined, '']) {
    const f = await flakyServer(grpc.status.UNAVAILABLE, 2);
    try {
      const res = await f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000, initialBackoffMs: 1, idempotencyKey });
      assert.equal(res.affectedRows, 7);
      assert.equal(res.calls, 3);
      assert.equal(f.state.calls, 3);
    } finally {
      f.stop();
    }
  }
});

test('execute never retries UNKNOWN without a key', async () => {
  const f = await flakyServer(grpc.status.UNKNOWN, 1);
  try {
    await assert.rejects(f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000, idempotencyKey: '' }), (e) => {
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

test('execute re-sends a lost answer with the one fresh key of the call', async () => {
  const { UNAVAILABLE, UNKNOWN } = grpc.status;
  const stub = fakeStub([UNAVAILABLE, UNKNOWN, UNAVAILABLE]);
  const client = new t.Client(null, { stub });
  const res = await client.execute('INSERT INTO t VALUES (?)', [1], { timeoutMs: 10000, initialBackoffMs: 1 });
  assert.deepEqual([res.calls, res.affectedRows, res.lastInsertId], [4, 1, 9]);
  assert.match(res.idempotencyKey, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(new Set(stub.requests.map((r) => r.idempotency_key)), new Set([res.idempotencyKey]));
  const other = await client.execute('INSERT INTO t VALUES (?)', [1]);
  assert.notEqual(other.idempotencyKey, res.idempotencyKey);
});

test('without a key a cut connection is not retried', async () => {
  for (const call of ['execute', 'runTransaction']) {
    const stub = fakeStub([grpc.status.UNAVAILABLE]);
    const client = new t.Client(null, { stub });
    const p = call === 'execute' ? client.execute('INSERT INTO t VALUES (1)', [], { idempotencyKey: '' })
      : client.runTransaction(['INSERT INTO t VALUES (1)'], { idempotencyKey: '' });
    await assert.rejects(p, (e) => e.code === grpc.status.UNAVAILABLE);
    assert.equal(stub.requests.length, 1, call);
  }
});

test('a read-only transaction is retried without a key', async () => {
  const stub = fakeStub([grpc.status.UNAVAILABLE]);
  const res = await new t.Client(null, { stub }).runTransaction(['SELECT 1'], { readOnly: true, initialBackoffMs: 1 });
  assert.equal(res.calls, 2);
  assert.equal(res.idempotencyKey, '');
});

// gRPC's server cancels a call it accepted as a drain starts but had not
// handed to txgate yet: CANCELLED without txgate's ErrorInfo, nothing ran.
test('a server-sent CANCELLED is re-sent with the key of a keyed write or a read-only transaction', async () => {
  const { CANCELLED } = grpc.status;
  for (const call of ['execute', 'runTransaction', 'readOnly']) {
    const stub = fakeStub([CANCELLED, CANCELLED]);
    const client = new t.Client(null, { stub });
    const opts = { timeoutMs: 10000, initialBackoffMs: 1 };
    const res = call === 'execute' ? await client.execute('INSERT INTO t VALUES (1)', [], opts)
      : call === 'runTransaction' ? await client.runTransaction(['INSERT INTO t VALUES (1)'], opts)
        : await client.runTransaction(['SELECT 1'], { ...opts, readOnly: true });
    assert.equal(res.calls, 3, call);
    assert.equal(res.idempotencyKey === '', call === 'readOnly');
    assert.deepEqual(new Set(stub.requests.map((r) => r.idempotency_key)), new Set([res.idempotencyKey]));
  }
});

test('without a key a server-sent CANCELLED is not retried', async () => {
  for (const call of ['execute', 'runTransaction']) {
    const stub = fakeStub([grpc.status.CANCELLED]);
    const client = new t.Client(null, { stub });
    const p = call === 'execute' ? client.execute('INSERT INTO t VALUES (1)', [], { idempotencyKey: '' })
      : client.runTransaction(['INSERT INTO t VALUES (1)'], { idempotencyKey: '' });
    await assert.rejects(p, (e) => e.code === grpc.status.CANCELLED && !e.cancelledLocally);
    assert.equal(stub.requests.length, 1, call);
  }
});

test("a CANCELLED this process caused, or with txgate's ErrorInfo, is not retried", async () => {
  const local = Object.assign(new Error('x'), {
    code: grpc.status.CANCELLED, details: 'Cancelled on client', metadata: new grpc.Metadata(),
  });
  assert.ok(t.fromServiceError(local).cancelledLocally);
  assert.equal(t.retryable(t.fromServiceError(local), true), false);
  assert.equal(t.retryable(new t.TxgateError(grpc.status.CANCELLED, 'x', { reason: 'CANCELLED', domain: t.ERROR_DOMAIN }), true), false);
  const stub = fakeStub([[grpc.status.CANCELLED, 'CANCELLED']]);
  await assert.rejects(new t.Client(null, { stub }).execute('INSERT INTO t VALUES (1)', [], { initialBackoffMs: 1 }),
    (e) => e.code === grpc.status.CANCELLED);
  assert.equal(stub.requests.length, 1);
});

// A server whose Execute answers the first `failures` calls CANCELLED without
// an ErrorInfo (as gRPC's server cancels a call), or, with hold, holds every
// call until the client cancels it.
async function cancellingServer({ failures = 0, hold = false } = {}) {
  const server = new grpc.Server();
  const state = { calls: 0 };
  let started;
  state.started = new Promise((resolve) => { started = resolve; });
  server.addService(t.txgatev1.DatabaseService.service, {
    Execute(call, callback) {
      state.calls++;
      if (hold) {
        started();
        return call.on('cancelled', () => callback({ code: grpc.status.CANCELLED, details: 'gone' }));
      }
      if (state.calls <= failures) return callback({ code: grpc.status.CANCELLED, details: 'Cancelled' });
      return callback(null, { result: { affected_rows: '7' } });
    },
  });
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const client = new t.Client(`127.0.0.1:${port}`);
  return { state, client, stop: () => { client.close(); server.forceShutdown(); } };
}

test('execute re-sends a keyed call the server cancelled, not a keyless one', async () => {
  const f = await cancellingServer({ failures: 2 });
  try {
    const res = await f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000, initialBackoffMs: 1 });
    assert.deepEqual([res.affectedRows, res.calls, f.state.calls], [7, 3, 3]);
    f.state.calls = 0;
    await assert.rejects(f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000, initialBackoffMs: 1, idempotencyKey: '' }),
      (e) => e.code === grpc.status.CANCELLED && !e.cancelledLocally);
    assert.equal(f.state.calls, 1);
  } finally {
    f.stop();
  }
});

test('a call the application aborted is not retried', async () => {
  const f = await cancellingServer({ hold: true });
  try {
    const abort = new AbortController();
    f.state.started.then(() => abort.abort());
    await assert.rejects(f.client.execute('UPDATE t SET a = 1', [], { timeoutMs: 10000, initialBackoffMs: 1, signal: abort.signal }),
      (e) => e.code === grpc.status.CANCELLED && e.cancelledLocally && e.idempotencyKey !== '');
    assert.equal(f.state.calls, 1);
    // Aborted before it starts, or during a backoff pause: nothing more is sent.
    await assert.rejects(f.client.execute('UPDATE t SET a = 1', [], { signal: abort.signal }),
      (e) => e.code === grpc.status.CANCELLED && e.cancelledLocally);
    assert.equal(f.state.calls, 1);
  } finally {
    f.stop();
  }
  const stub = fakeStub([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
  const abort = new AbortController();
  const p = new t.Client(null, { stub }).execute('INSERT INTO t VALUES (1)', [],
    { timeoutMs: 600000, initialBackoffMs: 60000, maxBackoffMs: 60000, signal: abort.signal });
  setImmediate(() => setImmediate(() => abort.abort()));
  await assert.rejects(p, (e) => e.code === grpc.status.CANCELLED && e.cancelledLocally);
  assert.equal(stub.requests.length, 1);
});

// gRPC's retry policy cannot see a request's idempotency key, so the shipped
// service config may retry no DatabaseService method.
test('the service config retries no database call', () => {
  for (const mc of JSON.parse(t.SERVICE_CONFIG).methodConfig) {
    if (!mc.retryPolicy && !mc.hedgingPolicy) continue;
    for (const n of mc.name) assert.notEqual(n.service, 'txgate.v1.DatabaseService');
  }
});

test('one merged service config: a caller\'s own cannot drop round_robin or the retry policy', () => {
  const ours = JSON.parse(t.SERVICE_CONFIG);
  assert.deepEqual(ours.loadBalancingConfig, [{ round_robin: {} }]);
  const opts = t.channelOptions({
    'grpc.service_config': JSON.stringify({
      methodConfig: [{ name: [{ service: 'txgate.v1.DatabaseService' }], timeout: '5s' }],
    }),
    'grpc.keepalive_time_ms': 10000,
  });
  const merged = JSON.parse(opts['grpc.service_config']);
  assert.deepEqual(merged.loadBalancingConfig, [{ round_robin: {} }]);
  assert.deepEqual(merged.retryThrottling, ours.retryThrottling);
  assert.deepEqual(merged.methodConfig, [...ours.methodConfig,
    { name: [{ service: 'txgate.v1.DatabaseService' }], timeout: '5s' }]);
  assert.equal(opts['grpc.keepalive_time_ms'], 10000);
  assert.equal(opts['grpc.enable_retries'], 1);
  assert.equal(opts['grpc.service_config_disable_resolution'], 1);
  // What the caller names explicitly is the caller's.
  const pf = JSON.parse(t.mergeServiceConfig({
    loadBalancingConfig: [{ pick_first: {} }],
    methodConfig: [{ name: [{ service: 'grpc.health.v1.Health', method: 'Check' }], timeout: '1s' }],
  }));
  assert.deepEqual(pf.loadBalancingConfig, [{ pick_first: {} }]);
  assert.deepEqual(pf.methodConfig, [{ name: [{ service: 'grpc.health.v1.Health', method: 'Check' }], timeout: '1s' }]);
  assert.equal(t.channelOptions()['grpc.service_config'], t.SERVICE_CONFIG);
  assert.throws(() => t.channelOptions({ 'grpc.service_config': '{' }), TypeError);
  assert.throws(() => t.mergeServiceConfig('[]'), TypeError);
});

test('runInTransaction re-runs ABORTED and txgate\'s own UNAVAILABLE, nothing else', () => {
  const { ABORTED, UNAVAILABLE, UNKNOWN, FAILED_PRECONDITION } = grpc.status;
  const e = (code, reason = '', domain = reason ? t.ERROR_DOMAIN : '') => new t.TxgateError(code, 'x', { reason, domain });
  for (const err of [e(ABORTED, 'MYSQL_ERROR'), e(ABORTED, 'TRANSACTION_LOST'), e(ABORTED, 'REPLAY_MISMATCH'),
    e(ABORTED), e(UNAVAILABLE, 'DATABASE_UNAVAILABLE')]) {
    assert.ok(t.rerunnable(err), err.message);
  }
  for (const err of [e(ABORTED, 'TRANSACTION_IDLE_TIMEOUT'), e(ABORTED, 'STREAM_WRITE_TIMEOUT'),
    e(ABORTED, 'TRANSACTION_NOT_COMMITTED'), e(UNAVAILABLE), e(UNKNOWN, 'COMMIT_OUTCOME_UNKNOWN'),
    e(FAILED_PRECONDITION, 'EXPECTATION_FAILED'), e(grpc.status.CANCELLED)]) {
    assert.ok(!t.rerunnable(err), err.message);
  }
  // A cut stream before its commit was sent rolled back: re-run; the
  // application's own cancel and txgate's CANCELLED (the client went away) not.
  const mine = new t.TxgateError(grpc.status.CANCELLED, 'x', { cancelledLocally: true });
  assert.ok(t.rerunnable(e(UNAVAILABLE), true));
  assert.ok(t.rerunnable(e(grpc.status.CANCELLED), true));
  for (const err of [mine, e(grpc.status.CANCELLED, 'CANCELLED'), e(UNKNOWN, 'COMMIT_OUTCOME_UNKNOWN'),
    e(grpc.status.DEADLINE_EXCEEDED), e(grpc.status.INTERNAL)]) {
    assert.ok(!t.rerunnable(err, true), err.message);
  }
});
