"""txgate_dbapi.aio (asyncio, grpc.aio) against a live txgate (TXGATE_ADDR).

Each test drives its own event loop with asyncio.run (no plugin needed)."""

import asyncio
import decimal
import threading

import grpc
import pytest

from txgate_dbapi import aio


def run(coro):
    return asyncio.run(coro)


async def _count(addr, where="1"):
    async with await aio.connect(addr, autocommit=True) as c:
        cur = await c.cursor().execute(f"SELECT COUNT(*) AS n FROM t_aio WHERE {where}")
        return (await cur.fetchone())["n"]


@pytest.fixture
def table(addr):
    async def make():
        async with await aio.connect(addr, autocommit=True) as c:
            cur = c.cursor()
            await cur.execute("DROP TABLE IF EXISTS t_aio")
            await cur.execute("CREATE TABLE t_aio (id INT AUTO_INCREMENT PRIMARY KEY, "
                              "n BIGINT NOT NULL, d DECIMAL(20,4) NULL)")
    run(make())


def test_transaction_commit_rollback_and_values(addr, table):
    async def body():
        conn = await aio.connect(addr)
        assert aio.paramstyle == "qmark" and not conn.autocommit
        cur = conn.cursor()
        await cur.execute("INSERT INTO t_aio (n, d) VALUES (?, ?)", (1, decimal.Decimal("0.0001")))
        assert conn.in_transaction and cur.rowcount == 1 and cur.lastrowid == 1
        assert await _count(addr) == 0
        await conn.commit()
        assert not conn.in_transaction and await _count(addr) == 1
        await cur.executemany("INSERT INTO t_aio (n) VALUES (?)", [(2,), (3,)])
        assert cur.rowcount == 2
        await conn.rollback()
        assert await _count(addr) == 1
        await cur.execute("SELECT id, n, d FROM t_aio")
        assert cur.description[2][:2] == ("d", "DECIMAL")
        rows = [r async for r in cur]
        assert rows == [(1, 1, decimal.Decimal("0.0001"))] and rows[0]["d"].as_tuple().exponent == -4
        await cur.execute("SELECT n FROM t_aio")
        assert await cur.fetchall() == [(1,)] and await cur.fetchone() is None
        await conn.close()
        with pytest.raises(aio.InterfaceError):
            await cur.execute("SELECT 1")
    run(body())


def test_errors_end_the_transaction(addr, table):
    async def body():
        async with await aio.connect(addr) as conn:
            cur = conn.cursor()
            await cur.execute("INSERT INTO t_aio (id, n) VALUES (1, 1)")
            with pytest.raises(aio.IntegrityError) as e:
                await cur.execute("INSERT INTO t_aio (id, n) VALUES (1, 1)")
            assert e.value.errno == 1062
            with pytest.raises(aio.IntegrityError) as again:  # the first error, again
                await cur.execute("SELECT 1")
            assert again.value.errno == 1062 and str(again.value) == str(e.value)
            await conn.rollback()
            with pytest.raises(aio.ProgrammingError) as e:
                await cur.execute("SELEC 1")
            assert e.value.errno == 1064
            await conn.rollback()
            # DDL as the first statement runs on its own; after others it is refused.
            await cur.execute("CREATE TABLE IF NOT EXISTS t_aio_ddl (a INT)")
            await cur.execute("INSERT INTO t_aio (n) VALUES (1)")
            with pytest.raises(aio.NotSupportedError):
                await cur.execute("DROP TABLE t_aio_ddl")
            await conn.rollback()
            await cur.execute("DROP TABLE t_aio_ddl")
            with pytest.raises(aio.ExpectationFailed):
                await cur.execute("UPDATE t_aio SET n = 2 WHERE id = 99", affected_rows=1)
            await conn.rollback()
        assert await _count(addr) == 0
    run(body())


def test_context_manager_and_autocommit(addr, table):
    async def body():
        async with await aio.connect(addr) as conn:
            await conn.cursor().execute("INSERT INTO t_aio (n) VALUES (7)")
        assert await _count(addr) == 1
        with pytest.raises(RuntimeError):
            async with await aio.connect(addr) as conn:
                await conn.cursor().execute("INSERT INTO t_aio (n) VALUES (8)")
                raise RuntimeError("application error")
        assert await _count(addr) == 1
        conn = await aio.connect(addr)
        await conn.cursor().execute("INSERT INTO t_aio (n) VALUES (9)")
        await conn.set_autocommit(True)  # commits the open transaction
        assert not conn.in_transaction and await _count(addr) == 2
        await conn.cursor().execute("INSERT INTO t_aio (n) VALUES (10)")
        assert not conn.in_transaction and await _count(addr) == 3
        await conn.close()
    run(body())


def test_concurrent_connections_on_one_loop(addr, table):
    async def body():
        async def insert(i):
            async with await aio.connect(addr) as c:
                await c.cursor().execute("INSERT INTO t_aio (n) VALUES (?)", (i,))
        # (txgate's --max_open_transactions defaults to 8 per server.)
        await asyncio.gather(*(insert(i) for i in range(6)))
        assert await _count(addr) == 6
    run(body())


def test_run_in_transaction_reruns_the_function_on_deadlock(addr, table):
    """Like the sync test in test_live.py: the lighter transaction (the
    function's) is InnoDB's deadlock victim, is ABORTED, and runs again."""
    async def body():
        async with await aio.connect(addr, autocommit=True) as c:
            await c.cursor().executemany("INSERT INTO t_aio (id, n) VALUES (?, 0)",
                                         [(i,) for i in range(1, 21)])
        other = await aio.connect(addr)
        ocur = other.cursor()
        # The other transaction writes 19 rows (heavier) and holds row 2.
        await ocur.execute("UPDATE t_aio SET n = n + 1 WHERE id >= 2")
        conn = await aio.connect(addr)
        attempts = []
        locked = asyncio.Event()

        async def fn(tx):
            attempts.append(1)
            await tx.execute("SELECT n FROM t_aio WHERE id = 1 FOR UPDATE")
            if len(attempts) == 1:
                locked.set()
            res = await tx.execute("SELECT n FROM t_aio WHERE id = 2 FOR UPDATE")
            return res.rows[0]["n"]

        task = asyncio.ensure_future(conn.client.run_in_transaction(fn, initial_backoff=0.01))
        await locked.wait()
        # fn now holds row 1 and (soon) waits for row 2; taking row 1 closes the cycle.
        await ocur.execute("UPDATE t_aio SET n = n + 1 WHERE id = 1")
        await other.commit()
        assert await task == 1 and len(attempts) == 2
        await other.close()
        await conn.close()
    run(body())
