"""A statement error that application code catches and swallows inside a
transaction, against a live txgate (TXGATE_ADDR).

The transaction is over once a statement failed (txgate rolled it back):
every later statement and the commit raise that first error again, and
run_in_transaction decides on it, re-running the whole function when it was
an abort (deadlock 1213), even though the function caught it. The
deadlocks are real: two transfers lock two rows in opposite order, each
holding its first row before either asks for its second (a barrier), so
InnoDB kills one of them."""

import asyncio
import threading

import grpc
import pytest

import txgate_dbapi
from txgate_client import Client, TxgateError
from txgate_dbapi import aio

START = 100
# (source, destination, amount): opposite lock orders.
TRANSFERS = ((1, 2, 10), (2, 1, 20))
EXPECTED = [(1, START - 10 + 20), (2, START + 10 - 20)]


@pytest.fixture
def accounts(db):
    db.execute("DROP TABLE IF EXISTS py_swallow")
    db.execute("CREATE TABLE py_swallow (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
    db.execute(f"INSERT INTO py_swallow VALUES (1, {START}), (2, {START})")
    yield "py_swallow"
    db.execute("DROP TABLE IF EXISTS py_swallow")


def balances(db):
    return [tuple(r) for r in db.execute("SELECT id, balance FROM py_swallow ORDER BY id").rows]


def assert_deadlock(err):
    assert isinstance(err, TxgateError), err
    assert (err.code, err.reason, err.mysql_errno) == (grpc.StatusCode.ABORTED, "MYSQL_ERROR",
                                                       1213), err


@pytest.mark.parametrize("after", ["returns", "goes_on", "raises_its_own"])
def test_run_in_transaction_reruns_a_swallowed_deadlock(addr, db, accounts, after):
    """Each function catches its second UPDATE's error and then returns
    ("returns"), runs one more statement ("goes_on") or raises an exception
    of its own ("raises_its_own"); the deadlock's victim is re-run whole, and
    both transfers are applied exactly once."""
    barrier = threading.Barrier(2, timeout=30)
    swallowed, later, runs, errors = [], [], [], []

    def transfer(src, dst, amount):
        def fn(tx):
            runs.append(src)
            tx.execute("UPDATE py_swallow SET balance = balance - ? WHERE id = ?", [amount, src])
            if runs.count(src) == 1:
                barrier.wait()  # both hold their first row
            try:
                tx.execute("UPDATE py_swallow SET balance = balance + ? WHERE id = ?",
                           [amount, dst])
            except TxgateError as e:
                swallowed.append(e)  # logged and ignored: the bug under test
                if after == "raises_its_own":
                    raise RuntimeError("transfer incomplete") from None
            if after == "goes_on":
                try:
                    tx.execute("SELECT balance FROM py_swallow WHERE id = ?", [src])
                except TxgateError as e:
                    later.append(e)
                    raise
        return fn

    def run(src, dst, amount):
        try:
            with Client(addr) as client:
                client.run_in_transaction(transfer(src, dst, amount), initial_backoff=0.01)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=t) for t in TRANSFERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(swallowed) == 1 and len(runs) == 3  # one victim, run twice
    assert_deadlock(swallowed[0])
    if after == "goes_on":  # the next statement raised the deadlock again
        assert len(later) == 1 and later[0] is not swallowed[0]
        assert_deadlock(later[0])
        assert str(later[0]) == str(swallowed[0]) and later[0].__cause__ is swallowed[0]
    assert balances(db) == EXPECTED


def test_failed_transaction_raises_its_first_error_again(db, accounts):
    with db.transaction() as tx:
        tx.execute("UPDATE py_swallow SET balance = 0 WHERE id = 1")
        with pytest.raises(TxgateError) as first:
            tx.execute("INSERT INTO py_swallow VALUES (2, 0)")
        assert first.value.mysql_errno == 1062
        assert tx.state == "failed" and tx.failure is first.value
        for again in (lambda: tx.execute("SELECT 1"), tx.commit, lambda: tx.execute("SELECT 1")):
            with pytest.raises(TxgateError) as e:
                again()
            assert e.value is not first.value and type(e.value) is type(first.value)
            assert (e.value.code, e.value.reason, e.value.mysql_errno, e.value.message) == (
                first.value.code, first.value.reason, 1062, first.value.message)
            assert e.value.__cause__ is first.value
    assert balances(db) == [(1, START), (2, START)]  # rolled back


