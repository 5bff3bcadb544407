'use strict';
// Read-your-writes tokens (README, "Reads on replicas") against a live txgate:
// the client keeps the latest write's causality token and sends it, with its
// routing, on every read, stream and read-only transaction; a recording stub
// (the generated one, wrapped) keeps every request that went out.
const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const t = require('../lib');

const addr = process.env.TXGATE_ADDR;
const skip = addr ? false : 'TXGATE_ADDR not set (no live txgate)';
const TOKEN = /^g1:\d+-\d+-\d+(,\d+-\d+-\d+)*$/;

// A client whose requests are recorded by an interceptor: [method, message].
function recorded(options = {}) {
  const sent = [];
  const interceptor = (opts, next) => new grpc.InterceptingCall(next(opts), {
    sendMessage(message, nxt) {
      sent.push([opts.method_definition.path.split('/').pop(), message]);
      nxt(message);
    },
  });
  const client = new t.Client(addr, { ...options, channelOptions: { interceptors: [interceptor] } });
  const last = (method) => sent.filter(([m]) => m === method).pop()?.[1];
  return { client, sent, last };
}

test('a write token is kept and sent with the next reads', { skip }, async () => {
  const { client: db, sent, last } = recorded();
  try {
    await db.execute('CREATE TABLE IF NOT EXISTS node_causal (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)');
    db.clearCausalityToken();
    await db.execute('SELECT 1');
    assert.equal(last('Execute').read.causality_token, '');
    await db.execute('INSERT INTO node_causal (v) VALUES (?)', [1]);
    const token = db.causalityToken;
    assert.match(token, TOKEN);
    await db.execute('SELECT COUNT(*) FROM node_causal');
    assert.equal(last('Execute').read.causality_token, token);
    await db.runTransaction(['SELECT 1'], { readOnly: true });
    assert.equal(last('RunTransaction').options.read.causality_token, token);
    for await (const row of db.streamQuery('SELECT v FROM node_causal')) void row;
    assert.equal(last('StreamQuery').read.causality_token, token);
    await db.transaction(async (tx) => { await tx.execute('SELECT 1'); }, { readOnly: true });
    const begin = sent.filter(([m, msg]) => m === 'Transaction' && msg.begin).pop()[1];
    assert.equal(begin.begin.options.read.causality_token, token);
    assert.equal(db.causalityToken, token); // reads leave it
  } finally {
    db.close();
  }
});

test('every kind of write moves the token on; a rollback leaves it', { skip }, async () => {
  const { client: db } = recorded();
  try {
    await db.execute('CREATE TABLE IF NOT EXISTS node_causal (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)');
    await db.execute('INSERT INTO node_causal (v) VALUES (2)');
    const first = db.causalityToken;
    await db.runTransaction([['INSERT INTO node_causal (v) VALUES (?)', [3]]]);
    const second = db.causalityToken;
    const tx = await db.begin();
    await tx.execute('INSERT INTO node_causal (v) VALUES (4)');
    await tx.commit();
    assert.match(tx.causalityToken, TOKEN);
    assert.equal(db.causalityToken, tx.causalityToken);
    const seq = [first, second, tx.causalityToken].map((k) => Number(k.split('-').pop()));
    assert.ok(seq[0] < seq[1] && seq[1] < seq[2], `${first} ${second} ${tx.causalityToken}`);
    const rolled = await db.begin();
    await rolled.execute('INSERT INTO node_causal (v) VALUES (5)');
    await rolled.rollback();
    assert.equal(db.causalityToken, tx.causalityToken);
  } finally {
    db.close();
  }
});

test('routing per client and per call', { skip }, async () => {
  const { client: db, last } = recorded({ routing: 'replica' });
  try {
    assert.equal(db.routing, 'READ_ROUTING_REPLICA');
    await db.execute('SELECT 1');
    assert.equal(last('Execute').read.routing, 'READ_ROUTING_REPLICA');
    await db.execute('SELECT 1', [], { routing: 'primary' });
    assert.equal(last('Execute').read.routing, 'READ_ROUTING_PRIMARY');
    await db.execute('SELECT 1', [], { routing: null });
    assert.equal(last('Execute').read.routing, 'READ_ROUTING_UNSPECIFIED');
    await assert.rejects(db.execute('SELECT 1', [], { routing: 'nearest' }), TypeError);
  } finally {
    db.close();
  }
  assert.throws(() => new t.Client(addr, { routing: 'nearest' }), TypeError);
});

test('a bad token is refused by txgate', { skip }, async () => {
  const { client: db } = recorded();
  try {
    db._observe('g1:0-1'); // not one txgate hands out
    await assert.rejects(db.execute('SELECT 1'), (e) => e.code === grpc.status.INVALID_ARGUMENT
      && e.reason === 'CAUSALITY_TOKEN_INVALID');
  } finally {
    db.close();
  }
});
