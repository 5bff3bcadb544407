// Type declarations for @txgate/client (hand-written; checked by `tsc --noEmit`
// on typecheck/example.ts in tests/clients/run.sh). They describe lib/*.js:
// keep both in step.

import type { ChannelCredentials, ClientOptions, GrpcObject, ServiceError } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Type } from 'protobufjs';

// ---------------------------------------------------------------- values

/** -(2^63): the smallest BIGINT. */
export const INT64_MIN: bigint;
/** 2^63 - 1: the largest BIGINT. */
export const INT64_MAX: bigint;
/** 2^64 - 1: the largest BIGINT UNSIGNED. */
export const UINT64_MAX: bigint;

/** An exact decimal as text, to send as DECIMAL (results hold DECIMAL as a `string`). */
export class Decimal {
  constructor(text: string | number);
  readonly text: string;
  toString(): string;
  toJSON(): string;
}

/** A JSON document as text; `JSON.stringify` embeds the parsed document. */
export class Json {
  constructor(text: string);
  readonly text: string;
  toString(): string;
  /** The parsed document (the text if it does not parse). */
  toJSON(): unknown;
}

/** The bits of a BIT(n) column as an unsigned integer. */
export class Bit {
  constructor(bits: bigint | number | string);
  readonly bits: bigint;
  /** A number when at most 2^53 - 1, else its decimal string. */
  toJSON(): number | string;
}

/** A number sent as a double even when it is integral. */
export class Double {
  constructor(value: number);
  readonly value: number;
}

/** A calendar date (DATE); zero parts allowed. `toJSON()`: 'YYYY-MM-DD'. */
export class DateOnly {
  constructor(year: number, month: number, day: number);
  year: number;
  month: number;
  day: number;
  toString(): string;
  toJSON(): string;
}

/**
 * A DATETIME/TIMESTAMP as its fields (UTC for TIMESTAMP), microseconds
 * included. Returned for a zero date (month or day 0), which no Date can
 * hold, and for every DATETIME with `datetimes: 'fields'`.
 * `toJSON()`: 'YYYY-MM-DD HH:MM:SS.ffffff'.
 */
export class DateTime {
  constructor(year: number, month: number, day: number, hour?: number, minute?: number, second?: number,
    microsecond?: number);
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0-999999. */
  microsecond: number;
  /** The UTC fields of a Date (a PreciseDate's microseconds included); RangeError for an invalid Date. */
  static fromDate(d: Date): DateTime;
  /** A PreciseDate in UTC; an Invalid Date for a zero date. */
  toDate(): PreciseDate;
  toString(): string;
  toJSON(): string;
}

/**
 * A DATETIME or TIMESTAMP as a JavaScript Date in UTC (the default decoding)
 * that keeps the microseconds a Date cannot: `microsecond` is the whole
 * fraction of the second, 0-999999 (`getUTCMilliseconds()` is its first three
 * digits). `toISOString()`/JSON keep Date's millisecond form; `toDateTime()`
 * gives the exact fields. Sent as a parameter, the Date's milliseconds count
 * (also after a setter moved them) and microsecond adds its last three digits.
 */
export class PreciseDate extends Date {
  /** ms: since the epoch (default now); microsecond: 0-999999 (default the ms' own). */
  constructor(ms?: number, microsecond?: number);
  /** 0-999999: the whole fraction of the second. */
  microsecond: number;
  toDateTime(): DateTime;
}

/** A signed span (TIME), possibly negative and beyond 24 hours. `toJSON()`: '-838:59:59.999999'. */
export class Time {
  constructor(negative: boolean, hours: number, minutes?: number, seconds?: number, microseconds?: number);
  negative: boolean;
  hours: number;
  minutes: number;
  seconds: number;
  microseconds: number;
  static fromMicroseconds(us: bigint | number): Time;
  toMicroseconds(): bigint;
  toString(): string;
  toJSON(): string;
}

