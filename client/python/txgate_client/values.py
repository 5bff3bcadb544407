"""Python values <-> txgate.v1.Value, losslessly.

to_value(x)                       from_value(v)
  None                 null_value   -> None
  bool                 bool_value   -> bool
  int (int64 range)    int64_value  -> int
  int (> int64 max)    uint64_value -> int   (up to 18446744073709551615)
  float                double_value -> float
  str                  string_value -> str
  bytes/bytearray      bytes_value  -> bytes
  decimal.Decimal      decimal_value-> decimal.Decimal  (exact, e.g. DECIMAL(65,30))
  datetime.datetime    datetime_value -> datetime.datetime (naive; aware values
                                         are converted to UTC first)
  datetime.date        date_value   -> datetime.date
  datetime.timedelta   time_value   -> datetime.timedelta (TIME: negative, > 24 h)
  datetime.time        time_value   (a time of day, 0 <= t < 24 h)
  Json(text)           json_value   -> Json (a str)
  Bit(n)               bit_value    -> Bit (an int)
  txgate.v1.Value      passed through

MySQL "zero" dates (month or day 0, year 0) have no Python equivalent; from_value
returns them as the txgate.v1 Date / DateTime message unchanged.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from google.protobuf import struct_pb2

from txgate.v1 import database_pb2 as pb

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_SECOND


class Json(str):
    """A JSON document as text; bound as, and read from, a JSON value."""


class Bit(int):
    """The bits of a BIT(n) column as an unsigned integer."""


def to_value(x: Any) -> pb.Value:
    """Returns the txgate.v1.Value for a Python value (see the module docstring)."""
    if isinstance(x, pb.Value):
        return x
    if x is None:
        return pb.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(x, bool):
        return pb.Value(bool_value=x)
    if isinstance(x, Bit):
        if not 0 <= x <= UINT64_MAX:
            raise ValueError(f"BIT value out of range: {int(x)}")
        return pb.Value(bit_value=int(x))
    if isinstance(x, int):
        if INT64_MIN <= x <= INT64_MAX:
            return pb.Value(int64_value=x)
        if INT64_MAX < x <= UINT64_MAX:
            return pb.Value(uint64_value=x)
        raise ValueError(f"integer out of the 64-bit range: {x}")
    if isinstance(x, float):
        return pb.Value(double_value=x)
    if isinstance(x, Json):
        return pb.Value(json_value=str(x))
    if isinstance(x, str):
        return pb.Value(string_value=x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return pb.Value(bytes_value=bytes(x))
    if isinstance(x, decimal.Decimal):
        if not x.is_finite():
            raise ValueError(f"DECIMAL cannot hold {x}")
        return pb.Value(decimal_value=format(x, "f"))
    if isinstance(x, _dt.datetime):  # before date: datetime is a date
        if x.tzinfo is not None:
            x = x.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return pb.Value(datetime_value=pb.DateTime(
            year=x.year, month=x.month, day=x.day, hour=x.hour, minute=x.minute,
            second=x.second, microsecond=x.microsecond))
    if isinstance(x, _dt.date):
        return pb.Value(date_value=pb.Date(year=x.year, month=x.month, day=x.day))
    if isinstance(x, _dt.timedelta):
        us = (x.days * 86400 + x.seconds) * _US_PER_SECOND + x.microseconds
        return pb.Value(time_value=_duration(us))
    if isinstance(x, _dt.time):
        us = ((x.hour * 60 + x.minute) * 60 + x.second) * _US_PER_SECOND + x.microsecond
        return pb.Value(time_value=_duration(us))
    raise TypeError(f"no txgate.v1.Value for {type(x).__name__}")


def _duration(us: int) -> pb.Duration:
    negative = us < 0
    us = abs(us)
    hours, us = divmod(us, _US_PER_HOUR)
    minutes, us = divmod(us, 60 * _US_PER_SECOND)
    seconds, us = divmod(us, _US_PER_SECOND)
    return pb.Duration(negative=negative, hours=hours, minutes=minutes,
                       seconds=seconds, microseconds=us)


def to_values(xs: Iterable[Any]) -> List[pb.Value]:
    """to_value for each parameter."""
    return [to_value(x) for x in xs]


def from_value(v: pb.Value) -> Any:
    """Returns the Python value of a txgate.v1.Value (see the module docstring)."""
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind in ("int64_value", "uint64_value", "double_value", "string_value",
                "bytes_value", "bool_value"):
        return getattr(v, kind)
    if kind == "decimal_value":
        return decimal.Decimal(v.decimal_value)
    if kind == "json_value":
        return Json(v.json_value)
    if kind == "bit_value":
        return Bit(v.bit_value)
    if kind == "date_value":
        d = v.date_value
        try:
            return _dt.date(d.year, d.month, d.day)
        except ValueError:
            return d  # a zero date
    if kind == "datetime_value":
        d = v.datetime_value
        try:
            return _dt.datetime(d.year, d.month, d.day, d.hour, d.minute, d.second,
                                d.microsecond)
        except ValueError:
            return d  # a zero date
    if kind == "time_value":
        t = v.time_value
        span = _dt.timedelta(hours=t.hours, minutes=t.minutes, seconds=t.seconds,
                             microseconds=t.microseconds)
        return -span if t.negative else span
    raise ValueError(f"unknown txgate.v1.Value kind {kind}")


class Row(tuple):
    """One result row: a tuple (positional access, equality with tuples kept)
    whose values can also be read by column name.

        row[0], row["balance"], row.get("note"), row.keys(), row.as_dict()

    A name that several columns share (e.g. `SELECT a.id, b.id`) is
    ambiguous: looking it up raises KeyError (alias the columns); positions
    always work. Rows of one result share one class holding the names."""

    __slots__ = ()
    _fields: Tuple[str, ...] = ()
    _index: Dict[str, int] = {}

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            i = self._index.get(key)
            if i is None:
                if key in self._fields:
                    raise KeyError(f"column name {key!r} is ambiguous: alias the columns")
                raise KeyError(f"no column {key!r} (columns: {', '.join(self._fields)})")
            return tuple.__getitem__(self, i)
        return tuple.__getitem__(self, key)

    def get(self, name: str, default: Any = None) -> Any:
        """The value of column `name`, or `default` if there is no such column."""
        i = self._index.get(name)
        return default if i is None else tuple.__getitem__(self, i)

    def keys(self) -> Tuple[str, ...]:
        """The column names, in column order."""
        return self._fields

    def as_dict(self) -> Dict[str, Any]:
        """{column name: value}; for a shared name, its last column's value."""
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self)) + ")"


@functools.lru_cache(maxsize=256)
def row_class(names: Tuple[str, ...]) -> type:
    """The Row subclass for a result with these column names."""
    seen: Dict[str, int] = {}
    dup = set()
    for i, n in enumerate(names):
        if n in seen:
            dup.add(n)
        seen.setdefault(n, i)
    index = {n: i for n, i in seen.items() if n not in dup}
    return type("Row", (Row,), {"__slots__": (), "_fields": names, "_index": index})


def row_values(row: pb.Row, names: Optional[Sequence[str]] = None) -> tuple:
    """The Python values of a result row, in column order: a Row keyed by
    `names` when they are given, else a plain tuple."""
    values = (from_value(v) for v in row.values)
    if names is None:
        return tuple(values)
    return row_class(tuple(names))(values)
