'use strict';
// JavaScript values <-> txgate.v1.Value (as @grpc/proto-loader objects).
//
//   toValue(x)                             fromValue(v, options)
//   null, undefined           null_value     -> null
//   boolean                   bool_value     -> boolean
//   bigint (int64 range)      int64_value    -> number if |n| <= 2^53 - 1, else bigint;
//   bigint (> int64 max)      uint64_value      always bigint with { integers: 'bigint' }
//   number, safe integer      int64_value
//   other number              double_value   -> number  (new Double(1) forces a double)
//   string                    string_value   -> string
//   Buffer / Uint8Array       bytes_value    -> Buffer
//   Decimal                   decimal_value  -> string, the exact text (e.g. DECIMAL(65,30))
//   Date, PreciseDate         datetime_value -> PreciseDate (a Date in UTC, plus .microsecond);
//   DateTime                  datetime_value    a DateTime for a zero date (month or day 0), or
//                                                always with { datetimes: 'fields' }
//   DateOnly                  date_value     -> DateOnly (toJSON 'YYYY-MM-DD')
//   Time                      time_value     -> Time (TIME: negative, beyond 24 hours)
//   Json                      json_value     -> Json (toJSON: the parsed document)
//   Bit                       bit_value      -> Bit (bits: bigint)
//
// Every value returned is JSON.stringify-able except an integer beyond 2^53 - 1
// (a bigint); jsonReplacer turns those into decimal strings.

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** An exact decimal as text, to send as DECIMAL (results hold DECIMAL as a string). */
class Decimal {
  constructor(text) {
    this.text = String(text);
  }
  toString() {
    return this.text;
  }
  toJSON() {
    return this.text;
  }
}

/** A JSON document as text; JSON.stringify embeds the document itself. */
class Json {
  constructor(text) {
    this.text = String(text);
  }
  toString() {
    return this.text;
  }
  /** The parsed document (the text if it does not parse). */
  toJSON() {
    try {
      return JSON.parse(this.text);
    } catch (e) {
      return this.text;
    }
  }
}

/** The bits of a BIT(n) column as an unsigned integer. */
class Bit {
  constructor(bits) {
    this.bits = BigInt(bits);
  }
  /** A number when it is safe, else its decimal string. */
  toJSON() {
    return this.bits <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(this.bits) : this.bits.toString();
  }
}

/** A number sent as a double even when it is integral. */
class Double {
  constructor(value) {
    this.value = Number(value);
  }
}

/** A calendar date (DATE); zero parts allowed. */
class DateOnly {
  constructor(year, month, day) {
    Object.assign(this, { year, month, day });
  }
  toString() {
    const p = (n, w) => String(n).padStart(w, '0');
    return `${p(this.year, 4)}-${p(this.month, 2)}-${p(this.day, 2)}`;
  }
  toJSON() {
    return this.toString();
  }
}

/** A date and time of day with microseconds (DATETIME, TIMESTAMP in UTC). */
class DateTime {
  constructor(year, month, day, hour = 0, minute = 0, second = 0, microsecond = 0) {
    Object.assign(this, { year, month, day, hour, minute, second, microsecond });
  }
  /** The UTC fields of a JavaScript Date. */
  static fromDate(d) {
    if (Number.isNaN(d.getTime())) throw new RangeError('invalid Date');
    // The Date's milliseconds win (a setter may have moved them); a
    // PreciseDate's microsecond adds its last three digits.
    let us = d.getUTCMilliseconds() * 1000;
    if (d instanceof PreciseDate) {
      if (!Number.isInteger(d.microsecond) || d.microsecond < 0 || d.microsecond > 999999) {
        throw new RangeError(`PreciseDate.microsecond out of 0-999999: ${d.microsecond}`);
      }
      us += d.microsecond % 1000;
    }
    return new DateTime(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(),
      d.getUTCMinutes(), d.getUTCSeconds(), us);
  }
  /**
   * A PreciseDate (a Date in UTC, with .microsecond); an Invalid Date for a
   * zero date (month or day 0), which no Date can hold.
   */
  toDate() {
    if (!this.month || !this.day) return new PreciseDate(NaN, 0);
    const d = new Date(0);
    // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
    d.setUTCFullYear(this.year, this.month - 1, this.day);
    d.setUTCHours(this.hour, this.minute, this.second, Math.floor(this.microsecond / 1000));
    return new PreciseDate(d.getTime(), this.microsecond);
  }
  /** 'YYYY-MM-DD HH:MM:SS.ffffff' (MariaDB's DATETIME(6) text). */
  toString() {
    const p = (n, w) => String(n).padStart(w, '0');
    return `${p(this.year, 4)}-${p(this.month, 2)}-${p(this.day, 2)} ${p(this.hour, 2)}:${p(this.minute, 2)}:` +
      `${p(this.second, 2)}.${p(this.microsecond, 6)}`;
  }
  toJSON() {
    return this.toString();
  }
}

