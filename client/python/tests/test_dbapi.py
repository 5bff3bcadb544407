"""txgate_dbapi (PEP 249) against a live txgate and a real MariaDB (TXGATE_ADDR),
plus its offline parts (error map, type objects, connect arguments)."""

import datetime as dt
import decimal
import threading

import grpc
import pytest

import txgate_dbapi
from txgate_client import TxgateError

DECIMAL_65_30 = decimal.Decimal("-" + "9" * 35 + "." + "0" * 29 + "1")


@pytest.fixture
def conn(addr):
    c = txgate_dbapi.connect(addr)
    yield c
    c.close()


@pytest.fixture
def table(addr):
    """A fresh table t_dbapi (id INT PK AUTO_INCREMENT, n BIGINT, s VARCHAR(20))."""
    with txgate_dbapi.connect(addr, autocommit=True) as c:
        cur = c.cursor()
        cur.execute("DROP TABLE IF EXISTS t_dbapi")
        cur.execute("CREATE TABLE t_dbapi (id INT AUTO_INCREMENT PRIMARY KEY, "
                    "n BIGINT NOT NULL, s VARCHAR(20) NULL, CHECK (n >= 0))")
    return "t_dbapi"


def count(addr, where="1"):
    """Rows of t_dbapi seen from another connection (committed data only)."""
    with txgate_dbapi.connect(addr, autocommit=True) as c:
        return c.cursor().execute(f"SELECT COUNT(*) FROM t_dbapi WHERE {where}").fetchone()[0]


def test_module_globals():
    assert txgate_dbapi.apilevel == "2.0"
    assert txgate_dbapi.threadsafety == 1
    assert txgate_dbapi.paramstyle == "qmark"
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                 "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError"):
        assert issubclass(getattr(txgate_dbapi, name), Exception)
    assert issubclass(txgate_dbapi.IntegrityError, txgate_dbapi.DatabaseError)
    assert issubclass(txgate_dbapi.DatabaseError, txgate_dbapi.Error)
    assert issubclass(txgate_dbapi.InterfaceError, txgate_dbapi.Error)
    assert txgate_dbapi.Connection.IntegrityError is txgate_dbapi.IntegrityError


def test_type_objects_and_constructors():
    assert "BIGINT UNSIGNED" == txgate_dbapi.NUMBER and "DECIMAL" == txgate_dbapi.NUMBER
    assert "VARCHAR" == txgate_dbapi.STRING and "JSON" == txgate_dbapi.STRING
    assert "VARBINARY" == txgate_dbapi.BINARY and "BLOB" == txgate_dbapi.BINARY
    assert "DATETIME" == txgate_dbapi.DATETIME and "TIME" == txgate_dbapi.DATETIME
    assert "VARCHAR" != txgate_dbapi.NUMBER and "INT" != txgate_dbapi.ROWID
    assert txgate_dbapi.Date(2024, 2, 29) == dt.date(2024, 2, 29)
    assert txgate_dbapi.Binary(b"\x00") == b"\x00"
    # UTC, like the values module (not local time as PEP 249's sample code).
    assert txgate_dbapi.TimestampFromTicks(86400.5) == dt.datetime(1970, 1, 2, 0, 0, 0, 500000)
    assert txgate_dbapi.DateFromTicks(0) == dt.date(1970, 1, 1)
    assert txgate_dbapi.TimeFromTicks(3661) == dt.time(1, 1, 1)


