"""Tests against a live txgate and a real MariaDB (TXGATE_ADDR; see conftest.py)."""

import datetime as dt
import decimal
import threading
import uuid

import grpc
import pytest

from conftest import eventually, kill_txgate_sessions
from txgate_client import UINT64_MAX, Client, ExpectationFailed, TxgateError, statement

DECIMAL_65_30 = decimal.Decimal("-" + "9" * 35 + "." + "0" * 29 + "1")
ROW = (
    1,
    None,
    UINT64_MAX,
    DECIMAL_65_30,
    b"\x00\xff\x00txgate\xff",
    dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
    dt.date(1000, 1, 1),
    -dt.timedelta(hours=838, minutes=59, seconds=59, microseconds=999999),
    dt.timedelta(hours=100, minutes=1, seconds=2, microseconds=500000),
    -(1 << 63),
    "héllo ☃",
)


def test_typed_values_round_trip(db):
    db.execute("DROP TABLE IF EXISTS py_types")
    db.execute("""CREATE TABLE py_types (
        id INT PRIMARY KEY, n VARCHAR(10) NULL, u BIGINT UNSIGNED, d DECIMAL(65,30),
        b VARBINARY(32), ts DATETIME(6), da DATE, neg TIME(6), big TIME(6), i BIGINT,
        s VARCHAR(20)) CHARACTER SET utf8mb4""")
    res = db.execute("INSERT INTO py_types VALUES (?,?,?,?,?,?,?,?,?,?,?)", ROW)
    assert res.affected_rows == 1
    res = db.execute("SELECT * FROM py_types WHERE id = ?", [1])
    assert res.rows == [ROW]
    types = dict(zip(res.column_names, (c.type for c in res.columns)))
    assert types["u"] == "BIGINT UNSIGNED" and types["d"] == "DECIMAL"
    assert [c.nullable for c in res.columns][:2] == [False, True]
    # And the same values as bare parameters, echoed back by the server.
    echoed = db.execute("SELECT ?, ?, ?, ?", [None, UINT64_MAX, b"\x00\xff", 2.5]).rows[0]
    assert echoed == (None, UINT64_MAX, b"\x00\xff", 2.5)


def test_mysql_error_detail(db):
    with pytest.raises(TxgateError) as e:
        db.execute("SELEC 1")
    err = e.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.domain, err.reason) == ("txgate.dev", "MYSQL_ERROR")
    assert (err.mysql_errno, err.mysql_sqlstate) == (1064, "42000")
    assert "SQL syntax" in err.mysql_message


