'use strict';
// Two txgate instances behind one target: the client's one merged service
// config (round_robin + the health-check retry policy, with a caller's own
// service config and options merged in) spreads calls over both and still
// retries. Starts its own txgates with tests/support/lib.sh's start_txgate;
// needs TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT and
// grpcurl on PATH (tests/clients/run.sh sets them).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const t = require('../lib');

const REPO = path.resolve(__dirname, '..', '..', '..');
const LOG_DIR = process.env.TXGATE_LOG_DIR || '/tmp';
const skip = process.env.TXGATE_BUILD_DIR && process.env.TXGATE_TEST_DB_DIR && process.env.TXGATE_TEST_MYSQL_PORT
  ? false : 'TXGATE_BUILD_DIR / TXGATE_TEST_DB_DIR / TXGATE_TEST_MYSQL_PORT not set (no txgate to start)';

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }).on('error', reject);
});

// A txgate-server on port, started by lib.sh's start_txgate (which waits for
// SERVING); the bash that started it waits for it, so its exit is the server's.
async function startTxgate(port) {
  const child = spawn('bash', ['-c',
    '. tests/support/lib.sh && start_txgate "$1" && echo ready && wait "$(cat "${TXGATE_LOG_DIR:-/tmp}/txgate-$1.pid")"',
    'bash', String(port)], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => /ready/.test(String(d)) && resolve());
    exited.then((code) => reject(new Error(`txgate on ${port} exited (${code}); see ${LOG_DIR}/txgate-${port}.log`)));
  });
  const pid = Number(fs.readFileSync(path.join(LOG_DIR, `txgate-${port}.pid`), 'utf8'));
  let stopped = false;
  return {
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.kill(pid, 'SIGTERM');
      await exited;
      fs.rmSync(path.join(LOG_DIR, `txgate-${port}.pid`), { force: true });
    },
    // The request ids of the Execute calls it logged (one "rpc" line each).
    executeIds() {
      return fs.readFileSync(path.join(LOG_DIR, `txgate-${port}.log`), 'utf8').split('\n').filter(Boolean)
        .map((l) => JSON.parse(l)).filter((l) => l.msg === 'rpc' && l.method === 'Execute').map((l) => l.request_id);
    },
  };
}

// A caller's own service config and options, which must not drop txgate's.
const CALLER_CONFIG = JSON.stringify({ methodConfig: [{ name: [{ service: 'txgate.v1.DatabaseService' }], timeout: '30s' }] });
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
const raw = (x) => x;
const SERVING = Buffer.from([0x08, 0x01]); // grpc.health.v1.HealthCheckResponse{status: SERVING}

test('two txgates behind one target: calls spread over both, the retry policy in force', { skip }, async (ctx) => {
  const servers = [await startTxgate(await freePort()), await startTxgate(await freePort())];
  // A third backend whose health checks all fail UNAVAILABLE.
  const fake = new grpc.Server();
  let fakeChecks = 0;
  fake.addService({
    Check: {
      path: HEALTH_CHECK, requestStream: false, responseStream: false,
      requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw,
    },
  }, {
    Check: (call, callback) => {
      fakeChecks++;
      callback({ code: grpc.status.UNAVAILABLE, details: 'fake backend: unavailable' });
    },
  });
  const fakePort = await new Promise((resolve, reject) => fake.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const target = `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  const seen = []; // x-request-id of every answer, via an interceptor of the caller's
  const interceptor = (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      next(metadata, {
        onReceiveMetadata(md, nextMd) {
          seen.push(String(md.get('x-request-id')[0]));
          nextMd(md);
        },
      });
    },
  });
  const db = new t.Client(target, {
    channelOptions: { 'grpc.service_config': CALLER_CONFIG, 'grpc.keepalive_time_ms': 20000, interceptors: [interceptor] },
  });
  const health = new grpc.Client(`${target},127.0.0.1:${fakePort}`, grpc.credentials.createInsecure(),
    t.channelOptions({ 'grpc.service_config': CALLER_CONFIG }));
  try {
    const N = 40;
    for (let i = 0; i < N; i++) assert.deepEqual((await db.execute('SELECT ? AS i', [i])).rows, [{ i }]);
    // Health checks round-robin over all three; each one the fake fails is
    // retried (the service config's policy) on a txgate, so every call succeeds.
    let calls = 0;
    while (fakeChecks < 3) {
      assert.ok(++calls <= 100, `the fake backend got ${fakeChecks} checks in 100 calls: no round_robin`);
      const answer = await new Promise((resolve, reject) => health.makeUnaryRequest(HEALTH_CHECK, raw, raw,
        Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r))));
      assert.deepEqual(answer, SERVING);
    }
    db.close();
    health.close();
    await Promise.all(servers.map((s) => s.stop())); // their logs are complete
    const served = servers.map((s) => s.executeIds().filter((id) => seen.includes(id)).length);
    assert.equal(seen.length, N);
    assert.equal(served[0] + served[1], N, `served ${served}`);
    // round_robin alternates once both are connected (at once: both are local).
    assert.ok(served.every((n) => n >= N / 4), `calls not spread: ${served}`);
    ctx.diagnostic(`Execute calls served: ${served}; health checks: ${calls}, ${fakeChecks} failed by the fake and retried`);
  } finally {
    db.close();
    health.close();
    fake.forceShutdown();
    for (const s of servers) await s.stop();
  }
});