/**
 * A value as results hold it (default decoding): integers are `number` up to
 * 2^53 - 1 in magnitude and `bigint` beyond (always `bigint` with
 * `integers: 'bigint'`); DECIMAL is its exact text; DATETIME/TIMESTAMP a
 * PreciseDate (a DateTime for a zero date or with `datetimes: 'fields'`).
 */
export type SqlValue =
  | null | boolean | number | bigint | string | Buffer
  | PreciseDate | DateTime | DateOnly | Time | Json | Bit;

/** A value a statement parameter may be. */
export type Param = SqlValue | undefined | Uint8Array | Date | Decimal | Double;

/** A row keyed by column name (a plain object; a repeated name keeps its last value). */
export type Row = Record<string, SqlValue>;

/** How results are decoded; Client's options. */
export interface DecodeOptions {
  /** 'auto' (default): number when |n| <= 2^53 - 1, bigint beyond. 'bigint': always bigint. */
  integers?: 'auto' | 'bigint';
  /** 'date' (default): PreciseDate. 'fields': DateTime. */
  datetimes?: 'date' | 'fields';
}

/** txgate.v1.Value as @grpc/proto-loader gives it (keepCase, longs as strings, oneof `kind`). */
export interface ProtoValue {
  kind?: string;
  null_value?: 'NULL_VALUE';
  int64_value?: string;
  uint64_value?: string;
  double_value?: number;
  string_value?: string;
  bytes_value?: Buffer;
  bool_value?: boolean;
  decimal_value?: string;
  json_value?: string;
  bit_value?: string;
  date_value?: { year?: number; month?: number; day?: number };
  datetime_value?: {
    year?: number; month?: number; day?: number; hour?: number; minute?: number; second?: number;
    microsecond?: number;
  };
  time_value?: { negative?: boolean; hours?: number; minutes?: number; seconds?: number; microseconds?: number };
}

/** txgate.v1.Row as @grpc/proto-loader gives it. */
export interface ProtoRow {
  values?: ProtoValue[];
}

/**
 * txgate.v1.Column as @grpc/proto-loader gives it (a field at its default is
 * absent): the column's name, its MariaDB type name (e.g. 'BIGINT UNSIGNED'),
 * nullability and, from servers that report them, length (uint64, as a
 * decimal string), precision and scale (DECIMAL(M,D); fractional-second digits).
 */
export interface Column {
  name?: string;
  type?: string;
  nullable?: boolean;
  length?: string;
  precision?: number;
  scale?: number;
  [field: string]: unknown;
}

/** The txgate.v1.Value for a parameter; RangeError/TypeError when there is none. */
export function toValue(x: Param): ProtoValue;
/** The JavaScript value of a txgate.v1.Value. */
export function fromValue(v: ProtoValue, options?: DecodeOptions): SqlValue;
export function rowValues(row: ProtoRow, options?: DecodeOptions): SqlValue[];
export function rowObject(names: string[], values: SqlValue[]): Row;
/** An integer from its decimal text, as `integers` says. */
export function integer(text: string, integers?: 'auto' | 'bigint'): number | bigint;
/** Checks decoding options (TypeError) and fills in the defaults. */
export function decodeOptions(options?: DecodeOptions): Required<DecodeOptions>;
/** A JSON.stringify replacer that writes bigints as decimal strings. */
export function jsonReplacer(key: string, value: unknown): unknown;

// ---------------------------------------------------------------- errors

export const ERROR_DOMAIN: 'txgate.dev';
export const REASON_COMMIT_OUTCOME_UNKNOWN: 'COMMIT_OUTCOME_UNKNOWN';
export const REASON_EXPECTATION_FAILED: 'EXPECTATION_FAILED';