def test_run_in_transaction_raises_a_swallowed_error_that_is_not_an_abort(db, accounts):
    """A function that swallows a duplicate key and returns gets that error
    from run_in_transaction (nothing was committed), run once."""
    runs = []

    def fn(tx):
        runs.append(1)
        tx.execute("UPDATE py_swallow SET balance = 0 WHERE id = 1")
        try:
            tx.execute("INSERT INTO py_swallow VALUES (2, 0)")
        except TxgateError:
            pass
        return "done"
    with pytest.raises(TxgateError) as e:
        db.run_in_transaction(fn)
    assert e.value.mysql_errno == 1062 and e.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert len(runs) == 1 and balances(db) == [(1, START), (2, START)]

    def turns_it_into_another_error(tx):
        runs.append(1)
        try:
            tx.execute("INSERT INTO py_swallow VALUES (2, 0)")
        except TxgateError:
            raise ValueError("account exists") from None
    with pytest.raises(ValueError, match="account exists"):
        db.run_in_transaction(turns_it_into_another_error)
    assert len(runs) == 2


def test_aio_run_in_transaction_reruns_a_swallowed_deadlock(addr, db, accounts):
    async def body():
        barrier = asyncio.Barrier(2)
        swallowed, runs = [], []

        def transfer(src, dst, amount):
            async def fn(tx):
                runs.append(src)
                await tx.execute("UPDATE py_swallow SET balance = balance - ? WHERE id = ?",
                                 [amount, src])
                if runs.count(src) == 1:
                    await asyncio.wait_for(barrier.wait(), 30)
                try:
                    await tx.execute("UPDATE py_swallow SET balance = balance + ? WHERE id = ?",
                                     [amount, dst])
                except TxgateError as e:
                    swallowed.append(e)
            return fn

        conns = [await aio.connect(addr) for _ in TRANSFERS]
        try:
            await asyncio.wait_for(asyncio.gather(*(
                c.client.run_in_transaction(transfer(*t), initial_backoff=0.01)
                for c, t in zip(conns, TRANSFERS))), 60)
        finally:
            for c in conns:
                await c.close()
        return swallowed, runs
    swallowed, runs = asyncio.run(body())
    assert len(swallowed) == 1 and len(runs) == 3
    assert_deadlock(swallowed[0])
    assert balances(db) == EXPECTED


@pytest.mark.parametrize("use_aio", [False, True])
def test_dbapi_raises_a_swallowed_deadlock_at_commit(addr, db, accounts, use_aio):
    """DB-API connections: the victim's later statement and commit() raise
    the deadlock itself (OperationalError, errno 1213, code ABORTED), not a
    generic error, so the application's retry on ABORTED runs the transfer
    again; both transfers are applied exactly once."""
    barrier = threading.Barrier(2, timeout=30)
    outcomes = {}

    def transfer_sync(src, dst, amount, first=True):
        conn = txgate_dbapi.connect(addr)
        try:
            cur = conn.cursor()
            cur.execute("UPDATE py_swallow SET balance = balance - ? WHERE id = ?", (amount, src))
            if first:
                barrier.wait()
            swallowed = None
            try:
                cur.execute("UPDATE py_swallow SET balance = balance + ? WHERE id = ?",
                            (amount, dst))
            except txgate_dbapi.Error as e:
                swallowed = e
            later = None
            if swallowed is not None:
                try:
                    cur.execute("SELECT 1")
                except txgate_dbapi.Error as e:
                    later = e
            try:
                conn.commit()
                return swallowed, later, None
            except txgate_dbapi.Error as e:
                return swallowed, later, e
        finally:
            conn.close()

    def transfer_aio(src, dst, amount, first=True):
        async def body():
            conn = await aio.connect(addr)
            try:
                cur = conn.cursor()
                await cur.execute("UPDATE py_swallow SET balance = balance - ? WHERE id = ?",
                                  (amount, src))
                if first:
                    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
                swallowed = later = None
                try:
                    await cur.execute("UPDATE py_swallow SET balance = balance + ? WHERE id = ?",
                                      (amount, dst))
                except aio.Error as e:
                    swallowed = e
                if swallowed is not None:
                    try:
                        await cur.execute("SELECT 1")
                    except aio.Error as e:
                        later = e
                try:
                    await conn.commit()
                    return swallowed, later, None
                except aio.Error as e:
                    return swallowed, later, e
            finally:
                await conn.close()
        return asyncio.run(body())

    transfer = transfer_aio if use_aio else transfer_sync
    threads = [threading.Thread(target=lambda t=t: outcomes.__setitem__(t, transfer(*t)))
               for t in TRANSFERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and len(outcomes) == 2
    victims = [t for t, (swallowed, _, _) in outcomes.items() if swallowed is not None]
    assert len(victims) == 1
    swallowed, later, at_commit = outcomes[victims[0]]
    for e in (swallowed, later, at_commit):
        assert isinstance(e, txgate_dbapi.OperationalError), e
        assert (e.code, e.errno, str(e)) == (grpc.StatusCode.ABORTED, 1213, str(swallowed))
        assert e.txgate_error is swallowed.txgate_error
    # The application re-runs the aborted transfer, as it does on ABORTED.
    assert transfer(*victims[0], first=False) == (None, None, None)
    assert balances(db) == EXPECTED
