'use strict';
// Offline tests of the JavaScript <-> txgate.v1.Value mapping.
const test = require('node:test');
const assert = require('node:assert/strict');
const { packageDefinition } = require('../lib/client');
const t = require('../lib');

// Encodes and decodes through the real message type, as a call does.
const ValueType = packageDefinition['txgate.v1.Value'];
const wire = (v) => ValueType.deserialize(ValueType.serialize(v));

const EXACT = { integers: 'bigint', datetimes: 'fields' };

test('round trips through the wire format', () => {
  for (const x of [
    null, true, false, 0n, -1n, t.INT64_MIN, t.INT64_MAX, t.INT64_MAX + 1n, t.UINT64_MAX, 1.5, '', 'héllo ☃',
    Buffer.alloc(0), Buffer.from([0x00, 0xff, 0x00]),
    new t.DateOnly(2024, 2, 29), new t.DateOnly(0, 0, 0), new t.DateTime(1999, 12, 31, 23, 59, 59, 999999),
    new t.Time(true, 838, 59, 59, 999999), new t.Time(false, 100, 0, 0, 1), new t.Json('{"a":[1,null]}'),
    new t.Bit(5n),
  ]) {
    assert.deepEqual(t.fromValue(wire(t.toValue(x)), EXACT), x, `round trip of ${String(x)}`);
  }
  assert.equal(t.fromValue(wire(t.toValue(new t.Decimal('-12345.678900')))), '-12345.678900');
});

test('default decoding: safe numbers, Dates, strings; JSON.stringify works', () => {
  const dec = (x) => t.fromValue(wire(t.toValue(x)));
  const MAX = Number.MAX_SAFE_INTEGER;
  assert.deepEqual([dec(0n), dec(-1n), dec(BigInt(MAX)), dec(BigInt(-MAX)), dec(7)], [0, -1, MAX, -MAX, 7]);
  assert.equal(dec(BigInt(MAX) + 1n), BigInt(MAX) + 1n);
  assert.equal(dec(BigInt(-MAX) - 1n), BigInt(-MAX) - 1n);
  assert.equal(dec(t.UINT64_MAX), t.UINT64_MAX);
  const d = dec(new t.DateTime(1999, 12, 31, 23, 59, 59, 999999));
  assert.ok(d instanceof Date && d instanceof t.PreciseDate);
  assert.equal(d.toISOString(), '1999-12-31T23:59:59.999Z');
  assert.equal(d.microsecond, 999999);
  assert.deepEqual(d.toDateTime(), new t.DateTime(1999, 12, 31, 23, 59, 59, 999999));
  assert.deepEqual(t.toValue(d).datetime_value.microsecond, 999999, 'a PreciseDate sends its microseconds');
  // Years 0-99 stay themselves (Date.UTC would make them 19xx).
  assert.equal(dec(new t.DateTime(5, 1, 2, 3, 4, 5, 6)).toISOString(), '0005-01-02T03:04:05.000Z');
  // A zero date has no Date: its fields.
  assert.deepEqual(dec(new t.DateTime(0, 0, 0)), new t.DateTime(0, 0, 0));
  assert.ok(Number.isNaN(new t.DateTime(2024, 0, 1).toDate().getTime()));
  // A setter moves the milliseconds; the microseconds below them stay.
  const moved = new t.DateTime(2024, 1, 1, 0, 0, 0, 5123).toDate();
  moved.setUTCMilliseconds(7);
  assert.equal(t.toValue(moved).datetime_value.microsecond, 7123);
  assert.throws(() => t.toValue(Object.assign(new t.PreciseDate(0), { microsecond: 1e6 })), RangeError);
  const before = Date.now();
  const now = new t.PreciseDate().getTime();
  assert.ok(before <= now && now <= Date.now(), 'no argument: now');
  const row = {
    n: dec(42n), d, day: dec(new t.DateOnly(2024, 2, 29)), t: dec(new t.Time(true, 1, 2, 3, 4)),
    dec: dec(new t.Decimal('1.50')), j: dec(new t.Json('{"a":[1,null]}')), bit: dec(new t.Bit(5n)),
  };
  assert.equal(JSON.stringify(row), '{"n":42,"d":"1999-12-31T23:59:59.999Z","day":"2024-02-29",' +
    '"t":"-01:02:03.000004","dec":"1.50","j":{"a":[1,null]},"bit":5}');
  assert.equal(JSON.stringify({ big: t.UINT64_MAX }, t.jsonReplacer), '{"big":"18446744073709551615"}');
  assert.throws(() => t.decodeOptions({ integers: 'number' }), TypeError);
});

test('rows keyed by column name', () => {
  assert.deepEqual(t.rowObject(['a', 'b', 'a'], [1, 2, 3]), { a: 3, b: 2 });
  const r = t.rowObject(['__proto__', 'x'], [1, 2]);
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
  assert.deepEqual(Object.keys(r), ['__proto__', 'x']);
});

test('chooses kinds', () => {
  assert.deepEqual(t.toValue(undefined), { null_value: 'NULL_VALUE' });
  assert.deepEqual(t.toValue(7), { int64_value: '7' });
  assert.deepEqual(t.toValue(2.5), { double_value: 2.5 });
  assert.deepEqual(t.toValue(new t.Double(3)), { double_value: 3 });
  assert.deepEqual(t.toValue(t.UINT64_MAX), { uint64_value: '18446744073709551615' });
  assert.equal(t.toValue(new Uint8Array([1, 2])).bytes_value.length, 2);
  assert.deepEqual(t.toValue(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))).datetime_value,
    { year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5, microsecond: 678000 });
  assert.deepEqual(t.Time.fromMicroseconds(-(25n * 3600000000n + 1000005n)), new t.Time(true, 25, 0, 1, 5));
  assert.equal(new t.Time(true, 838, 59, 59, 999999).toMicroseconds(), -3020399999999n);
  assert.equal(t.fromValue(wire(t.toValue(-5))), -5);
});

test('rejects what has no value', () => {
  assert.throws(() => t.toValue(t.UINT64_MAX + 1n), RangeError);
  assert.throws(() => t.toValue(t.INT64_MIN - 1n), RangeError);
  assert.throws(() => t.toValue({}), TypeError);
  assert.throws(() => t.toValue(new Date(NaN)), RangeError);
});