/** A failed txgate call: the gRPC status and its google.rpc.ErrorInfo. */
export class TxgateError extends Error {
  constructor(code: number, message: string, options?: {
    reason?: string; domain?: string; metadata?: Record<string, string>; idempotencyKey?: string;
    cancelledLocally?: boolean;
  });
  /** The numeric gRPC code (grpc.status.*). */
  code: number;
  /** Its name, e.g. 'ABORTED'. */
  codeName: string;
  /** The status message. */
  details: string;
  /** ErrorInfo.reason, e.g. 'MYSQL_ERROR'; '' without an ErrorInfo (a transport error). */
  reason: string;
  /** ErrorInfo.domain: 'txgate.dev' when txgate answered. */
  domain: string;
  metadata: Record<string, string>;
  /** The key the call carried (to retry with). */
  idempotencyKey: string;
  /** CANCELLED by this process (an AbortSignal, call.cancel()). */
  cancelledLocally: boolean;
  mysqlErrno: number | null;
  mysqlSqlstate: string | null;
  mysqlMessage: string | null;
  /** Set by runInTransaction: how many attempts ran. */
  attempts?: number;
  /** UNKNOWN: the call may or may not have been applied. */
  readonly outcomeUnknown: boolean;
}

/** UNKNOWN / COMMIT_OUTCOME_UNKNOWN: the write may or may not have been applied. */
export class CommitOutcomeUnknown extends TxgateError {}

/**
 * FAILED_PRECONDITION / EXPECTATION_FAILED: a statement's result missed its
 * expectation; the whole transaction was rolled back, its key not used up.
 */
export class ExpectationFailed extends TxgateError {
  /** The statement's 1-based index. */
  readonly statementIndex: number;
  /** The failed condition, e.g. 'min_affected_rows'. */
  readonly expectation: string;
  readonly expected: bigint;
  readonly actual: bigint;
}

/** A TxgateError from a grpc-js ServiceError. */
export function fromServiceError(err: ServiceError | Error, idempotencyKey?: string): TxgateError;
export const StatusType: Type;
export const ErrorInfoType: Type;

// ---------------------------------------------------------------- client

/** The bundled service config (round_robin + the health-check retry policy), JSON text. */
export const SERVICE_CONFIG: string;
/** grpc-js channel options carrying txgate's service config with extra's merged in (see client.js). */
export function channelOptions(extra?: ClientOptions): ClientOptions;
/** txgate's service config with a caller's merged in, as JSON text; TypeError for a non-object. */
export function mergeServiceConfig(extra?: string | object | null): string;
/** Whether execute/runTransaction may re-send a request that failed with err. */
export function retryable(err: TxgateError, safe: boolean): boolean;
/**
 * Whether runInTransaction runs fn again after err: ABORTED (not one the
 * client caused), txgate's own UNAVAILABLE, and with beforeCommit (the error
 * ended the attempt's stream before its commit was sent) a transport
 * UNAVAILABLE or a CANCELLED this process did not cause.
 */
export function rerunnable(err: TxgateError, beforeCommit?: boolean): boolean;
export const txgatev1: GrpcObject;
export const packageDefinition: PackageDefinition;

/**
 * Conditions on a statement's result (each given is one; AND). affected rows
 * count the rows an UPDATE matched (CLIENT_FOUND_ROWS); rows those returned.
 */
export interface Expect {
  affectedRows?: number | bigint;
  minAffectedRows?: number | bigint;
  maxAffectedRows?: number | bigint;
  rows?: number | bigint;
  minRows?: number | bigint;
  maxRows?: number | bigint;
}

/** A txgate.v1.Expectation (fields as decimal strings); undefined for none. */
export function expectation(expect?: Expect | null): Record<string, string> | undefined;

/** A statement of runTransaction. */
export type Statement =
  | string
  | [sql: string, params?: Param[], options?: { expect?: Expect }]
  | { sql: string; params?: Param[]; expect?: Expect };

