"""What the sync and asyncio DB-API modules share: the PEP 249 exceptions and
the map from txgate's errors to them, type objects and constructors, the
connect() arguments, and a cursor's buffered result."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import grpc

from txgate_client import Result, Row, TxgateError

apilevel = "2.0"
# Threads may share the module, not connections (nor cursors): a connection
# holds one transaction stream and its cursors' results, unlocked.
threadsafety = 1
# txgate binds '?' placeholders server-side (the MySQL protocol's prepared
# statements); nothing is interpolated into the SQL text on the client.
paramstyle = "qmark"


# -- Exceptions (PEP 249, "Exceptions") --------------------------------------

class Warning(Exception):  # noqa: A001 - the name is PEP 249's
    """Important warnings (PEP 249). Not raised: a statement's warning count
    is in Cursor.warning_count."""


class Error(Exception):
    """Base of every error this module raises (PEP 249).

    code       grpc.StatusCode of the failed call (None for errors raised by
               this module itself, e.g. a closed cursor)
    reason     txgate's ErrorReason name ("" when absent)
    errno      MySQL error number (int) or None; sqlstate: str or None
    txgate_error  the txgate_client.TxgateError it came from (also __cause__)
    """

    def __init__(self, message: str, *, code: Optional[grpc.StatusCode] = None,
                 reason: str = "", errno: Optional[int] = None, sqlstate: Optional[str] = None,
                 txgate_error: Optional[TxgateError] = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.errno = errno
        self.sqlstate = sqlstate
        self.txgate_error = txgate_error


class InterfaceError(Error):
    """Misuse of this module rather than the database: a closed connection or
    cursor, an unsupported parameter type."""


class DatabaseError(Error):
    """Errors related to the database (and txgate in front of it)."""


class DataError(DatabaseError):
    """The data was wrong for its column: out of range, too long, an invalid value."""


class OperationalError(DatabaseError):
    """The database's operation failed, not the statement: unreachable,
    overloaded, a deadlock or lost transaction (ABORTED: run the transaction
    again), a deadline, a lost commit outcome, access refused."""


class IntegrityError(DatabaseError):
    """A constraint refused the data: duplicate key, foreign key, NOT NULL, CHECK."""


class InternalError(DatabaseError):
    """txgate or the database failed internally. (A statement after an error
    that ended the transaction raises that error's own class again, not
    this one.)"""


class ProgrammingError(DatabaseError):
    """The request is wrong: SQL syntax, unknown table or column, wrong number
    of parameters, a key reused for another request."""


class NotSupportedError(DatabaseError):
    """Something txgate or the database does not support here: e.g. a
    statement that commits implicitly (DDL) inside a transaction that has
    already run statements (commit() first, or use autocommit)."""


class ExpectationFailed(DatabaseError):
    """A statement's expectation (Cursor.execute(..., min_affected_rows=1) and
    the like) was not met; the transaction was rolled back.

    statement_index, expectation, expected, actual: as in
    txgate_client.ExpectationFailed."""

    @property
    def _metadata(self) -> Dict[str, str]:
        return self.txgate_error.metadata if self.txgate_error is not None else {}

    @property
    def statement_index(self) -> int:
        return int(self._metadata.get("statement_index", "0"))

    @property
    def expectation(self) -> str:
        return self._metadata.get("expectation", "")

    @property
    def expected(self) -> int:
        return int(self._metadata.get("expected", "0"))

    @property
    def actual(self) -> int:
        return int(self._metadata.get("actual", "0"))


# The errno classes follow PyMySQL's (pymysql/err.py) and MySQLdb's, so code
# written for them catches the same classes; errnos not listed fall to the
# gRPC code's class below (txgate maps errnos to codes: README, "gRPC codes
# for MySQL errors").
_ERRNO_CLASSES: Dict[int, type] = {}
for _cls, _errnos in (
    (DataError, (1263, 1264, 1265, 1230, 1171, 1406, 1441, 1366, 1367,
                 1292, 1365, 1690)),
    (IntegrityError, (1022, 1062, 1169, 1216, 1217, 1451, 1452, 1215, 1048, 1557, 1586,
                      3819, 4025)),
    (ProgrammingError, (1007, 1008, 1049, 1050, 1051, 1054, 1060, 1061, 1064, 1091, 1102,
                        1103, 1110, 1111, 1112, 1113, 1146, 1149, 1166, 1176, 1210, 1305,
                        1318, 1327)),
    (NotSupportedError, (1196, 1235, 1286, 1289, 1399)),
    (OperationalError, (1040, 1044, 1045, 1142, 1143, 1205, 1213, 1290, 1792, 2006, 2013)),
):
    for _errno in _errnos:
        _ERRNO_CLASSES[_errno] = _cls

# txgate's ErrorReason when it decides more than the code does.
_REASON_CLASSES: Dict[str, type] = {
    "EXPECTATION_FAILED": ExpectationFailed,
    "IMPLICIT_COMMIT_REFUSED": NotSupportedError,
    "NON_TRANSACTIONAL_WRITE": NotSupportedError,
    "INVALID_REQUEST": ProgrammingError,
    "IDEMPOTENCY_KEY_REUSED": ProgrammingError,
    "TRANSACTION_LEFT_OPEN": ProgrammingError,
    "READ_ONLY_TOKEN": OperationalError,
    "TRANSACTION_ENDED_EARLY": OperationalError,
    "RESULT_TOO_LARGE": OperationalError,
    "PACKET_TOO_LARGE": OperationalError,
    "INTERNAL_ERROR": InternalError,
}

_S = grpc.StatusCode
_CODE_CLASSES: Dict[grpc.StatusCode, type] = {
    _S.INVALID_ARGUMENT: ProgrammingError,
    _S.NOT_FOUND: ProgrammingError,
    _S.ALREADY_EXISTS: IntegrityError,
    _S.FAILED_PRECONDITION: OperationalError,
    _S.OUT_OF_RANGE: DataError,
    _S.PERMISSION_DENIED: OperationalError,
    _S.UNAUTHENTICATED: OperationalError,
    _S.ABORTED: OperationalError,
    _S.UNAVAILABLE: OperationalError,
    _S.DEADLINE_EXCEEDED: OperationalError,
    _S.CANCELLED: OperationalError,
    _S.RESOURCE_EXHAUSTED: OperationalError,
    _S.UNKNOWN: OperationalError,
    _S.UNIMPLEMENTED: NotSupportedError,
    _S.INTERNAL: InternalError,
    _S.DATA_LOSS: InternalError,
}


def error_class(err: TxgateError) -> type:
    """The PEP 249 class for a txgate error: by MySQL errno when txgate passed
    one on (reason MYSQL_ERROR), else by txgate's reason, else by gRPC code."""
    if err.reason == "EXPECTATION_FAILED":
        return ExpectationFailed
    if err.mysql_errno is not None and err.mysql_errno in _ERRNO_CLASSES:
        return _ERRNO_CLASSES[err.mysql_errno]
    if err.reason in _REASON_CLASSES:
        return _REASON_CLASSES[err.reason]
    return _CODE_CLASSES.get(err.code, DatabaseError)


