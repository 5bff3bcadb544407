'use strict';
// txgate errors: the gRPC status plus the google.rpc.ErrorInfo detail, read
// from the grpc-status-details-bin trailer (a google.rpc.Status).

const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');

const ERROR_DOMAIN = 'txgate.dev';
const REASON_COMMIT_OUTCOME_UNKNOWN = 'COMMIT_OUTCOME_UNKNOWN';
const REASON_EXPECTATION_FAILED = 'EXPECTATION_FAILED';

const root = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: { nested: { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } } },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
            ErrorInfo: {
              fields: {
                reason: { type: 'string', id: 1 },
                domain: { type: 'string', id: 2 },
                metadata: { keyType: 'string', type: 'string', id: 3 },
              },
            },
          },
        },
      },
    },
  },
});
const StatusType = root.lookupType('google.rpc.Status');
const ErrorInfoType = root.lookupType('google.rpc.ErrorInfo');

const codeNames = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

/**
 * A failed txgate call. code is the numeric gRPC code (grpc.status.*),
 * codeName its name; reason, domain and metadata come from the ErrorInfo
 * detail ('' and {} when there is none, e.g. a transport error); mysqlErrno
 * (number or null), mysqlSqlstate and mysqlMessage from its metadata;
 * idempotencyKey is the key the call carried, to retry with.
 */
class TxgateError extends Error {
  constructor(code, message, {
    reason = '', domain = '', metadata = {}, idempotencyKey = '', cancelledLocally = false,
  } = {}) {
    super(`${codeNames[code] || code}: ${message}${reason ? ` [${reason}]` : ''}`);
    this.name = 'TxgateError';
    this.code = code;
    this.codeName = codeNames[code] || String(code);
    this.details = message;
    this.reason = reason;
    this.domain = domain;
    this.metadata = metadata;
    this.idempotencyKey = idempotencyKey;
    // CANCELLED by this process (the application's AbortSignal, call.cancel()),
    // not by the server or the way.
    this.cancelledLocally = cancelledLocally;
    const errno = metadata.mysql_errno;
    this.mysqlErrno = errno && /^\d+$/.test(errno) ? Number(errno) : null;
    this.mysqlSqlstate = metadata.mysql_sqlstate ?? null;
    this.mysqlMessage = metadata.mysql_message ?? null;
  }

  /** True when the call may or may not have been applied (UNKNOWN). */
  get outcomeUnknown() {
    return this.code === grpc.status.UNKNOWN;
  }
}

/** UNKNOWN / COMMIT_OUTCOME_UNKNOWN: the write may or may not have been applied. */
class CommitOutcomeUnknown extends TxgateError {
  constructor(...args) {
    super(...args);
    this.name = 'CommitOutcomeUnknown';
  }
}

/**
 * FAILED_PRECONDITION / EXPECTATION_FAILED: a statement's result missed its
 * expectation. The whole transaction was rolled back and its idempotency key
 * was not used up (a later call with the same key runs again). statementIndex
 * is the statement's 1-based index, expectation the failed condition (e.g.
 * 'min_affected_rows'), expected and actual its value and the result's (bigints).
 */
class ExpectationFailed extends TxgateError {
  constructor(...args) {
    super(...args);
    this.name = 'ExpectationFailed';
  }

  get statementIndex() {
    return Number(this.metadata.statement_index || 0);
  }

  get expectation() {
    return this.metadata.expectation || '';
  }

  get expected() {
    return BigInt(this.metadata.expected || 0);
  }

  get actual() {
    return BigInt(this.metadata.actual || 0);
  }
}

const ERROR_CLASSES = {
  [REASON_COMMIT_OUTCOME_UNKNOWN]: CommitOutcomeUnknown,
  [REASON_EXPECTATION_FAILED]: ExpectationFailed,
};

/** Converts a grpc-js ServiceError into a TxgateError. */
function fromServiceError(err, idempotencyKey = '') {
  if (err instanceof TxgateError) return err;
  const code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
  let info = null;
  const bin = err.metadata && err.metadata.get('grpc-status-details-bin');
  if (bin && bin.length) {
    try {
      const st = StatusType.decode(bin[0]);
      const any = st.details.find((d) => d.type_url.endsWith('/google.rpc.ErrorInfo'));
      if (any) info = ErrorInfoType.toObject(ErrorInfoType.decode(any.value), { defaults: true });
    } catch (e) {
      info = null; // a malformed detail: keep the plain status
    }
  }
  // grpc-js (src/call.ts) cancels a call of this process with these details.
  const cancelledLocally = code === grpc.status.CANCELLED && err.details === 'Cancelled on client';
  const opts = { idempotencyKey, cancelledLocally, ...(info && { reason: info.reason, domain: info.domain, metadata: info.metadata }) };
  const Cls = ERROR_CLASSES[opts.reason] || TxgateError;
  return new Cls(code, err.details ?? err.message, opts);
}

module.exports = {
  ERROR_DOMAIN,
  REASON_COMMIT_OUTCOME_UNKNOWN,
  REASON_EXPECTATION_FAILED,
  TxgateError,
  CommitOutcomeUnknown,
  ExpectationFailed,
  fromServiceError,
  StatusType,
  ErrorInfoType,
};
