'use strict';
// JavaScript values <-> txgate.v1.Value (as @grpc/proto-loader objects), losslessly.
//
//   toValue(x)                          fromValue(v)
//   null, undefined        null_value     -> null
//   boolean                bool_value     -> boolean
//   bigint (int64 range)   int64_value    -> bigint
//   bigint (> int64 max)   uint64_value   -> bigint (up to 18446744073709551615n)
//   number, safe integer   int64_value
//   other number           double_value   -> number  (new Double(1) forces a double)
//   string                 string_value   -> string
//   Buffer / Uint8Array    bytes_value    -> Buffer
//   Decimal                decimal_value  -> Decimal (exact text, e.g. DECIMAL(65,30))
//   Date (UTC fields)      datetime_value -> DateTime (microseconds; .toDate())
//   DateTime               datetime_value
//   DateOnly               date_value     -> DateOnly
//   Time                   time_value     -> Time (TIME: negative, beyond 24 hours)
//   Json                   json_value     -> Json
//   Bit                    bit_value      -> Bit
// 64-bit integers always come back as bigint, so no value loses precision.

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** An exact decimal as text. */
class Decimal {
  constructor(text) {
    this.text = String(text);
  }
  toString() {
    return this.text;
  }
}

/** A JSON document as text. */
class Json {
  constructor(text) {
    this.text = String(text);
  }
  toString() {
    return this.text;
  }
}

/** The bits of a BIT(n) column as an unsigned integer. */
class Bit {
  constructor(bits) {
    this.bits = BigInt(bits);
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
}

/** A date and time of day with microseconds (DATETIME, TIMESTAMP in UTC). */
class DateTime {
  constructor(year, month, day, hour = 0, minute = 0, second = 0, microsecond = 0) {
    Object.assign(this, { year, month, day, hour, minute, second, microsecond });
  }
  /** The UTC fields of a JavaScript Date. */
  static fromDate(d) {
    if (Number.isNaN(d.getTime())) throw new RangeError('invalid Date');
    return new DateTime(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(),
      d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds() * 1000);
  }
  /** A JavaScript Date in UTC (milliseconds only). */
  toDate() {
    return new Date(Date.UTC(this.year, this.month - 1, this.day, this.hour, this.minute,
      this.second, Math.floor(this.microsecond / 1000)));
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

function fromValue(v) {
  const kind = v.kind || Object.keys(v).find((k) => k.endsWith('_value'));
  const n = (x) => x ?? 0;
  switch (kind) {
    case undefined:
    case 'null_value':
      return null;
    case 'int64_value':
    case 'uint64_value':
      return BigInt(v[kind]);
    case 'double_value':
      return Number(v.double_value);
    case 'string_value':
      return v.string_value;
    case 'bytes_value':
      return Buffer.from(v.bytes_value);
    case 'bool_value':
      return Boolean(v.bool_value);
    case 'decimal_value':
      return new Decimal(v.decimal_value);
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
      return new DateTime(n(d.year), n(d.month), n(d.day), n(d.hour), n(d.minute), n(d.second),
        n(d.microsecond));
    }
    case 'time_value': {
      const t = v.time_value;
      return new Time(Boolean(t.negative), n(t.hours), n(t.minutes), n(t.seconds), n(t.microseconds));
    }
    default:
      throw new Error(`unknown txgate.v1.Value kind ${kind}`);
  }
}

const rowValues = (row) => (row.values || []).map(fromValue);

module.exports = {
  INT64_MIN, INT64_MAX, UINT64_MAX, Decimal, Json, Bit, Double, DateOnly, DateTime, Time,
  toValue, fromValue, rowValues,
};