/**
 * A DATETIME or TIMESTAMP value as a JavaScript Date (its UTC fields are the
 * value's fields; txgate sends TIMESTAMP in UTC) that also keeps the
 * microseconds a Date cannot: microsecond is the whole fraction of the second,
 * 0-999999 (getUTCMilliseconds() is its first three digits). toISOString() and
 * JSON keep Date's millisecond form; toDateTime() gives the exact fields. Sent
 * as a parameter, the Date's milliseconds count (also after a setter moved
 * them) and microsecond adds its last three digits.
 */
class PreciseDate extends Date {
  /** ms: milliseconds since the epoch (default now); microsecond: 0-999999 (default the ms' own). */
  constructor(ms = Date.now(), microsecond = undefined) {
    super(ms);
    this.microsecond = microsecond ?? (Number.isNaN(this.getTime()) ? 0 : this.getUTCMilliseconds() * 1000);
  }
  /** The exact fields, microseconds included. */
  toDateTime() {
    const dt = DateTime.fromDate(this);
    dt.microsecond = this.microsecond;
    return dt;
  }
}

/** A signed span (TIME), possibly negative and beyond 24 hours. */
class Time {
  constructor(negative, hours, minutes = 0, seconds = 0, microseconds = 0) {
    Object.assign(this, { negative, hours, minutes, seconds, microseconds });
  }
  static fromMicroseconds(us) {
    let n = BigInt(us);
    const negative = n < 0n;
    if (negative) n = -n;
    return new Time(negative, Number(n / 3600000000n), Number((n / 60000000n) % 60n),
      Number((n / 1000000n) % 60n), Number(n % 1000000n));
  }
  /** '-838:59:59.999999' (MariaDB's TIME(6) text). */
  toString() {
    const p = (n, w) => String(n).padStart(w, '0');
    return `${this.negative ? '-' : ''}${p(this.hours, 2)}:${p(this.minutes, 2)}:${p(this.seconds, 2)}.` +
      `${p(this.microseconds, 6)}`;
  }
  toJSON() {
    return this.toString();
  }
  toMicroseconds() {
    const us = ((BigInt(this.hours) * 60n + BigInt(this.minutes)) * 60n + BigInt(this.seconds)) *
      1000000n + BigInt(this.microseconds);
    return this.negative ? -us : us;
  }
}

function toValue(x) {
  if (x === null || x === undefined) return { null_value: 'NULL_VALUE' };
  switch (typeof x) {
    case 'boolean':
      return { bool_value: x };
    case 'bigint':
      if (x >= INT64_MIN && x <= INT64_MAX) return { int64_value: x.toString() };
      if (x > INT64_MAX && x <= UINT64_MAX) return { uint64_value: x.toString() };
      throw new RangeError(`integer out of the 64-bit range: ${x}`);
    case 'number':
      return Number.isSafeInteger(x) ? { int64_value: String(x) } : { double_value: x };
    case 'string':
      return { string_value: x };
    default:
  }
  if (x instanceof Uint8Array) return { bytes_value: Buffer.from(x.buffer, x.byteOffset, x.byteLength) };
  if (x instanceof Decimal) return { decimal_value: x.text };
  if (x instanceof Json) return { json_value: x.text };
  if (x instanceof Double) return { double_value: x.value };
  if (x instanceof Bit) {
    if (x.bits < 0n || x.bits > UINT64_MAX) throw new RangeError(`BIT value out of range: ${x.bits}`);
    return { bit_value: x.bits.toString() };
  }
  if (x instanceof Date) x = DateTime.fromDate(x);
  if (x instanceof DateTime) return { datetime_value: { ...x } };
  if (x instanceof DateOnly) return { date_value: { ...x } };
  if (x instanceof Time) return { time_value: { ...x } };
  throw new TypeError(`no txgate.v1.Value for ${Object.prototype.toString.call(x)}`);
}