def map_error(err: TxgateError) -> Error:
    """The PEP 249 exception for a TxgateError (raise it `from err`)."""
    message = str(err)
    if err.mysql_errno is not None:
        message += f" (MySQL {err.mysql_errno}"
        message += f", SQLSTATE {err.mysql_sqlstate})" if err.mysql_sqlstate else ")"
    return error_class(err)(message, code=err.code, reason=err.reason, errno=err.mysql_errno,
                            sqlstate=err.mysql_sqlstate, txgate_error=err)


def repeat_error(err: Error) -> Error:
    """A copy of `err` (same class, message, code, reason, errno, sqlstate and
    txgate_error) to raise again `from err.txgate_error`: what every statement
    and commit() after a transaction's failure raises."""
    return type(err)(*err.args, code=err.code, reason=err.reason, errno=err.errno,
                     sqlstate=err.sqlstate, txgate_error=err.txgate_error)


# -- Types (PEP 249, "Type Objects and Constructors") -------------------------

class DBAPITypeObject:
    """Compares equal to each txgate column type name it stands for
    (Cursor.description's type_code, e.g. "BIGINT UNSIGNED", "VARCHAR")."""

    def __init__(self, *names: str):
        self.values = frozenset(names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            base = other.upper().replace(" UNSIGNED", "").replace(" ZEROFILL", "")
            return base in self.values
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(self.values)

    def __repr__(self) -> str:
        return f"DBAPITypeObject{tuple(sorted(self.values))}"


STRING = DBAPITypeObject("CHAR", "VARCHAR", "TEXT", "ENUM", "SET", "JSON")
BINARY = DBAPITypeObject("BINARY", "VARBINARY", "BLOB", "BIT", "GEOMETRY")
NUMBER = DBAPITypeObject("TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "FLOAT",
                         "DOUBLE", "DECIMAL", "YEAR")
DATETIME = DBAPITypeObject("DATE", "DATETIME", "TIMESTAMP", "TIME")
ROWID = DBAPITypeObject()  # MariaDB has no row-id type

Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime
Binary = bytes


# PEP 249's sample constructors use local time; txgate keeps datetimes in UTC
# (txgate_client.values: aware datetimes are converted to UTC, naive ones are
# taken as UTC), so these read the ticks in UTC too.
def DateFromTicks(ticks: float) -> _dt.date:
    return _dt.datetime.fromtimestamp(ticks, _dt.timezone.utc).date()


def TimeFromTicks(ticks: float) -> _dt.time:
    return _dt.datetime.fromtimestamp(ticks, _dt.timezone.utc).time()


def TimestampFromTicks(ticks: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ticks, _dt.timezone.utc).replace(tzinfo=None)



# -- connect() arguments -----------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InterfaceError(f"connect(): {name}={value!r} is not a boolean")


@dataclasses.dataclass
class ConnectArgs:
    """connect()'s arguments, from a DSN and keywords (keywords win)."""
    target: str
    tls: bool = False
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    token: Optional[str] = None
    autocommit: bool = False
    timeout: Optional[float] = 30.0
    isolation: Optional[str] = None
    read_only: bool = False
    options: Tuple[Tuple[str, Any], ...] = ()

    def credentials(self) -> Optional[grpc.ChannelCredentials]:
        if not self.tls:
            return None

        def read(path: Optional[str]) -> Optional[bytes]:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()
        return grpc.ssl_channel_credentials(read(self.ca_file), read(self.key_file),
                                            read(self.cert_file))


_DSN_KEYS = {"tls", "ca_file", "cert_file", "key_file", "token_file", "autocommit",
             "timeout", "isolation", "read_only"}


def parse_connect(dsn: Optional[str], kwargs: Mapping[str, Any]) -> ConnectArgs:
    """Reads connect()'s arguments: a DSN "txgate://HOST:PORT?tls=true&..."
    (its query keys as the keywords of the same name) or a gRPC target
    ("host:port", "ipv4:10.0.0.1:50051,10.0.0.2:50051", "dns:///txgate:50051").
    `token_file` names a file holding the bearer token (whitespace stripped)."""
    values: Dict[str, Any] = {}
    target = kwargs.get("target")
    if dsn is not None:
        if dsn.startswith("txgate://"):
            parts = urllib.parse.urlsplit(dsn)
            target = parts.netloc
            for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
                if key not in _DSN_KEYS:
                    raise InterfaceError(f"connect(): unknown DSN key {key!r}")
                values[key] = value
        else:
            target = dsn
    values.update({k: v for k, v in kwargs.items() if k != "target" and v is not None})
    unknown = set(values) - _DSN_KEYS - {"token", "options"}
    if unknown:
        raise InterfaceError(f"connect(): unknown argument(s) {', '.join(sorted(unknown))}")
    if not target:
        raise InterfaceError("connect(): a target (host:port) or DSN is required")
    token = values.get("token")
    if values.get("token_file"):
        with open(values["token_file"], encoding="utf-8") as f:
            token = f.read().strip()
    timeout = values.get("timeout", 30.0)
    return ConnectArgs(
        target=target, tls=_flag("tls", values.get("tls", False)),
        ca_file=values.get("ca_file"), cert_file=values.get("cert_file"),
        key_file=values.get("key_file"), token=token,
        autocommit=_flag("autocommit", values.get("autocommit", False)),
        timeout=None if timeout in ("", "none") else float(timeout),
        isolation=values.get("isolation"), read_only=_flag("read_only",
                                                           values.get("read_only", False)),
        options=tuple(values.get("options", ())))


def check_params(parameters: Any) -> Sequence[Any]:
    """The parameters of one statement as a sequence (qmark: positional only)."""
    if parameters is None:
        return ()
    if isinstance(parameters, (str, bytes, bytearray)):
        raise ProgrammingError("parameters must be a sequence of values, not a string")
    if isinstance(parameters, Mapping):
        raise ProgrammingError("paramstyle is 'qmark': pass parameters as a sequence")
    return list(parameters)


# Expectation keywords of Cursor.execute (txgate_client.statement's).
EXPECT_KEYS = frozenset({"affected_rows", "min_affected_rows", "max_affected_rows", "rows",
                         "min_rows", "max_rows"})


def check_expect(expect: Mapping[str, Any]) -> None:
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise InterfaceError(f"execute(): unknown keyword(s) {', '.join(sorted(unknown))}")


def _sizes(column: Any) -> Tuple[Optional[int], Optional[int], Optional[int]]:
    """(length, precision, scale) of a txgate.v1.Column, None where unknown:
    length 0 is unknown; precision is DECIMAL's (0 for other types); scale is
    a real 0 for a DECIMAL(M,0), otherwise 0 means none (the proto's rules)."""
    length, precision, scale = (getattr(column, n, 0) for n in ("length", "precision", "scale"))
    return (length or None, precision or None,
            scale if (precision or scale) else None)


class ResultBuffer:
    """A cursor's state: the last statement's rows, counts and description."""

    def __init__(self) -> None:
        self.arraysize = 1
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.description: Optional[List[Tuple[Any, ...]]] = None
        self.rowcount = -1
        self.lastrowid: Optional[int] = None
        self.warning_count = 0
        self._rows: List[Row] = []
        self._pos = 0

    def _set(self, result: Result) -> None:
        self._reset()
        if result.columns:
            self.description = []
            for c in result.columns:
                length, precision, scale = _sizes(c)
                self.description.append((c.name, c.type, length, length, precision, scale,
                                         c.nullable))
            self._rows = list(result.rows)
            self.rowcount = len(self._rows)
        else:
            self.rowcount = result.affected_rows
        self.lastrowid = result.last_insert_id or None
        self.warning_count = result.warning_count

    @property
    def rownumber(self) -> Optional[int]:
        """The 0-based index of the next row to fetch; None without a result set."""
        return None if self.description is None else self._pos

    def _check_open(self) -> None:
        if self.closed:
            raise InterfaceError("the cursor is closed")

    def _check_rows(self) -> None:
        self._check_open()
        if self.description is None:
            raise ProgrammingError("the last statement returned no result set "
                                   "(or nothing was executed yet)")

    def _fetchone(self) -> Optional[Row]:
        self._check_rows()
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def _fetchmany(self, size: Optional[int]) -> List[Row]:
        self._check_rows()
        n = self.arraysize if size is None else size
        rows = self._rows[self._pos:self._pos + n]
        self._pos += len(rows)
        return rows

    def _fetchall(self) -> List[Row]:
        self._check_rows()
        rows = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rows

    def setinputsizes(self, sizes: Any) -> None:
        """Does nothing (PEP 249 allows it): values carry their own types."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """Does nothing (PEP 249 allows it)."""
