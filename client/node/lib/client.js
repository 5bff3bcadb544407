'use strict';
// A thin client for txgate.v1.DatabaseService over @grpc/grpc-js.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const { ERROR_DOMAIN, REASON_COMMIT_OUTCOME_UNKNOWN, TxgateError, fromServiceError } = require('./errors');
const { Json, decodeOptions, fromValue, integer, rowObject, toValue, rowValues } = require('./values');

const PROTO_DIR = path.join(__dirname, '..', 'proto');

// proto/txgate/v1/service_config.json: round_robin over every address the
// target resolves to, and a retry policy for health checks only (gRPC's retry
// policy cannot see whether a request carries an idempotency key); execute
// and runTransaction retry in code (client/README.md, "Retries: who retries
// what").
const SERVICE_CONFIG = fs.readFileSync(path.join(PROTO_DIR, 'txgate/v1/service_config.json'), 'utf8');

const methodKey = (n) => `${n.service || ''}/${n.method || ''}`;

/**
 * One service config: txgate's (SERVICE_CONFIG) with a caller's merged in.
 * The caller's top-level fields (loadBalancingConfig, retryThrottling, ...)
 * replace txgate's only where the caller gives them; its methodConfig
 * entries are added, and a method name both configure is the caller's, so
 * txgate's retry policy stays for every method the caller does not name.
 * Returns the JSON text; throws TypeError if extra is not a JSON object.
 */
function mergeServiceConfig(extra) {
  const base = JSON.parse(SERVICE_CONFIG);
  if (extra === undefined || extra === null) return SERVICE_CONFIG;
  let theirs;
  try {
    theirs = typeof extra === 'string' ? JSON.parse(extra) : extra;
  } catch (e) {
    throw new TypeError(`grpc.service_config is not JSON: ${e.message}`);
  }
  if (typeof theirs !== 'object' || Array.isArray(theirs)) throw new TypeError('grpc.service_config is not a JSON object');
  const { methodConfig = [], ...top } = theirs;
  const named = new Set(methodConfig.flatMap((m) => (m.name || []).map(methodKey)));
  const kept = (base.methodConfig || []).map((m) => ({ ...m, name: (m.name || []).filter((n) => !named.has(methodKey(n))) }))
    .filter((m) => m.name.length);
  return JSON.stringify({ ...base, ...top, methodConfig: [...kept, ...methodConfig] });
}

const packageDefinition = protoLoader.loadSync('txgate/v1/database.proto', {
  includeDirs: [PROTO_DIR],
  keepCase: true, // field names as in the proto
  longs: String, // 64-bit integers as decimal strings: no precision lost
  enums: String,
  bytes: Buffer,
  defaults: false,
  oneofs: true, // a `kind` / `action` / `outcome` property names the set field
});
const txgatev1 = grpc.loadPackageDefinition(packageDefinition).txgate.v1;

/**
 * grpc-js channel options carrying txgate's service config (round_robin and
 * the health-check retry policy) as ONE config: a 'grpc.service_config' in
 * extra is merged into it (mergeServiceConfig), never swapped for it. Retries
 * stay enabled unless extra sets 'grpc.enable_retries' to 0, and a service
 * config from DNS TXT records is not looked up (it would replace this one
 * whole) unless extra sets 'grpc.service_config_disable_resolution' to 0.
 * Other extra options are passed as given.
 */
function channelOptions(extra = {}) {
  return {
    'grpc.enable_retries': 1,
    'grpc.service_config_disable_resolution': 1,
    ...extra,
    'grpc.service_config': mergeServiceConfig(extra['grpc.service_config']),
  };
}

function isolationLevel(level) {
  if (level === undefined || level === null) return 'ISOLATION_LEVEL_UNSPECIFIED';
  let name = String(level).toUpperCase().replace(/[ -]/g, '_');
  if (!name.startsWith('ISOLATION_LEVEL_')) name = `ISOLATION_LEVEL_${name}`;
  return name;
}

// read: the read options a read-only transaction carries (ignored otherwise).
function txOptions({ isolation, readOnly = false, read = null } = {}) {
  const options = { isolation_level: isolationLevel(isolation), read_only: Boolean(readOnly) };
  if (readOnly && read) options.read = read;
  return options;
}