export type Isolation =
  | 'READ_UNCOMMITTED' | 'READ_COMMITTED' | 'REPEATABLE_READ' | 'SERIALIZABLE'
  | 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'
  | string;

/**
 * The result of one statement. R types its rows: any object type, a plain
 * `interface Order { id: number; ... }` as well as a type alias or one that
 * extends Row. It is not checked against the query's columns.
 */
export interface Result<R extends object = Row> {
  columns: Column[];
  columnNames: string[];
  /** Rows keyed by column name. */
  rows: R[];
  /** The same rows as arrays in column order. */
  rowsAsArrays: SqlValue[][];
  /** number, or bigint beyond 2^53 - 1 (always bigint with integers 'bigint'). */
  affectedRows: number | bigint;
  lastInsertId: number | bigint;
  warningCount: number;
}

export interface ExecuteResult<R extends object = Row> extends Result<R> {
  /** Calls sent (1 + retries). */
  calls: number;
  /** The key every call carried ('' for none). */
  idempotencyKey: string;
}

export interface RetryOptions {
  /** Overall bound, retries included (default 30000; null: none). */
  timeoutMs?: number | null;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Cancels the call in flight and ends the retries. */
  signal?: AbortSignal;
}

/**
 * Where a read may run: 'primary' or 'replica'; null for txgate's
 * --read_routing (README, "Reads on replicas").
 */
export type Routing = 'primary' | 'replica' | null;

export interface ExecuteOptions extends RetryOptions {
  /** Default: a fresh UUIDv4; '' sends none. */
  idempotencyKey?: string;
  /** Where the statement may run if it is a read (default: the client's routing). */
  routing?: Routing;
}

export interface TransactionOptions {
  isolation?: Isolation;
  readOnly?: boolean;
}

export interface RunTransactionOptions extends RetryOptions, TransactionOptions {
  idempotencyKey?: string;
  /** Where a read-only transaction may run (default: the client's routing). */
  routing?: Routing;
}

export interface RunTransactionResult<R extends object = Row> {
  results: Result<R>[];
  /** Attempts txgate made (its own deadlock re-runs). */
  attempts: number;
  calls: number;
  idempotencyKey: string;
}

export interface BeginOptions extends TransactionOptions {
  /** The stream's deadline (null: none). */
  timeoutMs?: number | null;
  /** Where a read-only transaction may run (default: the client's routing). */
  routing?: Routing;
}

