"""Rows keyed by column name, and run_in_transaction re-running the whole
function on ABORTED, against a live txgate (TXGATE_ADDR)."""

import threading

import grpc
import pytest

from txgate_client import Client, ExpectationFailed, Row, TxgateError


@pytest.fixture
def accounts(db):
    db.execute("DROP TABLE IF EXISTS py_rit")
    db.execute("CREATE TABLE py_rit (id INT PRIMARY KEY, n BIGINT NOT NULL)")
    db.execute("INSERT INTO py_rit VALUES " + ",".join(f"({i}, 0)" for i in range(1, 21)))
    return "py_rit"


def test_rows_are_tuples_keyed_by_column_name(db, accounts):
    res = db.execute("SELECT id, n AS balance FROM py_rit WHERE id <= 2 ORDER BY id")
    row = res.rows[0]
    assert isinstance(row, Row) and isinstance(row, tuple)
    assert row == (1, 0) and row[0] == 1 and row[-1] == 0 and row[:1] == (1,)
    assert row["id"] == 1 and row["balance"] == 0 and row.get("nope", 7) == 7
    assert row.keys() == ("id", "balance") and row.as_dict() == {"id": 1, "balance": 0}
    assert tuple(row) == (1, 0) and repr(row) == "Row(id=1, balance=0)"
    with pytest.raises(KeyError, match="no column 'nope'"):
        row["nope"]
    with db.stream_query("SELECT id FROM py_rit ORDER BY id") as rows:
        assert [r["id"] for r in rows] == list(range(1, 21))
    with db.transaction() as tx:
        assert tx.execute("SELECT n FROM py_rit WHERE id = 3").rows[0]["n"] == 0


def test_run_in_transaction_commits_and_returns(db, accounts):
    def bump(tx):
        tx.execute("UPDATE py_rit SET n = n + 1 WHERE id = 1")
        return tx.execute("SELECT n FROM py_rit WHERE id = 1").rows[0]["n"]
    assert db.run_in_transaction(bump) == 1
    assert db.execute("SELECT n FROM py_rit WHERE id = 1").rows == [(1,)]


def test_run_in_transaction_reruns_the_function_on_deadlock(addr, db, accounts):
    """The function's transaction holds row 1 and waits for row 2, held by a
    heavier transaction (19 rows written) that then takes row 1: InnoDB kills
    the lighter one, the function's (1213, ABORTED), and it runs again."""
    other = db.transaction()
    other.execute("UPDATE py_rit SET n = n + 1 WHERE id >= 2")
    attempts = []
    holds_row_1 = threading.Event()

    def fn(tx):
        attempts.append(1)
        tx.execute("SELECT n FROM py_rit WHERE id = 1 FOR UPDATE")
        if len(attempts) == 1:
            holds_row_1.set()
        return tx.execute("SELECT n FROM py_rit WHERE id = 2 FOR UPDATE").rows[0]["n"]

    result = []
    with Client(addr) as client:
        t = threading.Thread(target=lambda: result.append(
            client.run_in_transaction(fn, initial_backoff=0.01)))
        t.start()
        assert holds_row_1.wait(30)
        other.execute("UPDATE py_rit SET n = n + 1 WHERE id = 1")  # closes the cycle
        other.commit()
        t.join(60)
    assert result == [1] and len(attempts) == 2


def test_run_in_transaction_does_not_rerun_other_errors(db, accounts):
    calls = []

    def guarded(tx):
        calls.append(1)
        tx.execute("UPDATE py_rit SET n = n - 5 WHERE id = 1 AND n >= 5", min_affected_rows=1)
    with pytest.raises(ExpectationFailed):
        db.run_in_transaction(guarded)

    def broken(tx):
        calls.append(1)
        tx.execute("SELEC 1")
    with pytest.raises(TxgateError) as e:
        db.run_in_transaction(broken)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT

    def app_error(tx):
        calls.append(1)
        tx.execute("UPDATE py_rit SET n = 100 WHERE id = 1")
        raise RuntimeError("application")
    with pytest.raises(RuntimeError):
        db.run_in_transaction(app_error)
    assert len(calls) == 3
    assert db.execute("SELECT n FROM py_rit WHERE id = 1").rows == [(0,)]  # rolled back


def test_run_in_transaction_gives_up_after_max_attempts(db, accounts):
    calls = []

    def always_aborted(tx):
        calls.append(1)
        raise TxgateError(grpc.StatusCode.ABORTED, "deadlock", "MYSQL_ERROR", "txgate.dev",
                          {"mysql_errno": "1213"})
    with pytest.raises(TxgateError) as e:
        db.run_in_transaction(always_aborted, max_attempts=3, initial_backoff=0.001)
    assert e.value.code == grpc.StatusCode.ABORTED and len(calls) == 3