// 'primary', 'replica' or null/undefined (txgate's --read_routing) as a
// txgate.v1.ReadRouting name.
function readRouting(routing) {
  if (routing === null || routing === undefined) return 'READ_ROUTING_UNSPECIFIED';
  const names = { primary: 'READ_ROUTING_PRIMARY', replica: 'READ_ROUTING_REPLICA' };
  const name = names[String(routing).toLowerCase()];
  if (!name) throw new TypeError(`routing: 'primary', 'replica' or null, not ${routing}`);
  return name;
}

// The conditions of a txgate.v1.Expectation, by their option names.
const EXPECTATION_FIELDS = {
  affectedRows: 'affected_rows',
  minAffectedRows: 'min_affected_rows',
  maxAffectedRows: 'max_affected_rows',
  rows: 'rows',
  minRows: 'min_rows',
  maxRows: 'max_rows',
};

/**
 * A txgate.v1.Expectation from { affectedRows, minAffectedRows,
 * maxAffectedRows, rows, minRows, maxRows } (numbers or bigints; each one
 * given is a condition, 0 included; they combine with AND). affected rows
 * count the rows an UPDATE matched, changed or not (CLIENT_FOUND_ROWS);
 * rows are the rows returned (minRows: 1 means "returns a row"). Undefined
 * for no expectation.
 */
function expectation(expect) {
  if (expect === undefined || expect === null) return undefined;
  const out = {};
  for (const [key, value] of Object.entries(expect)) {
    const field = EXPECTATION_FIELDS[key];
    if (!field) throw new TypeError(`unknown expectation ${key}; one of ${Object.keys(EXPECTATION_FIELDS).join(', ')}`);
    if (value === undefined || value === null) continue;
    out[field] = BigInt(value).toString();
  }
  return out;
}

// A statement: 'SQL', ['SQL', [params], { expect }] or { sql, params, expect },
// where expect is as for expectation(). An unmet expectation rolls the whole
// transaction back and rejects with ExpectationFailed.
function statement(s) {
  if (typeof s === 'string') return { sql: s, params: [] };
  const [sql, params = [], { expect } = {}] = Array.isArray(s) ? s : [s.sql, s.params, s];
  const out = { sql, params: params.map(toValue) };
  const e = expectation(expect);
  if (e) out.expect = e;
  return out;
}

/**
 * The result of one statement, with values converted by fromValue(v, decode):
 * rows keyed by column name, rowsAsArrays the same rows as arrays in column
 * order; integers (affectedRows, lastInsertId) as decode.integers says.
 */
function result(rs = {}, decode = decodeOptions()) {
  const columnNames = (rs.columns || []).map((c) => c.name);
  const rowsAsArrays = (rs.rows || []).map((r) => rowValues(r, decode));
  return {
    columns: rs.columns || [],
    columnNames,
    rows: rowsAsArrays.map((values) => rowObject(columnNames, values)),
    rowsAsArrays,
    affectedRows: integer(rs.affected_rows || '0', decode.integers),
    lastInsertId: integer(rs.last_insert_id || '0', decode.integers),
    warningCount: rs.warning_count || 0,
  };
}

/**
 * Whether a runInTransaction attempt that failed with err may be run again
 * whole: when nothing of it can have been committed and a re-run may pass.
 * - ABORTED (a deadlock 1213, a lock wait timeout 1205, TRANSACTION_LOST,
 *   REPLAY_MISMATCH: txgate rolled the transaction back), except the reasons
 *   the client itself caused (it paused past an idle timeout, stopped
 *   reading, closed without commit);
 * - txgate's own UNAVAILABLE (its ErrorInfo: nothing was applied);
 * - beforeCommit (the error ended the attempt's own Transaction stream before
 *   its commit was sent): a transport UNAVAILABLE (a cut connection, a
 *   txgate that went away) or a CANCELLED that neither txgate nor this
 *   process caused: a stream that ends uncommitted is rolled back.
 * Never an error during or after the commit otherwise (UNKNOWN / a lost
 * answer: the commit may have applied), nor any other error.
 */
