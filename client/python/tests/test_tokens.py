"""Bearer tokens from the DB-API (sync and asyncio) and the helper: every call
carries `authorization: Bearer <token>`, transaction streams included, against
a live txgate started with --auth_tokens_file."""

import asyncio
import hashlib
import secrets

import grpc
import pytest

import txgate_dbapi
from txgate_client import Client, TxgateError
from txgate_dbapi import aio


@pytest.fixture
def guarded(start_txgate, tmp_path):
    """(address, token file) of a txgate that requires a read-write token."""
    token = secrets.token_hex(32)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{hashlib.sha256(token.encode()).hexdigest()} rw py-test\n")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    return start_txgate(f"--auth_tokens_file={tokens}"), str(token_file), token


def test_dbapi_sends_the_token_on_every_call(guarded):
    addr, token_file, token = guarded
    with txgate_dbapi.connect(f"txgate://{addr}?token_file={token_file}") as conn:
        cur = conn.cursor()
        cur.execute("SELECT ? AS t", (1,))  # in a Transaction stream
        assert cur.fetchone()["t"] == 1 and conn.in_transaction
        conn.commit()
        conn.autocommit = True
        assert cur.execute("SELECT 2").fetchone() == (2,)  # Execute
    with txgate_dbapi.connect(addr, autocommit=True) as conn:
        with pytest.raises(txgate_dbapi.OperationalError) as e:
            conn.cursor().execute("SELECT 1")
        assert (e.value.code, e.value.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                                  "UNAUTHENTICATED")
    with Client(addr, token=token) as db:
        assert db.run_in_transaction(lambda tx: tx.execute("SELECT 3").rows[0][0]) == 3
        assert db.run_transaction(["SELECT 4"]).results[0].rows == [(4,)]
    with Client(addr, token="wrong") as db:
        with pytest.raises(TxgateError) as e:
            db.execute("SELECT 1")
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_aio_sends_the_token(guarded):
    addr, token_file, _ = guarded

    async def body():
        async with await aio.connect(addr, token_file=token_file) as conn:
            cur = await conn.cursor().execute("SELECT 5 AS five")
            assert (await cur.fetchone())["five"] == 5
        with pytest.raises(aio.OperationalError) as e:
            async with await aio.connect(addr) as conn:  # (leaving it rolls back)
                await conn.cursor().execute("SELECT 1")
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    asyncio.run(body())
