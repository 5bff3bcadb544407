'use strict';
// Offline tests of the JavaScript <-> txgate.v1.Value mapping.
const test = require('node:test');
const assert = require('node:assert/strict');
const { packageDefinition } = require('../lib/client');
const t = require('../lib');

// Encodes and decodes through the real message type, as a call does.
const ValueType = packageDefinition['txgate.v1.Value'];
const wire = (v) => ValueType.deserialize(ValueType.serialize(v));

test('round trips through the wire format', () => {
  for (const x of [
    null, true, false, 0n, -1n, t.INT64_MIN, t.INT64_MAX, t.INT64_MAX + 1n, t.UINT64_MAX, 1.5, '', 'héllo ☃',
    Buffer.alloc(0), Buffer.from([0x00, 0xff, 0x00]), new t.Decimal('-12345.678900'),
    new t.DateOnly(2024, 2, 29), new t.DateOnly(0, 0, 0), new t.DateTime(1999, 12, 31, 23, 59, 59, 999999),
    new t.Time(true, 838, 59, 59, 999999), new t.Time(false, 100, 0, 0, 1), new t.Json('{"a":[1,null]}'),
    new t.Bit(5n),
  ]) {
    assert.deepEqual(t.fromValue(wire(t.toValue(x))), x, `round trip of ${String(x)}`);
  }
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
  assert.equal(t.fromValue(wire(t.toValue(-5))), -5n);
});

test('rejects what has no value', () => {
  assert.throws(() => t.toValue(t.UINT64_MAX + 1n), RangeError);
  assert.throws(() => t.toValue(t.INT64_MIN - 1n), RangeError);
  assert.throws(() => t.toValue({}), TypeError);
  assert.throws(() => t.toValue(new Date(NaN)), RangeError);
});