export interface RunInTransactionOptions extends TransactionOptions {
  /** Where a read-only transaction may run (default: the client's routing). */
  routing?: Routing;
  /** Default 10. */
  maxAttempts?: number;
  /** No attempt begins past it, and each attempt's stream ends by it (default 60000; null: none). */
  timeoutMs?: number | null;
  /** A deadline per attempt, if sooner. */
  attemptTimeoutMs?: number | null;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Already aborted: rejects at once with signal.reason, fn never runs. An
   * abort during an attempt cancels its stream (rolled back) and rejects with
   * signal.reason (fn's pending statement: CANCELLED); once the commit was
   * sent, its answer is awaited instead.
   */
  signal?: AbortSignal;
  /** Called with each error followed by a re-run. */
  onRetry?: (error: TxgateError, attempt: number) => void;
}

export interface StreamQueryOptions {
  maxRowsPerChunk?: number;
  /** Where the query may run (default: the client's routing). */
  routing?: Routing;
  timeoutMs?: number | null;
  /** 'object' (default): rows keyed by column name; 'array': in column order. */
  rowMode?: 'object' | 'array';
}

export interface ClientConstructorOptions extends DecodeOptions {
  /** Default: insecure. */
  credentials?: ChannelCredentials;
  /** Extra grpc-js options; a 'grpc.service_config' here is merged into txgate's. */
  channelOptions?: ClientOptions;
  /** Unary calls' overall bound (default 30000). */
  defaultTimeoutMs?: number | null;
  /** Anything with DatabaseService's methods (a fake, in tests). */
  stub?: unknown;
  /** Where reads may run by default (unset: txgate's --read_routing). */
  routing?: Routing;
}

export class Client {
  /** target: 'host:port', or e.g. 'ipv4:10.0.0.1:50051,10.0.0.2:50051' / 'dns:///txgate:50051' (round_robin). */
  constructor(target: string | null, options?: ClientConstructorOptions);
  readonly decode: Required<DecodeOptions>;
  defaultTimeoutMs: number | null;
  /** The default routing of reads, as a txgate.v1.ReadRouting name. */
  readonly routing: 'READ_ROUTING_UNSPECIFIED' | 'READ_ROUTING_PRIMARY' | 'READ_ROUTING_REPLICA';
  /**
   * The causality token of the latest write this client saw ('' before
   * any); sent with every read so it sees that write, also on a replica.
   */
  readonly causalityToken: string;
  /** Forgets the token: the next reads carry none. */
  clearCausalityToken(): void;
  /**
   * Closes the channel. An interactive transaction still open is cancelled
   * (rolled back at once, its locks freed; its statements reject with
   * CANCELLED), so the process can exit; a commit already sent finishes.
   */
  close(): void;
  /** One statement in autocommit, exactly once (idempotency key, retries). */
  execute<R extends object = Row>(sql: string, params?: Param[], options?: ExecuteOptions): Promise<ExecuteResult<R>>;
  /** The statements as one transaction, all or nothing, exactly once. */
  runTransaction<R extends object = Row>(statements: Statement[], options?: RunTransactionOptions):
    Promise<RunTransactionResult<R>>;
  streamQuery(sql: string, params: Param[] | undefined, options: StreamQueryOptions & { rowMode: 'array' }):
    RowStream<SqlValue[]>;
  streamQuery<R extends object = Row>(sql: string, params?: Param[], options?: StreamQueryOptions): RowStream<R>;
  begin(options?: BeginOptions): Promise<Transaction>;
  /**
   * fn in an interactive transaction: committed when it resolves, rolled back
   * when it rejects; the transaction's own error if fn swallowed it. Once.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: BeginOptions): Promise<T>;
  /**
   * fn in an interactive transaction, run again whole (bounded, with backoff)
   * when an attempt ends ABORTED (deadlock 1213, ...), txgate's own
   * UNAVAILABLE, or with a cut connection before its commit was sent. The
   * decision is on the transaction's own first failure (tx.error): a
   * deadlock fn caught is re-run even if fn then resolved or threw another error.
   */
  runInTransaction<T>(fn: (tx: Transaction, attempt: number) => Promise<T> | T,
    options?: RunInTransactionOptions): Promise<T>;
}

/** The rows of a StreamQuery. */
export class RowStream<T = Row> implements AsyncIterable<T> {
  columns: Column[];
  columnNames: string[];
  chunks: number;
  warningCount: number;
  done: boolean;
  [Symbol.asyncIterator](): AsyncIterator<T>;
  /** Stops the query (the server kills the statement). */
  cancel(): void;
}

/** An interactive transaction (a Transaction stream). */
export class Transaction {
  state: 'beginning' | 'open' | 'committed' | 'rolled back' | 'failed';
  /** True once commit() has sent the commit: from then on an error may hide a commit. */
  commitSent: boolean;
  /** The commit's causality token ('' before it, or when nothing was written); the client keeps it too. */
  causalityToken: string;
  /**
   * The error that ended the transaction as 'failed' (null otherwise). From
   * then on execute() and commit() reject with this same error (its class,
   * code, reason, MySQL errno), so a caught ABORTED is seen again.
   */
  error: TxgateError | null;
  execute<R extends object = Row>(sql: string, params?: Param[], options?: { expect?: Expect }): Promise<Result<R>>;
  /** Resolves to the idempotency key the commit carried. */
  commit(idempotencyKey?: string): Promise<string>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}