/**
 * An integer from its decimal text: a number when |n| <= 2^53 - 1 (exact), a
 * bigint beyond; always a bigint with integers 'bigint'.
 */
function integer(text, integers = 'auto') {
  if (integers === 'bigint') return BigInt(text);
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

const DECODE_DEFAULTS = { integers: 'auto', datetimes: 'date' };

/**
 * Checks decoding options: integers 'auto' (default: number when safe, bigint
 * beyond) or 'bigint' (always), datetimes 'date' (default: PreciseDate) or
 * 'fields' (DateTime); returns them with the defaults filled in.
 */
function decodeOptions({ integers = 'auto', datetimes = 'date' } = {}) {
  if (integers !== 'auto' && integers !== 'bigint') throw new TypeError(`integers: 'auto' or 'bigint', not ${integers}`);
  if (datetimes !== 'date' && datetimes !== 'fields') {
    throw new TypeError(`datetimes: 'date' or 'fields', not ${datetimes}`);
  }
  return { integers, datetimes };
}

function fromValue(v, options = DECODE_DEFAULTS) {
  const kind = v.kind || Object.keys(v).find((k) => k.endsWith('_value'));
  const n = (x) => x ?? 0;
  switch (kind) {
    case undefined:
    case 'null_value':
      return null;
    case 'int64_value':
    case 'uint64_value':
      return integer(v[kind], options.integers);
    case 'double_value':
      return Number(v.double_value);
    case 'string_value':
      return v.string_value;
    case 'bytes_value':
      return Buffer.from(v.bytes_value);
    case 'bool_value':
      return Boolean(v.bool_value);
    case 'decimal_value':
      return v.decimal_value;
    case 'json_value':
      return new Json(v.json_value);
    case 'bit_value':
      return new Bit(BigInt(v.bit_value));
    case 'date_value': {
      const d = v.date_value;
      return new DateOnly(n(d.year), n(d.month), n(d.day));
    }
    case 'datetime_value': {
      const d = v.datetime_value;
      const dt = new DateTime(n(d.year), n(d.month), n(d.day), n(d.hour), n(d.minute), n(d.second),
        n(d.microsecond));
      return options.datetimes === 'fields' || !dt.month || !dt.day ? dt : dt.toDate();
    }
    case 'time_value': {
      const t = v.time_value;
      return new Time(Boolean(t.negative), n(t.hours), n(t.minutes), n(t.seconds), n(t.microseconds));
    }
    default:
      throw new Error(`unknown txgate.v1.Value kind ${kind}`);
  }
}

const rowValues = (row, options = DECODE_DEFAULTS) => (row.values || []).map((v) => fromValue(v, options));

/**
 * A row keyed by column name (a plain object, as mysql2 and pg return) from
 * its values in column order; a name that repeats keeps its last value (the
 * positional array keeps all).
 */
function rowObject(names, values) {
  const row = {};
  for (let i = 0; i < names.length; i++) {
    // defineProperty: a column named __proto__ is a key, not the prototype.
    if (names[i] === '__proto__') {
      Object.defineProperty(row, names[i], { value: values[i], enumerable: true, writable: true, configurable: true });
    } else {
      row[names[i]] = values[i];
    }
  }
  return row;
}

/** A JSON.stringify replacer that writes bigints as decimal strings. */
const jsonReplacer = (key, value) => (typeof value === 'bigint' ? value.toString() : value);

module.exports = {
  INT64_MIN, INT64_MAX, UINT64_MAX, Decimal, Json, Bit, Double, DateOnly, DateTime, PreciseDate, Time,
  toValue, fromValue, rowValues, rowObject, integer, decodeOptions, jsonReplacer,
};
