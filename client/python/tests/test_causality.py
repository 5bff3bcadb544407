"""Read-your-writes tokens (README, "Reads on replicas") against a live txgate:
the client keeps the latest write's causality token and sends it, with its
routing, on every read and read-only transaction; an interceptor records what
went out."""

import re

import grpc

import pytest

from txgate.v1 import database_pb2 as pb
from txgate_client import Client, TxgateError
from txgate_dbapi import connect

TOKEN = re.compile(r"^g1:\d+-\d+-\d+(,\d+-\d+-\d+)*$")


class Recorder(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
               grpc.StreamStreamClientInterceptor):
    """Keeps every request message the client sends, by method name."""

    def __init__(self):
        self.sent = []

    def _keep(self, details, request):
        self.sent.append((details.method.rsplit("/", 1)[-1], request))

    def intercept_unary_unary(self, continuation, details, request):
        self._keep(details, request)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation, details, request):
        self._keep(details, request)
        return continuation(details, request)

    def intercept_stream_stream(self, continuation, details, requests):
        def kept():
            for r in requests:
                self._keep(details, r)
                yield r
        return continuation(details, kept())

    def last(self, method):
        return [r for m, r in self.sent if m == method][-1]


@pytest.fixture
def recorded(addr):
    recorder = Recorder()
    channel = grpc.intercept_channel(grpc.insecure_channel(addr), recorder)
    client = Client(channel=channel, default_timeout=30.0)
    client.execute("CREATE TABLE IF NOT EXISTS py_causal (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                   "v INT)")
    client.tokens.clear()
    yield client, recorder
    channel.close()


def test_a_write_token_is_kept_and_sent_with_the_next_reads(recorded):
    db, rec = recorded
    assert db.causality_token == ""
    db.execute("SELECT 1")
    assert rec.last("Execute").read.causality_token == ""
    db.execute("INSERT INTO py_causal (v) VALUES (?)", [1])
    token = db.causality_token
    assert TOKEN.match(token), token

    db.execute("SELECT COUNT(*) FROM py_causal")
    assert rec.last("Execute").read.causality_token == token
    db.run_transaction(["SELECT COUNT(*) FROM py_causal"], read_only=True)
    assert rec.last("RunTransaction").options.read.causality_token == token
    with db.stream_query("SELECT v FROM py_causal") as rows:
        list(rows)
    assert rec.last("StreamQuery").read.causality_token == token
    with db.transaction(read_only=True) as tx:
        tx.execute("SELECT COUNT(*) FROM py_causal")
        tx.commit()
    begins = [r for m, r in rec.sent if m == "Transaction" and r.HasField("begin")]
    assert begins[-1].begin.options.read.causality_token == token
    # A read leaves the token as it was.
    assert db.causality_token == token


def test_every_kind_of_write_moves_the_token_on(recorded):
    db, _ = recorded
    db.execute("INSERT INTO py_causal (v) VALUES (2)")
    first = db.causality_token
    db.run_transaction([("INSERT INTO py_causal (v) VALUES (?)", [3])])
    second = db.causality_token
    with db.transaction() as tx:
        tx.execute("INSERT INTO py_causal (v) VALUES (4)")
        tx.commit()
    assert TOKEN.match(tx.causality_token)
    third = db.causality_token
    assert third == tx.causality_token
    seq = [int(t.split("-")[-1]) for t in (first, second, third)]
    assert seq[0] < seq[1] < seq[2], (first, second, third)
    # A rolled-back transaction leaves it.
    with db.transaction() as tx:
        tx.execute("INSERT INTO py_causal (v) VALUES (5)")
        tx.rollback()
    assert db.causality_token == third


def test_routing_per_client_and_per_call(addr):
    recorder = Recorder()
    channel = grpc.intercept_channel(grpc.insecure_channel(addr), recorder)
    db = Client(channel=channel, routing="replica")
    try:
        db.execute("SELECT 1")
        assert recorder.last("Execute").read.routing == pb.READ_ROUTING_REPLICA
        db.execute("SELECT 1", routing="primary")
        assert recorder.last("Execute").read.routing == pb.READ_ROUTING_PRIMARY
        db.execute("SELECT 1", routing=None)
        assert recorder.last("Execute").read.routing == pb.READ_ROUTING_UNSPECIFIED
        db.run_transaction(["SELECT 1"], read_only=True, routing="primary")
        assert recorder.last("RunTransaction").options.read.routing == pb.READ_ROUTING_PRIMARY
        with pytest.raises(ValueError):
            db.execute("SELECT 1", routing="nearest")
    finally:
        channel.close()
    assert Client(channel=grpc.insecure_channel(addr)).routing == pb.READ_ROUTING_UNSPECIFIED


def test_a_bad_token_is_refused_by_txgate(recorded):
    db, _ = recorded
    db.tokens.observe("g1:0-1")  # not one txgate hands out
    with pytest.raises(TxgateError) as e:
        db.execute("SELECT 1")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.reason == "CAUSALITY_TOKEN_INVALID"


def test_a_dbapi_connection_keeps_its_own_token(addr):
    with connect(target=addr, autocommit=True) as a, connect(target=addr, autocommit=True) as b:
        a.cursor().execute("INSERT INTO py_causal (v) VALUES (6)")
        assert TOKEN.match(a.client.causality_token)
        assert b.client.causality_token == ""


def test_an_async_dbapi_connection_keeps_its_own_token(addr):
    import asyncio

    from txgate_dbapi import aio

    async def run():
        a = await aio.connect(target=addr, autocommit=True)
        b = await aio.connect(target=addr, autocommit=True, routing="replica")
        try:
            cur = a.cursor()
            await cur.execute("INSERT INTO py_causal (v) VALUES (7)")
            token = a.client.causality_token
            assert TOKEN.match(token), token
            await cur.execute("SELECT COUNT(*) FROM py_causal")
            assert a.client.causality_token == token  # a read leaves it
            assert b.client.causality_token == ""
            assert b.client.routing == pb.READ_ROUTING_REPLICA
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())
