"""Offline tests of the Python <-> txgate.v1.Value mapping."""

import datetime as dt
import decimal

import pytest

from txgate.v1 import database_pb2 as pb
from txgate_client import UINT64_MAX, Bit, Json, from_value, to_value

ROUND_TRIPS = [
    None, True, False, 0, -1, -(1 << 63), (1 << 63) - 1, 1 << 63, UINT64_MAX, 1.5, -0.0,
    "", "héllo ☃", b"", b"\x00\xff\x00", decimal.Decimal("-12345.678900"),
    decimal.Decimal("0." + "0" * 29 + "1"), dt.date(2024, 2, 29),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999), dt.timedelta(hours=-838, minutes=-59),
    dt.timedelta(hours=100, microseconds=1), dt.timedelta(0), Json('{"a": [1, null]}'), Bit(5),
]


@pytest.mark.parametrize("x", ROUND_TRIPS, ids=repr)
def test_round_trip(x):
    back = from_value(to_value(x))
    assert back == x and type(back) is type(x)


def test_kinds():
    assert to_value(None).WhichOneof("kind") == "null_value"
    assert to_value((1 << 63) - 1).WhichOneof("kind") == "int64_value"
    assert to_value(1 << 63).WhichOneof("kind") == "uint64_value"
    assert to_value(True).WhichOneof("kind") == "bool_value"
    assert to_value(bytearray(b"x")).WhichOneof("kind") == "bytes_value"
    assert to_value(dt.time(1, 2, 3, 4)).time_value == pb.Duration(
        hours=1, minutes=2, seconds=3, microseconds=4)
    t = to_value(dt.timedelta(hours=-25, seconds=-1, microseconds=-5)).time_value
    assert (t.negative, t.hours, t.minutes, t.seconds, t.microseconds) == (True, 25, 0, 1, 5)
    assert to_value(decimal.Decimal("1E+3")).decimal_value == "1000"
    aware = dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert from_value(to_value(aware)) == dt.datetime(2023, 12, 31, 23, 0)


def test_rejects():
    for bad in (UINT64_MAX + 1, -(1 << 63) - 1):
        with pytest.raises(ValueError):
            to_value(bad)
    with pytest.raises(ValueError):
        to_value(decimal.Decimal("NaN"))
    with pytest.raises(TypeError):
        to_value(object())


def test_zero_dates_stay_messages():
    zero = pb.Value(date_value=pb.Date(year=0, month=0, day=0))
    assert from_value(zero) == zero.date_value
    assert from_value(pb.Value()) is None