const NOT_RERUN_ABORTED = new Set(['TRANSACTION_IDLE_TIMEOUT', 'STREAM_WRITE_TIMEOUT', 'TRANSACTION_NOT_COMMITTED']);
function rerunnable(err, beforeCommit = false) {
  if (err.code === grpc.status.ABORTED) return !NOT_RERUN_ABORTED.has(err.reason);
  if (err.code === grpc.status.UNAVAILABLE && err.domain === ERROR_DOMAIN) return true;
  if (!beforeCommit || err.domain === ERROR_DOMAIN) return false;
  return err.code === grpc.status.UNAVAILABLE || (err.code === grpc.status.CANCELLED && !err.cancelledLocally);
}

// fn's value once tx is committed (by fn, or here if fn left it open); the
// error that failed tx if fn swallowed it.
async function runAndCommit(tx, fn) {
  const value = await fn();
  if (tx.state === 'open') await tx.commit();
  if (tx.state === 'failed') throw tx.error;
  return value;
}

// The Transaction whose stream an error ended (set by Transaction).
const STREAM_OF = Symbol('txgate.transaction');
const fromStream = (err, tx) => Object.defineProperty(err, STREAM_OF, { value: tx, configurable: true });

/**
 * Whether a request that failed with err (a TxgateError) may be sent again.
 * safe: the request is safe to repeat whatever happened to it (it carries an
 * idempotency key, or it is a read-only transaction). txgate's own
 * UNAVAILABLE (its ErrorInfo, domain txgate.dev) says nothing of the call was
 * applied: any request may be re-sent. An UNAVAILABLE without it comes from
 * the transport (a cut connection, a proxy): the request may have been
 * applied with its answer lost, so only a safe one is re-sent; so is an
 * UNKNOWN with reason COMMIT_OUTCOME_UNKNOWN (a lost commit, which the key
 * resolves), and a CANCELLED without txgate's ErrorInfo that this process did
 * not cause (err.cancelledLocally false): gRPC's server cancels a call it
 * accepted as a drain starts, before txgate saw it (README, "Shutdown").
 * Nothing else is retried; a call the application cancelled (its signal)
 * never is.
 */
function retryable(err, safe) {
  if (err.code === grpc.status.UNAVAILABLE && err.domain === ERROR_DOMAIN) return true;
  if (!safe) return false;
  return err.code === grpc.status.UNAVAILABLE ||
    (err.code === grpc.status.UNKNOWN && err.reason === REASON_COMMIT_OUTCOME_UNKNOWN) ||
    (err.code === grpc.status.CANCELLED && err.domain !== ERROR_DOMAIN && !err.cancelledLocally);
}

const deadlineOf = (ms) => (ms === null || ms === undefined ? Infinity : Date.now() + ms);
// Resolves after ms, or as soon as signal (an AbortSignal, optional) aborts.
const sleep = (ms, signal) => new Promise((resolve) => {
  const onAbort = () => { clearTimeout(timer); resolve(); };
  const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});

class Client {
  /**
   * Dials target (insecure unless options.credentials) with the one merged
   * service config (channelOptions()): 'host:port', or every instance, e.g.
   * 'ipv4:10.0.0.1:50051,10.0.0.2:50051' or 'dns:///txgate-headless:50051',
   * for round_robin over them.
   * options: integers ('auto': number when |n| <= 2^53 - 1, else bigint;
   * 'bigint'), datetimes ('date': PreciseDate; 'fields': DateTime), as in
   * values.js; credentials, channelOptions (extra grpc-js options, merged),
   * defaultTimeoutMs (unary calls without a timeout; default 30000),
   * stub (anything with DatabaseService's methods, e.g. a fake in tests),
   * routing ('primary' or 'replica': where reads may run by default; unset:
   * txgate's --read_routing; each read call may say otherwise).
   *
   * Read-your-writes: the client keeps the causality token of the latest
   * write it saw (causalityToken) and sends it with every read, stream and
   * read-only transaction, so they see its writes also on a replica
   * (README, "Reads on replicas").
   */
  constructor(target, options = {}) {
    this.decode = decodeOptions(options);
    this.routing = readRouting(options.routing);
    this._causalityToken = '';
    this.stub = options.stub || new txgatev1.DatabaseService(target,
      options.credentials || grpc.credentials.createInsecure(), channelOptions(options.channelOptions));
    this.defaultTimeoutMs = options.defaultTimeoutMs === undefined ? 30000 : options.defaultTimeoutMs;
    // Interactive transactions not yet ended, for close().
    this._transactions = new Set();
  }