def test_run_transaction(db):
    db.execute("DROP TABLE IF EXISTS py_accounts")
    db.execute("CREATE TABLE py_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
    db.execute("INSERT INTO py_accounts VALUES (1, 100), (2, 0)")
    res = db.run_transaction([
        ("UPDATE py_accounts SET balance = balance - ? WHERE id = ?", [30, 1]),
        ("UPDATE py_accounts SET balance = balance + ? WHERE id = ?", [30, 2]),
        "SELECT id, balance FROM py_accounts ORDER BY id",
    ], isolation="read committed")
    assert [r.affected_rows for r in res.results[:2]] == [1, 1]
    assert res.results[2].rows == [(1, 70), (2, 30)]
    assert res.attempts >= 1 and res.calls == 1 and len(res.idempotency_key) == 36
    # All or nothing: the failing second statement undoes the first.
    with pytest.raises(TxgateError) as e:
        db.run_transaction([("UPDATE py_accounts SET balance = 0 WHERE id = ?", [1]),
                            ("INSERT INTO py_accounts VALUES (?, ?)", [2, 5])])
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS and e.value.mysql_errno == 1062
    assert db.execute("SELECT balance FROM py_accounts WHERE id = 1").rows == [(70,)]


def test_run_transaction_retried_with_its_key_applies_once(db):
    db.execute("DROP TABLE IF EXISTS py_once")
    db.execute("CREATE TABLE py_once (id INT PRIMARY KEY)")
    key = str(uuid.uuid4())
    stmts = [("INSERT INTO py_once VALUES (?)", [1])]
    first = db.run_transaction(stmts, idempotency_key=key)
    again = db.run_transaction(stmts, idempotency_key=key)  # a retry: the stored response
    assert first.results[0].affected_rows == again.results[0].affected_rows == 1
    assert db.execute("SELECT COUNT(*) FROM py_once").rows == [(1,)]


def test_conditional_transfer(db):
    db.execute("DROP TABLE IF EXISTS py_cond")
    db.execute("CREATE TABLE py_cond (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
    db.execute("INSERT INTO py_cond VALUES (1, 65), (2, 0)")
    transfer = [
        statement("UPDATE py_cond SET balance = balance - ? WHERE id = 1 AND balance >= ?",
                  [1000, 1000], min_affected_rows=1),
        statement("UPDATE py_cond SET balance = balance + ? WHERE id = 2", [1000],
                  affected_rows=1),
    ]
    key = str(uuid.uuid4())
    with pytest.raises(ExpectationFailed) as e:
        db.run_transaction(transfer, idempotency_key=key)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.reason == "EXPECTATION_FAILED" and e.value.idempotency_key == key
    assert (e.value.statement_index, e.value.expectation, e.value.expected,
            e.value.actual) == (1, "min_affected_rows", 1, 0)
    balances = "SELECT balance FROM py_cond ORDER BY id"
    assert db.execute(balances).rows == [(65,), (0,)]
    # The failure used up nothing: after a top-up the same key succeeds, once.
    db.execute("UPDATE py_cond SET balance = balance + 1000 WHERE id = 1")
    db.run_transaction(transfer, idempotency_key=key)
    db.run_transaction(transfer, idempotency_key=key)
    assert db.execute(balances).rows == [(65,), (1000,)]
    # "Returns a row": a guard on a row that is not there.
    with pytest.raises(ExpectationFailed) as e:
        db.run_transaction([transfer[1], statement(
            "SELECT balance FROM py_cond WHERE id = ? FOR UPDATE", [3], min_rows=1)])
    assert (e.value.statement_index, e.value.expectation) == (2, "min_rows")
    # In an interactive transaction, keyword arguments; an unmet one ends it.
    with db.transaction() as tx:
        tx.execute("UPDATE py_cond SET balance = balance + ? WHERE id = 2", [1000],
                   affected_rows=1)
        with pytest.raises(ExpectationFailed) as e:
            tx.execute("UPDATE py_cond SET balance = balance - ? WHERE id = 1 AND balance >= ?",
                       [1000, 1000], min_affected_rows=1)
        assert e.value.statement_index == 2
    assert db.execute(balances).rows == [(65,), (1000,)]


def test_stream_query_in_chunks(db):
    with db.stream_query("SELECT seq, REPEAT('x', 100) FROM seq_1_to_2500 WHERE seq > ?", [0],
                         max_rows_per_chunk=400) as rows:
        got = [r[0] for r in rows]
    assert got == list(range(1, 2501))
    assert rows.chunks >= 7 and rows.done
    assert [c.name for c in rows.columns] == ["seq", "REPEAT('x', 100)"]


def test_stream_query_error(db):
    with pytest.raises(TxgateError) as e:
        list(db.stream_query("SELECT * FROM py_no_such_table"))
    assert e.value.code == grpc.StatusCode.NOT_FOUND and e.value.mysql_errno == 1146


# Sizes (README, "Limits"): txgate bounds every response message's encoded
# size by --max_result_bytes, by default 64 KiB under gRPC's default 4 MiB
# receive limit, which this client keeps.
CLIENT_LIMIT = 4 << 20
SERVER_LIMIT = (4 << 20) - (64 << 10)
PATTERN = bytes((i * 7919 + (i >> 3)) & 0xFF for i in range(4093))  # a prime period
TEXT = "ab€😀é"  # 1- to 4-byte characters: pieces are cut between them


def test_stream_query_values_of_5_and_64_mib_arrive_whole(db):
    # Needs the server's max_allowed_packet above 64 MiB (tests/clients/run.sh).
    size = 64 << 20
    sql = "SELECT 1, LEFT(REPEAT(?, ?), ?), 'after', REPEAT(?, ?), 2"
    reps = -(-(5 << 20) // len(TEXT.encode()))  # at least 5 MiB
    with db.stream_query(sql, [PATTERN, size // len(PATTERN) + 1, size, TEXT, reps],
                         timeout=120) as rows:
        got = list(rows)
    assert len(got) == 1 and rows.done
    one, blob, after, text, two = got[0]
    assert (one, after, two) == (1, "after", 2)
    assert len(blob) == size
    assert blob == (PATTERN * (size // len(PATTERN) + 1))[:size]
    assert text == TEXT * reps and len(text.encode()) >= 5 << 20
    assert rows.chunks >= 18  # split: every chunk within the 4 MiB bound


def _encoded_overhead(db):
    """Bytes an ExecuteResponse of one REPEAT('x', n) value adds to n, for
    n in 2 MiB..256 MiB (where every length takes a 4-byte varint)."""
    from txgate.v1 import database_pb2 as pb
    n = 3 << 20
    resp = db.stub.Execute(pb.ExecuteRequest(sql="SELECT REPEAT('x', ?) AS v",
                                             params=[pb.Value(int64_value=n)]), timeout=30)
    return resp.ByteSize() - n


def test_results_around_4_mib_are_the_result_or_result_too_large_never_a_client_failure(db):
    overhead = _encoded_overhead(db)
    for encoded in [CLIENT_LIMIT + d for d in (-64, -1, 0, 1, 64)] + \
                   [SERVER_LIMIT + d for d in (-64, -1, 0, 1, 64)]:
        n = encoded - overhead
        try:
            result = db.execute("SELECT REPEAT('x', ?) AS v", [n])
        except TxgateError as e:
            assert e.reason == "RESULT_TOO_LARGE", (encoded, e)
            assert "StreamQuery" in e.message
            assert encoded > SERVER_LIMIT
        else:
            assert encoded <= SERVER_LIMIT
            assert result.rows == [("x" * n,)]
        # StreamQuery delivers it whatever its size.
        with db.stream_query("SELECT REPEAT('x', ?) AS v", [n]) as rows:
            assert list(rows) == [("x" * n,)]


def _setup_tx_table(db):
    db.execute("DROP TABLE IF EXISTS py_tx")
    db.execute("CREATE TABLE py_tx (id INT PRIMARY KEY, v VARCHAR(10))")


def test_interactive_commit(db):
    _setup_tx_table(db)
    with db.transaction(isolation="REPEATABLE_READ", timeout=30) as tx:
        assert tx.execute("INSERT INTO py_tx VALUES (?, ?)", [1, "a"]).affected_rows == 1
        assert tx.execute("SELECT v FROM py_tx WHERE id = ?", [1]).rows == [("a",)]
        assert db.execute("SELECT COUNT(*) FROM py_tx").rows == [(0,)]  # not yet visible
        key = tx.commit()
    assert tx.state == "committed" and len(key) == 36
    assert db.execute("SELECT v FROM py_tx").rows == [("a",)]


def test_interactive_rollback(db):
    _setup_tx_table(db)
    with db.transaction() as tx:
        tx.execute("INSERT INTO py_tx VALUES (?, ?)", [1, "a"])
        tx.rollback()
    assert tx.state == "rolled back"
    with db.transaction() as tx:  # no commit: leaving the block rolls back
        tx.execute("INSERT INTO py_tx VALUES (?, ?)", [2, "b"])
    assert tx.state == "rolled back"
    with pytest.raises(ZeroDivisionError):
        with db.transaction() as tx:
            tx.execute("INSERT INTO py_tx VALUES (?, ?)", [3, "c"])
            1 / 0
    assert tx.state == "rolled back"
    assert db.execute("SELECT COUNT(*) FROM py_tx").rows == [(0,)]


def test_interactive_statement_error_ends_the_transaction(db):
    _setup_tx_table(db)
    with db.transaction() as tx:
        tx.execute("INSERT INTO py_tx VALUES (?, ?)", [1, "a"])
        with pytest.raises(TxgateError) as e:
            tx.execute("INSERT INTO py_tx VALUES (?, ?)", [1, "dup"])
        assert e.value.mysql_errno == 1062
    assert db.execute("SELECT COUNT(*) FROM py_tx").rows == [(0,)]


def test_survives_killed_pooled_connections(db):
    db.execute("DROP TABLE IF EXISTS py_kill")
    db.execute("CREATE TABLE py_kill (id INT PRIMARY KEY)")
    for _ in range(3):
        assert db.execute("SELECT 1").rows == [(1,)]
    kill_txgate_sessions()
    assert db.execute("SELECT ?", [42], timeout=20).rows == [(42,)]
    kill_txgate_sessions()
    res = db.run_transaction([("INSERT INTO py_kill VALUES (?)", [1])], timeout=20)
    assert res.results[0].affected_rows == 1
    assert db.execute("SELECT COUNT(*) FROM py_kill").rows == [(1,)]


def test_execute_whose_answer_is_lost_applies_once(db, txgate_proxy):
    """An INSERT reaches txgate and commits, its answer is dropped between txgate
    and the client, the connection is then cut: execute re-sends it with its key
    and gets the stored answer; exactly one row exists."""
    db.execute("DROP TABLE IF EXISTS py_lost")
    db.execute("CREATE TABLE py_lost (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16))")
    out = {}
    with Client(txgate_proxy.listen) as via:
        assert via.execute("SELECT 1").rows == [(1,)]  # the channel is connected
        # Every byte from txgate to the client is dropped from now on.
        txgate_proxy.add_toxic("drop_answers", "timeout", "downstream", timeout=0)

        def insert():
            try:
                out["result"] = via.execute("INSERT INTO py_lost (v) VALUES (?)", ["once"],
                                            timeout=30)
            except TxgateError as e:
                out["error"] = e

        caller = threading.Thread(target=insert)
        caller.start()
        # The INSERT was applied (and committed): its answer is on its way and lost.
        assert eventually(lambda: db.execute("SELECT COUNT(*) FROM py_lost").rows == [(1,)])
        txgate_proxy.set_enabled(False)  # cuts the connection: the call fails UNAVAILABLE
        txgate_proxy.remove_toxic("drop_answers")
        txgate_proxy.set_enabled(True)
        caller.join(40)
        assert not caller.is_alive()
    assert "error" not in out, out.get("error")
    res = out["result"]
    assert res.calls >= 2 and res.idempotency_key
    (row_id,), = db.execute("SELECT id FROM py_lost").rows
    assert (res.affected_rows, res.last_insert_id) == (1, row_id)  # the stored answer
    assert db.execute("SELECT COUNT(*) FROM py_lost").rows == [(1,)]