@pytest.mark.parametrize("code,reason,errno,cls", [
    (grpc.StatusCode.ALREADY_EXISTS, "MYSQL_ERROR", "1062", "IntegrityError"),
    (grpc.StatusCode.FAILED_PRECONDITION, "MYSQL_ERROR", "1452", "IntegrityError"),
    (grpc.StatusCode.INVALID_ARGUMENT, "MYSQL_ERROR", "1048", "IntegrityError"),
    (grpc.StatusCode.OUT_OF_RANGE, "MYSQL_ERROR", "1264", "DataError"),
    (grpc.StatusCode.INVALID_ARGUMENT, "MYSQL_ERROR", "1406", "DataError"),
    (grpc.StatusCode.INVALID_ARGUMENT, "MYSQL_ERROR", "1064", "ProgrammingError"),
    (grpc.StatusCode.NOT_FOUND, "MYSQL_ERROR", "1146", "ProgrammingError"),
    (grpc.StatusCode.ABORTED, "MYSQL_ERROR", "1213", "OperationalError"),
    (grpc.StatusCode.PERMISSION_DENIED, "MYSQL_ERROR", "1142", "OperationalError"),
    (grpc.StatusCode.FAILED_PRECONDITION, "MYSQL_ERROR", "1644", "OperationalError"),
    (grpc.StatusCode.INVALID_ARGUMENT, "IMPLICIT_COMMIT_REFUSED", None, "NotSupportedError"),
    (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", None, "ProgrammingError"),
    (grpc.StatusCode.FAILED_PRECONDITION, "EXPECTATION_FAILED", None, "ExpectationFailed"),
    (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED", None, "ProgrammingError"),
    (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE", "2003", "OperationalError"),
    (grpc.StatusCode.UNAVAILABLE, "", None, "OperationalError"),
    (grpc.StatusCode.UNKNOWN, "COMMIT_OUTCOME_UNKNOWN", "2013", "OperationalError"),
    (grpc.StatusCode.ABORTED, "TRANSACTION_LOST", None, "OperationalError"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "RESULT_TOO_LARGE", None, "OperationalError"),
    (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", None, "OperationalError"),
    (grpc.StatusCode.INTERNAL, "INTERNAL_ERROR", None, "InternalError"),
    (grpc.StatusCode.DATA_LOSS, "", None, "InternalError"),
])
def test_error_map(code, reason, errno, cls):
    meta = {"mysql_errno": errno, "mysql_sqlstate": "HY000"} if errno else {}
    err = txgate_dbapi.map_error(TxgateError(code, "boom", reason, "txgate.dev", meta))
    assert type(err).__name__ == cls
    assert (err.code, err.reason) == (code, reason)
    assert err.errno == (int(errno) if errno else None)


def test_connect_arguments(tmp_path):
    from txgate_dbapi._core import parse_connect
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    a = parse_connect(f"txgate://db.example:443?tls=true&token_file={token}&autocommit=1"
                      "&timeout=5&isolation=READ%20COMMITTED", {})
    assert (a.target, a.tls, a.token, a.autocommit, a.timeout, a.isolation) == (
        "db.example:443", True, "s3cret", True, 5.0, "READ COMMITTED")
    a = parse_connect("ipv4:127.0.0.1:1,127.0.0.1:2", {"autocommit": None})
    assert (a.target, a.tls, a.autocommit, a.timeout) == (
        "ipv4:127.0.0.1:1,127.0.0.1:2", False, False, 30.0)
    with pytest.raises(txgate_dbapi.InterfaceError):
        parse_connect("txgate://h:1?bogus=1", {})
    with pytest.raises(txgate_dbapi.InterfaceError):
        parse_connect(None, {})


def test_values_round_trip_and_description(conn, addr):
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS t_dbapi_types")
    cur.execute("""CREATE TABLE t_dbapi_types (id INT PRIMARY KEY, u BIGINT UNSIGNED,
        d DECIMAL(65,30), b VARBINARY(16), ts DATETIME(6), da DATE, ti TIME(6),
        s VARCHAR(20) NULL) CHARACTER SET utf8mb4""")
    aware = dt.datetime(2024, 2, 29, 18, 30, 0, 250000,
                        tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    row = (1, (1 << 64) - 1, DECIMAL_65_30, b"\x00\xff", aware, dt.date(1000, 1, 1),
           -dt.timedelta(hours=838), None)
    cur.execute("INSERT INTO t_dbapi_types VALUES (?,?,?,?,?,?,?,?)", row)
    assert cur.rowcount == 1 and cur.description is None
    conn.commit()
    cur.execute("SELECT * FROM t_dbapi_types")
    got = cur.fetchone()
    # The aware datetime is stored in UTC (18:30 -05:00 = 23:30 UTC), read back naive.
    assert got == row[:4] + (dt.datetime(2024, 2, 29, 23, 30, 0, 250000),) + row[5:]
    assert isinstance(got[2], decimal.Decimal) and got["d"] == DECIMAL_65_30
    assert got["u"] == (1 << 64) - 1 and got[7] is None
    names = [d[0] for d in cur.description]
    assert names == ["id", "u", "d", "b", "ts", "da", "ti", "s"]
    assert all(len(d) == 7 for d in cur.description)
    types = {d[0]: d[1] for d in cur.description}
    assert types["u"] == "BIGINT UNSIGNED" and types["u"] == txgate_dbapi.NUMBER
    assert types["d"] == txgate_dbapi.NUMBER and types["b"] == txgate_dbapi.BINARY
    assert types["ts"] == txgate_dbapi.DATETIME and types["s"] == txgate_dbapi.STRING
    assert [d[6] for d in cur.description] == [False, True, True, True, True, True, True, True]
    assert cur.rowcount == 1 and cur.fetchone() is None


def test_commit_makes_visible_and_rollback_discards(conn, table, addr):
    cur = conn.cursor()
    assert not conn.in_transaction and not conn.autocommit
    cur.execute("INSERT INTO t_dbapi (n, s) VALUES (?, ?)", (1, "a"))
    assert conn.in_transaction and cur.rowcount == 1 and cur.lastrowid == 1
    assert count(addr) == 0  # not committed yet: another connection sees nothing
    conn.commit()
    assert not conn.in_transaction and count(addr) == 1
    cur.execute("INSERT INTO t_dbapi (n, s) VALUES (?, ?)", (2, "b"))
    conn.rollback()
    assert count(addr) == 1
    conn.commit()  # nothing open: nothing to do
    cur.execute("UPDATE t_dbapi SET s = 'c'")
    conn.close()  # closing rolls back what is not committed
    assert count(addr, "s = 'c'") == 0
    with pytest.raises(txgate_dbapi.InterfaceError):
        cur.execute("SELECT 1")
    with pytest.raises(txgate_dbapi.InterfaceError):
        conn.cursor()
    conn.close()  # idempotent


def test_context_manager_commits_or_rolls_back(table, addr):
    with txgate_dbapi.connect(addr) as c:
        c.cursor().execute("INSERT INTO t_dbapi (n) VALUES (?)", (1,))
    assert count(addr) == 1
    with pytest.raises(RuntimeError):
        with txgate_dbapi.connect(addr) as c:
            c.cursor().execute("INSERT INTO t_dbapi (n) VALUES (?)", (2,))
            raise RuntimeError("application error")
    assert count(addr) == 1


def test_autocommit_runs_each_statement_on_its_own(table, addr):
    c = txgate_dbapi.connect(f"txgate://{addr}?autocommit=true")
    cur = c.cursor()
    cur.execute("INSERT INTO t_dbapi (n) VALUES (?)", (5,))
    assert not c.in_transaction and count(addr) == 1 and cur.lastrowid == 1
    c.autocommit = False
    cur.execute("INSERT INTO t_dbapi (n) VALUES (?)", (6,))
    assert c.in_transaction and count(addr) == 1
    c.autocommit = True  # commits the open transaction, as SET autocommit = 1 does
    assert not c.in_transaction and count(addr) == 2
    c.close()


def test_fetch_methods_and_iteration(conn, table):
    cur = conn.cursor()
    with pytest.raises(txgate_dbapi.ProgrammingError):
        cur.fetchone()  # nothing executed yet
    cur.executemany("INSERT INTO t_dbapi (n, s) VALUES (?, ?)",
                    [(i, f"s{i}") for i in range(1, 8)])
    assert cur.rowcount == 7 and cur.lastrowid == 7
    with pytest.raises(txgate_dbapi.ProgrammingError):
        cur.fetchall()  # an INSERT returns no result set
    assert cur.execute("SELECT n, s FROM t_dbapi ORDER BY n") is cur
    assert cur.rowcount == 7 and cur.arraysize == 1
    assert cur.fetchone() == (1, "s1")
    assert cur.fetchmany() == [(2, "s2")]
    cur.arraysize = 2
    assert [r["n"] for r in cur.fetchmany()] == [3, 4]
    assert cur.fetchmany(10) == [(5, "s5"), (6, "s6"), (7, "s7")]
    assert cur.fetchall() == [] and cur.fetchone() is None
    cur.execute("SELECT n FROM t_dbapi WHERE n > ? ORDER BY n", [5])
    assert [r[0] for r in cur] == [6, 7]
    cur.execute("SELECT n AS x, s AS x FROM t_dbapi WHERE n = 1")
    row = cur.fetchone()
    assert row == (1, "s1") and row.keys() == ("x", "x")
    with pytest.raises(KeyError, match="ambiguous"):
        row["x"]
    with pytest.raises(txgate_dbapi.ProgrammingError):
        cur.execute("SELECT ?", {"a": 1})  # qmark only
    with pytest.raises(txgate_dbapi.ProgrammingError):
        cur.execute("SELECT ?", "a")
    cur.close()
    with pytest.raises(txgate_dbapi.InterfaceError):
        cur.fetchone()


def test_errors_carry_mysql_detail_and_end_the_transaction(conn, table, addr):
    cur = conn.cursor()
    cur.execute("INSERT INTO t_dbapi (id, n) VALUES (?, ?)", (1, 1))
    with pytest.raises(txgate_dbapi.IntegrityError) as e:
        cur.execute("INSERT INTO t_dbapi (id, n) VALUES (?, ?)", (1, 2))
    assert (e.value.errno, e.value.sqlstate, e.value.reason) == (1062, "23000", "MYSQL_ERROR")
    assert isinstance(e.value.__cause__, TxgateError)
    # The error rolled the transaction back: the first INSERT is gone, and
    # nothing runs (nor commits) until rollback() acknowledges it: each
    # statement and the commit raise the first error again, whole.
    first = e.value
    for again in (lambda: cur.execute("SELECT 1"), conn.commit):
        with pytest.raises(txgate_dbapi.IntegrityError) as e:
            again()
        assert e.value is not first and str(e.value) == str(first)
        assert (e.value.code, e.value.reason, e.value.errno, e.value.sqlstate) == (
            first.code, first.reason, 1062, "23000")
        assert e.value.__cause__ is first.txgate_error is e.value.txgate_error
    conn.commit()  # commit() raised once and ended the failed transaction
    assert count(addr) == 0
    with pytest.raises(txgate_dbapi.ProgrammingError) as e:
        cur.execute("SELEC 1")
    assert e.value.errno == 1064
    conn.rollback()
    with pytest.raises(txgate_dbapi.ProgrammingError) as e:
        cur.execute("SELECT * FROM no_such_table_dbapi")
    assert e.value.errno == 1146
    conn.rollback()
    with pytest.raises(txgate_dbapi.DataError) as e:
        cur.execute("INSERT INTO t_dbapi (n, s) VALUES (?, ?)", (1, "x" * 21))
    assert e.value.errno == 1406
    conn.rollback()
    with pytest.raises(txgate_dbapi.IntegrityError) as e:
        cur.execute("INSERT INTO t_dbapi (n) VALUES (?)", (-1,))  # CHECK (n >= 0)
    assert e.value.errno == 4025
    conn.rollback()
    with pytest.raises(txgate_dbapi.ProgrammingError) as e:
        cur.execute("SELECT ?, ?", (1,))  # wrong parameter count
    assert e.value.reason == "INVALID_REQUEST"
    conn.rollback()


def test_statements_that_commit_implicitly(conn, table, addr):
    cur = conn.cursor()
    # First statement of a transaction: nothing to commit, so it runs on its own.
    cur.execute("CREATE TABLE IF NOT EXISTS t_dbapi_ddl (a INT)")
    assert not conn.in_transaction
    cur.execute("INSERT INTO t_dbapi (n) VALUES (?)", (1,))
    with pytest.raises(txgate_dbapi.NotSupportedError) as e:
        cur.execute("DROP TABLE t_dbapi_ddl")
    assert e.value.reason == "IMPLICIT_COMMIT_REFUSED"
    conn.rollback()
    assert count(addr) == 0  # the transaction was rolled back, the table still exists
    cur.execute("DROP TABLE t_dbapi_ddl")


def test_expectations(conn, table, addr):
    cur = conn.cursor()
    cur.execute("INSERT INTO t_dbapi (id, n) VALUES (1, 10)")
    conn.commit()
    cur.execute("UPDATE t_dbapi SET n = n - ? WHERE id = 1 AND n >= ?", (5, 5),
                min_affected_rows=1)
    conn.commit()
    cur.execute("UPDATE t_dbapi SET s = 'x' WHERE id = 1")
    with pytest.raises(txgate_dbapi.ExpectationFailed) as e:
        cur.execute("UPDATE t_dbapi SET n = n - ? WHERE id = 1 AND n >= ?", (50, 50),
                    min_affected_rows=1)
    assert (e.value.expectation, e.value.expected, e.value.actual) == ("min_affected_rows", 1, 0)
    conn.rollback()
    assert count(addr, "n = 5 AND s IS NULL") == 1
    # In autocommit mode, a statement with an expectation runs as a
    # one-statement transaction.
    conn.autocommit = True
    with pytest.raises(txgate_dbapi.ExpectationFailed):
        cur.execute("SELECT n FROM t_dbapi WHERE id = 2", min_rows=1)
    with pytest.raises(txgate_dbapi.InterfaceError):
        cur.execute("SELECT 1", bogus=1)


def test_deadlock_is_operational_error_with_errno_1213(addr, table):
    with txgate_dbapi.connect(addr, autocommit=True) as c:
        c.cursor().executemany("INSERT INTO t_dbapi (id, n) VALUES (?, 0)", [(1,), (2,)])
    a, b = txgate_dbapi.connect(addr), txgate_dbapi.connect(addr)
    ca, cb = a.cursor(), b.cursor()
    ca.execute("SELECT n FROM t_dbapi WHERE id = 1 FOR UPDATE")
    cb.execute("UPDATE t_dbapi SET n = n + 1 WHERE id IN (2)")
    errors = []

    def b_takes_1():
        try:
            cb.execute("UPDATE t_dbapi SET n = n + 1 WHERE id = 1")
        except txgate_dbapi.Error as e:
            errors.append(e)
    t = threading.Thread(target=b_takes_1)
    t.start()
    # a waits for row 2 while b waits for row 1: InnoDB kills one of them.
    try:
        ca.execute("SELECT n FROM t_dbapi WHERE id = 2 FOR UPDATE")
    except txgate_dbapi.Error as e:
        errors.append(e)
    t.join()
    assert len(errors) == 1, errors
    err = errors[0]
    assert isinstance(err, txgate_dbapi.OperationalError)
    assert (err.errno, err.code) == (1213, grpc.StatusCode.ABORTED)
    a.close()
    b.close()


def test_description_sizes_from_column_metadata():
    from txgate.v1 import database_pb2 as pb
    from txgate_client import Result
    from txgate_dbapi._core import ResultBuffer
    cur = ResultBuffer()
    cur._set(Result.from_proto(pb.ResultSet(columns=[
        pb.Column(name="d", type="DECIMAL", nullable=True, length=12, precision=10, scale=0),
        pb.Column(name="t", type="DATETIME", length=26, scale=6),
        pb.Column(name="v", type="VARCHAR", length=40),
        pb.Column(name="x", type="INT")])))
    assert cur.description == [("d", "DECIMAL", 12, 12, 10, 0, True),
                               ("t", "DATETIME", 26, 26, None, 6, False),
                               ("v", "VARCHAR", 40, 40, None, None, False),
                               ("x", "INT", None, None, None, None, False)]