  /**
   * Closes the channel. A transaction still open is cancelled first (its
   * stream ends: txgate rolls it back and frees its locks at once, and the
   * process can exit); its pending and later statements reject with
   * CANCELLED. A commit already sent is left to finish. Other calls in
   * flight finish as grpc-js lets them.
   */
  /** The causality token of the latest write this client saw ('' before any). */
  get causalityToken() {
    return this._causalityToken;
  }

  /** Forgets the token: the next reads carry none. */
  clearCausalityToken() {
    this._causalityToken = '';
  }

  // Keeps a write response's token ('' is ignored).
  _observe(token) {
    if (token) this._causalityToken = token;
  }

  // What a read sends: its routing (the client's when undefined) and the
  // latest write's token.
  _read(routing) {
    return {
      routing: routing === undefined ? this.routing : readRouting(routing),
      causality_token: this._causalityToken,
    };
  }

  close() {
    for (const tx of this._transactions) tx._abort('the client was closed');
    if (typeof this.stub.close === 'function') this.stub.close();
  }

  // One call; an abort of signal cancels it (CANCELLED, cancelledLocally).
  _unary(method, request, deadline, signal) {
    return new Promise((resolve, reject) => {
      const onAbort = () => call?.cancel?.();
      const call = this.stub[method](request, { deadline }, (err, resp) => {
        signal?.removeEventListener('abort', onAbort);
        return err ? reject(err) : resolve(resp);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Calls method(request) until it succeeds or retryable() says no, with
   * exponential backoff and jitter, all within timeoutMs (null: no bound).
   * Resolves to [response, calls]; rejects with the last TxgateError. Once
   * signal (an AbortSignal, optional) aborts, the call in flight is cancelled
   * and nothing more is sent.
   */
  async _withRetries(method, request, key, safe, {
    timeoutMs, initialBackoffMs = 50, maxBackoffMs = 2000, signal,
  }) {
    const aborted = () => new TxgateError(grpc.status.CANCELLED, `${method}: cancelled by the application`,
      { idempotencyKey: key, cancelledLocally: true });
    const deadline = deadlineOf(timeoutMs);
    let backoff = initialBackoffMs;
    let lastErr = null;
    for (let calls = 1; ; calls++) {
      let err;
      // A pause that overslept the deadline ends with the last real answer.
      if (lastErr && Date.now() >= deadline) throw lastErr;
      try {
        if (Date.now() >= deadline) {
          throw new TxgateError(grpc.status.DEADLINE_EXCEEDED, `${method}: deadline passed`, { idempotencyKey: key });
        }
        if (signal?.aborted) throw aborted();
        return [await this._unary(method, request, deadline, signal), calls];
      } catch (e) {
        err = fromServiceError(e, key);
      }
      // The application's cancel is final, whatever the error says.
      if (signal?.aborted) {
        if (err.code === grpc.status.CANCELLED) err.cancelledLocally = true;
        throw err;
      }
      const pause = backoff / 2 + Math.random() * (backoff / 2);
      if (!retryable(err, safe) || Date.now() + pause >= deadline) throw err;
      lastErr = err;
      await sleep(pause, signal);
      if (signal?.aborted) throw aborted();
      backoff = Math.min(backoff * 2, maxBackoffMs);
    }
  }

  /**
   * Runs one statement in autocommit mode, exactly once. A fresh idempotency
   * key (UUIDv4) names the call unless idempotencyKey is given ('' sends
   * none); every attempt carries it, so a write whose answer was lost
   * (UNAVAILABLE from a cut connection, UNKNOWN / COMMIT_OUTCOME_UNKNOWN) is
   * re-sent safely: txgate answers a re-sent write that did apply with its
   * stored answer (affectedRows, lastInsertId, ...) instead of running it
   * again. txgate ignores the key of a plain read. Without a key only
   * txgate's own UNAVAILABLE (nothing applied) is retried. Retries back off
   * with jitter within timeoutMs overall. signal (an AbortSignal) cancels
   * the call in flight and ends the retries (CANCELLED, cancelledLocally).
   * The result also holds calls and idempotencyKey. The request carries the
   * client's read options (routing, default the client's; the latest
   * write's causality token): txgate follows them for a read and ignores
   * them for a write, whose token the client keeps.
   */
  async execute(sql, params = [], {
    idempotencyKey, timeoutMs = this.defaultTimeoutMs, initialBackoffMs = 50, maxBackoffMs = 2000, signal,
    routing,
  } = {}) {
    const key = idempotencyKey ?? crypto.randomUUID();
    const request = { sql, params: params.map(toValue), idempotency_key: key, read: this._read(routing) };
    const [resp, calls] = await this._withRetries('Execute', request, key, key !== '',
      { timeoutMs, initialBackoffMs, maxBackoffMs, signal });
    this._observe(resp.causality_token);
    return { ...result(resp.result, this.decode), calls, idempotencyKey: key };
  }

  /**
   * Runs the statements as one transaction, all or nothing, exactly once.
   * A fresh idempotency key (UUIDv4) names this logical transaction unless
   * one is given (none for readOnly: re-running those is harmless); every
   * call carries it, so UNAVAILABLE and UNKNOWN are retried safely, with
   * exponential backoff and jitter, within timeoutMs overall (retryable()).
   * signal (an AbortSignal) cancels the call in flight and ends the retries.
   * Resolves to { results, attempts, calls, idempotencyKey }.
   */
  async runTransaction(statements, {
    isolation, readOnly = false, idempotencyKey, timeoutMs = 30000, initialBackoffMs = 50, maxBackoffMs = 2000,
    signal, routing,
  } = {}) {
    const key = idempotencyKey ?? (readOnly ? '' : crypto.randomUUID());
    const request = {
      statements: statements.map(statement),
      options: txOptions({ isolation, readOnly, read: this._read(routing) }),
      idempotency_key: key,
    };
    const [resp, calls] = await this._withRetries('RunTransaction', request, key, key !== '' || readOnly,
      { timeoutMs, initialBackoffMs, maxBackoffMs, signal });
    this._observe(resp.causality_token);
    return {
      results: (resp.results || []).map((r) => result(r, this.decode)), attempts: resp.attempts || 0, calls, idempotencyKey: key,
    };
  }

  /**
   * Streams the rows of one query, each keyed by column name (rowMode
   * 'array': arrays in column order):
   *   const rows = db.streamQuery('SELECT * FROM big', [], { maxRowsPerChunk: 500 });
   *   for await (const row of rows) { ... }   // rows.columns, rows.chunks
   */
  streamQuery(sql, params = [], {
    maxRowsPerChunk = 0, timeoutMs = null, rowMode = 'object', routing,
  } = {}) {
    if (rowMode !== 'object' && rowMode !== 'array') throw new TypeError(`rowMode: 'object' or 'array', not ${rowMode}`);
    // Rows larger than one message come split (chunked values); the
    // RowStream joins them, so every row arrives whole.
    const call = this.stub.StreamQuery({
      sql, params: params.map(toValue), max_rows_per_chunk: maxRowsPerChunk, accept_chunked_values: true,
      read: this._read(routing),
    }, { deadline: deadlineOf(timeoutMs) });
    return new RowStream(call, this.decode, rowMode);
  }

  /**
   * Begins an interactive transaction; resolves to a Transaction. A
   * read-only one carries the client's read options (routing, the latest
   * write's token); a writing one's commit token is kept.
   */
  async begin({ isolation, readOnly = false, timeoutMs = null, routing } = {}) {
    const read = this._read(routing);
    const call = this.stub.Transaction({ deadline: deadlineOf(timeoutMs) });
    const tx = new Transaction(call, readOnly, this.decode);
    this._transactions.add(tx);
    tx._onEnd = () => this._transactions.delete(tx);
    tx._onToken = (token) => this._observe(token);
    await tx._exchange({ begin: { options: txOptions({ isolation, readOnly, read }) } }, 'begun');
    tx.state = 'open';
    return tx;
  }

  /**
   * Runs fn(tx) in an interactive transaction: commits when the promise it
   * returns resolves, rolls back when it rejects. If fn resolves although the
   * transaction failed (it caught a statement's error), that error is thrown:
   * nothing was committed. fn may commit or roll back itself.
   */
  async transaction(fn, options = {}) {
    const tx = await this.begin(options);
    try {
      return await runAndCommit(tx, () => fn(tx));
    } finally {
      await tx.close();
    }
  }

  /**
   * Runs fn(tx, attempt) in an interactive transaction and commits, like
   * transaction(), but runs the whole of fn again in a new transaction when an
   * attempt ends in a way that committed nothing and may pass on a re-run
   * (rerunnable(): ABORTED — a deadlock 1213, a lock wait timeout 1205, a
   * lost transaction —, txgate's own UNAVAILABLE, or a cut connection before
   * the commit was sent), as Spanner's clients do. fn must therefore be safe to run more than once: its effects outside
   * the transaction are repeated. attempt counts from 1. The decision is on
   * the transaction's own first failure (tx.error) when it has one: if fn
   * caught a deadlock and then resolved, or threw an error of its own, fn is
   * still run again (every later statement of a failed transaction rejects
   * with its error again).
   *
   * Bounded: at most maxAttempts attempts (default 10), none begun after
   * timeoutMs (default 60000) from the call, with exponential backoff and
   * jitter between them (initialBackoffMs 50 doubling to maxBackoffMs 2000).
   * The last error is thrown, with .attempts set; so is any other error at
   * once (an ExpectationFailed, a constraint, a COMMIT whose outcome is
   * unknown: never re-run). signal (an AbortSignal): if it has already
   * aborted, rejects at once with its reason and fn never runs; an abort
   * during an attempt cancels the attempt's stream (txgate rolls it back;
   * fn's pending statement rejects with CANCELLED) and rejects with the
   * signal's reason, as does an abort between attempts — unless the commit
   * was already sent, whose answer is then kept.
   * onRetry(error, attempt), if given, is called with each error that is
   * followed by a re-run (to log or count them).
   * Each attempt's stream has a deadline: the overall one, or attemptTimeoutMs
   * from its start if sooner. isolation and readOnly are begin()'s. Resolves
   * to fn's value.
   */
  async runInTransaction(fn, {
    isolation, readOnly = false, maxAttempts = 10, timeoutMs = 60000, attemptTimeoutMs = null,
    initialBackoffMs = 50, maxBackoffMs = 2000, signal, onRetry, routing,
  } = {}) {
    signal?.throwIfAborted(); // fn never runs once the signal has aborted
    const deadline = deadlineOf(timeoutMs);
    let backoff = initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      let tx = null;
      let err;
      // An abort cancels the attempt's stream (txgate rolls it back) and
      // rejects at once, whatever fn awaits (its pending statement rejects
      // with CANCELLED) — unless the commit was sent: its answer is awaited.
      let onAbort;
      const aborted = new Promise((resolve, reject) => {
        onAbort = () => {
          if (tx?.commitSent) return;
          tx?._abort('its signal aborted');
          reject(signal.reason);
        };
      });
      aborted.catch(() => {}); // raced below
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        // Each attempt's stream ends by the overall deadline at the latest.
        const left = deadline === Infinity ? null : Math.max(0, deadline - Date.now());
        const perAttempt = attemptTimeoutMs === null ? left : Math.min(attemptTimeoutMs, left ?? Infinity);
        tx = await this.begin({ isolation, readOnly, timeoutMs: perAttempt, routing });
        signal?.throwIfAborted(); // aborted while beginning: rolled back below
        const work = runAndCommit(tx, () => fn(tx, attempt));
        work.catch(() => {}); // fn may go on after an abort; its end is not awaited then
        return await (signal ? Promise.race([work, aborted]) : work);
      } catch (e) {
        // Decided on the transaction's own first failure, whatever fn did
        // with it (caught it and went on, threw something else): a
        // swallowed deadlock still re-runs fn.
        err = tx?.error && rerunnable(tx.error, !tx.commitSent) ? tx.error : e;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (tx) await tx.close();
      }
      // The abort is the answer, unless a commit was sent: its own error
      // (an outcome unknown) must not be hidden.
      if (signal?.aborted && !tx?.commitSent) throw signal.reason;
      if (!(err instanceof TxgateError)) throw err;
      err.attempts = attempt;
      // An error of this attempt's own stream (begin's included), from before its commit was sent.
      const stream = err[STREAM_OF];
      const beforeCommit = Boolean(stream) && (stream === tx || tx === null) && !stream.commitSent;
      const pause = backoff / 2 + Math.random() * (backoff / 2);
      if (!rerunnable(err, beforeCommit) || attempt >= maxAttempts || Date.now() + pause >= deadline ||
        signal?.aborted) {
        throw err;
      }
      onRetry?.(err, attempt);
      await sleep(pause, signal);
      signal?.throwIfAborted();
      backoff = Math.min(backoff * 2, maxBackoffMs);
    }
  }
}

/** The rows of a StreamQuery: an async iterable of row arrays. */
class RowStream {
  constructor(call, decode = decodeOptions(), rowMode = 'object') {
    this._call = call;
    this._decode = decode;
    this._rowMode = rowMode;
    this.columns = [];
    this.columnNames = [];
    this.chunks = 0;
    this.warningCount = 0;
    this.done = false;
    // A row split across chunks (StreamQueryResponse.chunked_value): its
    // complete values, and the pieces of its last value so far.
    this._cells = [];
    this._pieces = null;
    this._kind = '';
  }

  _joined() {
    const pieces = this._pieces;
    this._pieces = null;
    if (this._kind === 'bytes_value') return Buffer.concat(pieces);
    const text = pieces.join('');
    return this._kind === 'json_value' ? new Json(text) : text;
  }

  /** The rows that end in `chunk`, joining the pieces of split values. */
  * _rows(chunk) {
    const rows = chunk.rows || [];
    const kindOf = (v) => v.kind || Object.keys(v).find((k) => k.endsWith('_value'));
    for (let i = 0; i < rows.length; i++) {
      const vals = rows[i].values || [];
      const cut = Boolean(chunk.chunked_value) && i === rows.length - 1;
      let first = 0;
      let cells = [];
      if (i === 0 && this._pieces !== null) {
        if (!vals.length || kindOf(vals[0]) !== this._kind) {
          throw new TxgateError(grpc.status.INTERNAL, "a chunked value's next piece is missing or of another kind");
        }
        this._pieces.push(vals[0][this._kind]);
        if (cut && vals.length === 1) continue; // the value goes on in the next chunk
        cells = this._cells;
        cells.push(this._joined());
        first = 1;
      }
      for (let j = first; j < vals.length; j++) {
        if (cut && j === vals.length - 1) {
          this._kind = kindOf(vals[j]);
          if (!['string_value', 'bytes_value', 'json_value'].includes(this._kind)) {
            throw new TxgateError(grpc.status.INTERNAL, `a chunked value of kind ${this._kind}`);
          }
          this._pieces = [vals[j][this._kind]];
          this._cells = cells;
        } else {
          cells.push(fromValue(vals[j], this._decode));
        }
      }
      if (!cut) yield this._rowMode === 'array' ? cells : rowObject(this.columnNames, cells);
    }
  }

  async* [Symbol.asyncIterator]() {
    try {
      for await (const chunk of this._call) {
        this.chunks++;
        if (chunk.columns && chunk.columns.length) {
          this.columns = chunk.columns;
          this.columnNames = chunk.columns.map((c) => c.name);
        }
        yield* this._rows(chunk);
        if (chunk.done) {
          if (this._pieces !== null) {
            throw new TxgateError(grpc.status.INTERNAL, 'the stream ended inside a chunked value');
          }
          this.done = true;
          this.warningCount = chunk.warning_count || 0;
        }
      }
    } catch (e) {
      throw fromServiceError(e);
    } finally {
      if (!this.done) this.cancel();
    }
  }

  /** Stops the query (the server kills the statement). */
  cancel() {
    this._call.cancel();
  }
}

/** An interactive transaction: the bidi stream is the transaction. */
class Transaction {
  constructor(call, readOnly, decode = decodeOptions()) {
    this._call = call;
    this._readOnly = readOnly;
    this._decode = decode;
    /** True once commit() has sent the commit: from then on an error may hide a commit. */
    this.commitSent = false;
    /** The commit's causality token ('' before it, or when nothing was written). */
    this.causalityToken = '';
    /** The error that ended the transaction as 'failed' (null otherwise). */
    this.error = null;
    this._items = [];
    this._waiters = [];
    this._error = null;
    this._ended = false;
    this.state = 'beginning';
    call.on('data', (response) => this._push({ response }));
    call.on('error', (error) => {
      this._error = error;
      this._push({ error });
    });
    call.on('end', () => {
      this._ended = true;
      this._push({ end: true });
    });
  }

  _push(item) {
    const waiter = this._waiters.shift();
    if (waiter) waiter(item);
    else this._items.push(item);
  }

  _next() {
    if (this._items.length) return Promise.resolve(this._items.shift());
    if (this._error) return Promise.resolve({ error: this._error });
    if (this._ended) return Promise.resolve({ end: true });
    return new Promise((resolve) => this._waiters.push(resolve));
  }

  // Ends the transaction as failed with err (the error that ended it, kept as .error).
  _fail(err = null) {
    this.state = 'failed';
    this.error = this.error ?? err;
    this._call.cancel();
    this._onEnd?.();
  }

  // Throws unless a request may be sent: once the transaction failed, the
  // error that failed it (the same TxgateError: code, reason, MySQL errno),
  // so code that caught a statement's error sees it again on every later
  // statement and on commit, as Spanner's clients raise ABORTED again.
  _checkOpen() {
    if (this.state === 'failed' && this.error) throw this.error;
    if (this.state !== 'beginning' && this.state !== 'open') {
      throw new TxgateError(grpc.status.FAILED_PRECONDITION, `the transaction is ${this.state}`);
    }
  }

  async _exchange(request, expect) {
    this._checkOpen();
    this._call.write(request);
    const item = await this._next();
    let err = null;
    if (item.error) err = fromStream(fromServiceError(item.error), this);
    else if (item.end) err = new TxgateError(grpc.status.INTERNAL, 'the Transaction stream ended early');
    else if (item.response.outcome !== expect) {
      err = new TxgateError(grpc.status.INTERNAL, `expected ${expect}, got ${item.response.outcome}`);
    }
    if (err) {
      this._fail(err);
      throw err;
    }
    return item.response;
  }

  // Cancels the stream (txgate rolls the transaction back) unless it has
  // ended or its commit was sent; the transaction fails.
  _abort(why) {
    if (this.commitSent || (this.state !== 'beginning' && this.state !== 'open')) return;
    this._fail(new TxgateError(grpc.status.CANCELLED, `the transaction was cancelled: ${why}`, { cancelledLocally: true }));
  }

  // Half-closes the stream and waits for its final status.
  async _finish(state) {
    this.state = state;
    this._onEnd?.();
    this._call.end();
    for (;;) {
      const item = await this._next();
      if (item.error) throw fromStream(fromServiceError(item.error), this);
      if (item.end) return;
    }
  }

  /**
   * Runs one statement inside the transaction. options.expect is an
   * expectation on its result (see expectation()), e.g. { minAffectedRows: 1 };
   * an unmet one ends the transaction, rolled back, and rejects with
   * ExpectationFailed.
   */
  async execute(sql, params = [], { expect } = {}) {
    const resp = await this._exchange({ statement: statement([sql, params, { expect }]) }, 'result');
    return result(resp.result, this._decode);
  }

  /**
   * Commits; resolves to the idempotency key the commit carried (a UUIDv4
   * unless given; none for a read-only transaction), which lets txgate
   * resolve a commit whose outcome was lost instead of answering UNKNOWN.
   */
  async commit(idempotencyKey) {
    const key = idempotencyKey ?? (this._readOnly ? '' : crypto.randomUUID());
    this._checkOpen(); // a failed transaction sends no commit
    this.commitSent = true;
    let resp;
    try {
      resp = await this._exchange({ commit: { idempotency_key: key } }, 'committed');
    } catch (e) {
      e.idempotencyKey = key;
      throw e;
    }
    this.causalityToken = resp.committed?.causality_token || '';
    this._onToken?.(this.causalityToken);
    await this._finish('committed');
    return key;
  }

  /** Rolls back; a no-op once the transaction has ended. */
  async rollback() {
    if (this.state !== 'open') return;
    await this._exchange({ rollback: {} }, 'rolled_back');
    await this._finish('rolled back');
  }

  /** Rolls back if still open; cancels the stream if that fails. */
  async close() {
    if (this.state === 'open') {
      try {
        await this.rollback();
      } catch (e) {
        this._fail();
      }
    }
    if (this.state === 'failed' || this.state === 'beginning') this._call.cancel();
  }
}

module.exports = {
  Client, RowStream, Transaction, SERVICE_CONFIG, channelOptions, mergeServiceConfig, expectation, retryable,
  rerunnable, txgatev1, packageDefinition,
};
