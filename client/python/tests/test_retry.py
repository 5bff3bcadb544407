"""Offline tests of execute's and run_transaction's retries and of the channel's
service config, against fakes: a stub, and an in-process gRPC server."""

import json
import threading
import uuid
from concurrent import futures

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from txgate.v1 import database_pb2 as pb
from txgate.v1 import database_pb2_grpc as pb_grpc
from txgate_client import SERVICE_CONFIG, Client, CommitOutcomeUnknown, TxgateError


class FakeRpcError(grpc.RpcError, grpc.Call):
    """A failed call; with a reason, its rich status carries that ErrorInfo."""

    def __init__(self, code, details="fake", reason=""):
        self._code, self._details, self._reason = code, details, reason

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        if not self._reason:
            return ()
        status = status_pb2.Status(code=self._code.value[0], message=self._details)
        status.details.add().Pack(error_details_pb2.ErrorInfo(reason=self._reason,
                                                               domain="txgate.dev"))
        return (("grpc-status-details-bin", status.SerializeToString()),)

    def initial_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


class FakeStub:
    """RunTransaction and Execute fail with the given codes, then succeed. A
    code may be a (code, reason) pair; UNKNOWN alone means a lost commit
    (COMMIT_OUTCOME_UNKNOWN); UNAVAILABLE alone is the transport's (no
    ErrorInfo), ("UNAVAILABLE", "DATABASE_UNAVAILABLE") txgate's own. A
    FakeRpcError is raised as is."""

    def __init__(self, *codes):
        self.codes = list(codes)
        self.requests = []

    def _fail(self, request, timeout):
        self.requests.append((request, timeout))
        if self.codes:
            code = self.codes.pop(0)
            if isinstance(code, FakeRpcError):
                raise code
            code, reason = code if isinstance(code, tuple) else (
                code, "COMMIT_OUTCOME_UNKNOWN" if code == grpc.StatusCode.UNKNOWN else "")
            raise FakeRpcError(code, reason=reason)

    def RunTransaction(self, request, timeout=None, metadata=()):
        self._fail(request, timeout)
        return pb.RunTransactionResponse(results=[pb.ResultSet(affected_rows=1)], attempts=1)

    def Execute(self, request, timeout=None, metadata=()):
        self._fail(request, timeout)
        return pb.ExecuteResponse(result=pb.ResultSet(affected_rows=1, last_insert_id=9))


def test_retries_unavailable_and_unknown_with_the_same_key():
    stub = FakeStub(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN,
                    grpc.StatusCode.UNAVAILABLE)
    res = Client(stub=stub).run_transaction([("INSERT INTO t VALUES (?)", [1])],
                                            timeout=10, initial_backoff=0.001)
    assert res.calls == 4 and res.results[0].affected_rows == 1
    keys = {req.idempotency_key for req, _ in stub.requests}
    assert len(keys) == 1 and len(res.idempotency_key) == 36 and keys == {res.idempotency_key}
    timeouts = [t for _, t in stub.requests]
    assert all(0 < t <= 10 for t in timeouts) and timeouts == sorted(timeouts, reverse=True)


def test_each_logical_transaction_gets_its_own_key():
    stub = FakeStub()
    client = Client(stub=stub)
    a = client.run_transaction(["DELETE FROM t"]).idempotency_key
    b = client.run_transaction(["DELETE FROM t"]).idempotency_key
    assert a and b and a != b
    assert client.run_transaction(["SELECT 1"], read_only=True).idempotency_key == ""
    assert client.run_transaction(["DELETE FROM t"], idempotency_key="mine").idempotency_key == "mine"


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ABORTED,
                                  grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  (grpc.StatusCode.FAILED_PRECONDITION, "MYSQL_ERROR"),
                                  (grpc.StatusCode.RESOURCE_EXHAUSTED, "PACKET_TOO_LARGE"),
                                  # UNKNOWN for another reason than a lost commit
                                  (grpc.StatusCode.UNKNOWN, "MYSQL_ERROR"),
                                  (grpc.StatusCode.UNKNOWN, "")])
def test_does_not_retry_other_codes(code):
    stub = FakeStub(code)
    with pytest.raises(TxgateError) as e:
        Client(stub=stub).run_transaction(["DELETE FROM t"], initial_backoff=0.001)
    assert e.value.code == (code[0] if isinstance(code, tuple) else code)
    assert len(stub.requests) == 1
    assert e.value.idempotency_key == stub.requests[0][0].idempotency_key


def test_gives_up_at_the_overall_deadline():
    stub = FakeStub(*[grpc.StatusCode.UNAVAILABLE] * 1000)
    with pytest.raises(TxgateError) as e:
        Client(stub=stub).run_transaction(["DELETE FROM t"], timeout=0.3, initial_backoff=0.01,
                                          max_backoff=0.05)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert 3 <= len(stub.requests) < 100


class FlakyServicer(pb_grpc.DatabaseServiceServicer):
    """Answers the first `failures` Execute calls with `code`, then succeeds."""

    def __init__(self, code, failures):
        self.code, self.failures, self.calls = code, failures, 0

    def Execute(self, request, context):
        self.calls += 1
        if self.calls <= self.failures:
            info = error_details_pb2.ErrorInfo(
                reason="COMMIT_OUTCOME_UNKNOWN" if self.code == grpc.StatusCode.UNKNOWN
                else "DATABASE_UNAVAILABLE",
                domain="txgate.dev", metadata={"mysql_errno": "2013", "mysql_sqlstate": "HY000"})
            status = status_pb2.Status(code=self.code.value[0], message="flaky")
            status.details.add().Pack(info)
            context.abort_with_status(rpc_status.to_status(status))
        return pb.ExecuteResponse(result=pb.ResultSet(affected_rows=7))


@pytest.fixture
def fake_server():
    servers = []

    def start(servicer):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_DatabaseServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for s in servers:
        s.stop(None)


def test_execute_retries_txgates_unavailable(fake_server):
    servicer = FlakyServicer(grpc.StatusCode.UNAVAILABLE, failures=2)
    with Client(fake_server(servicer)) as client:
        res = client.execute("UPDATE t SET a = 1", timeout=10, initial_backoff=0.001)
        assert res.affected_rows == 7 and res.calls == 3
        # txgate's own UNAVAILABLE says nothing was applied: retried without a key too.
        servicer.calls = 0
        res = client.execute("UPDATE t SET a = 1", idempotency_key="", timeout=10,
                             initial_backoff=0.001)
        assert res.affected_rows == 7 and res.calls == 3 and res.idempotency_key == ""
    assert servicer.calls == 3


def test_execute_never_retries_unknown_without_a_key(fake_server):
    servicer = FlakyServicer(grpc.StatusCode.UNKNOWN, failures=1)
    with Client(fake_server(servicer)) as client:
        with pytest.raises(CommitOutcomeUnknown) as e:
            client.execute("UPDATE t SET a = 1", idempotency_key="", timeout=10)
    assert servicer.calls == 1
    err = e.value
    assert err.code == grpc.StatusCode.UNKNOWN and err.outcome_unknown
    assert (err.reason, err.domain, err.mysql_errno, err.mysql_sqlstate) == (
        "COMMIT_OUTCOME_UNKNOWN", "txgate.dev", 2013, "HY000")
    assert code_pb2.UNKNOWN == err.code.value[0]


def test_execute_retries_a_lost_answer_with_the_same_fresh_key():
    transport = grpc.StatusCode.UNAVAILABLE  # no ErrorInfo: the connection was cut
    stub = FakeStub(transport, grpc.StatusCode.UNKNOWN, transport)
    client = Client(stub=stub)
    res = client.execute("INSERT INTO t VALUES (?)", [1], timeout=10, initial_backoff=0.001)
    assert (res.calls, res.affected_rows, res.last_insert_id) == (4, 1, 9)
    assert uuid.UUID(res.idempotency_key).version == 4
    assert {req.idempotency_key for req, _ in stub.requests} == {res.idempotency_key}
    assert client.execute("INSERT INTO t VALUES (?)", [1]).idempotency_key != res.idempotency_key


@pytest.mark.parametrize("call", ["execute", "run_transaction"])
def test_without_a_key_a_cut_connection_is_not_retried(call):
    stub = FakeStub(grpc.StatusCode.UNAVAILABLE)
    client = Client(stub=stub)
    with pytest.raises(TxgateError) as e:
        if call == "execute":
            client.execute("INSERT INTO t VALUES (1)", idempotency_key="")
        else:
            client.run_transaction(["INSERT INTO t VALUES (1)"], idempotency_key="")
    assert e.value.code == grpc.StatusCode.UNAVAILABLE and len(stub.requests) == 1


def test_a_read_only_transaction_is_retried_without_a_key():
    stub = FakeStub(grpc.StatusCode.UNAVAILABLE)
    res = Client(stub=stub).run_transaction(["SELECT 1"], read_only=True, initial_backoff=0.001)
    assert res.calls == 2 and res.idempotency_key == ""


# gRPC's server cancels a call it accepted as a drain starts but had not
# handed to txgate yet: CANCELLED without txgate's ErrorInfo, and nothing ran.
SERVER_CANCELLED = grpc.StatusCode.CANCELLED  # FakeStub: no ErrorInfo, details "fake"


@pytest.mark.parametrize("call", ["execute", "run_transaction"])
def test_a_server_sent_cancelled_is_retried_with_the_key(call):
    stub = FakeStub(SERVER_CANCELLED, SERVER_CANCELLED)
    client = Client(stub=stub)
    if call == "execute":
        res = client.execute("INSERT INTO t VALUES (1)", timeout=10, initial_backoff=0.001)
    else:
        res = client.run_transaction(["INSERT INTO t VALUES (1)"], timeout=10,
                                     initial_backoff=0.001)
    assert res.calls == 3 and res.idempotency_key
    assert {req.idempotency_key for req, _ in stub.requests} == {res.idempotency_key}


def test_a_server_sent_cancelled_of_a_read_only_transaction_is_retried():
    stub = FakeStub(SERVER_CANCELLED)
    res = Client(stub=stub).run_transaction(["SELECT 1"], read_only=True, initial_backoff=0.001)
    assert res.calls == 2 and res.idempotency_key == ""


@pytest.mark.parametrize("call", ["execute", "run_transaction"])
def test_without_a_key_a_server_sent_cancelled_is_not_retried(call):
    stub = FakeStub(SERVER_CANCELLED)
    client = Client(stub=stub)
    with pytest.raises(TxgateError) as e:
        if call == "execute":
            client.execute("INSERT INTO t VALUES (1)", idempotency_key="")
        else:
            client.run_transaction(["INSERT INTO t VALUES (1)"], idempotency_key="")
    assert e.value.code == grpc.StatusCode.CANCELLED and not e.value.cancelled_locally
    assert len(stub.requests) == 1


@pytest.mark.parametrize("details", ["Locally cancelled by application!", "Channel closed!"])
def test_a_locally_cancelled_call_is_not_retried(details):
    stub = FakeStub(FakeRpcError(grpc.StatusCode.CANCELLED, details))
    with pytest.raises(TxgateError) as e:
        Client(stub=stub).execute("INSERT INTO t VALUES (1)", initial_backoff=0.001)
    assert e.value.code == grpc.StatusCode.CANCELLED and e.value.cancelled_locally
    assert len(stub.requests) == 1


def test_a_cancelled_with_txgates_error_info_is_not_retried():
    stub = FakeStub((grpc.StatusCode.CANCELLED, "CANCELLED"))
    with pytest.raises(TxgateError) as e:
        Client(stub=stub).execute("INSERT INTO t VALUES (1)", initial_backoff=0.001)
    assert e.value.domain == "txgate.dev" and len(stub.requests) == 1


class CancellingServicer(pb_grpc.DatabaseServiceServicer):
    """Answers the first `failures` Execute calls CANCELLED with no ErrorInfo,
    as gRPC's server does to a call it cancels itself; with `hold`, blocks
    every call until `release` is set instead."""

    def __init__(self, failures=0, hold=False):
        self.failures, self.hold, self.calls = failures, hold, 0
        self.started, self.release = threading.Event(), threading.Event()

    def Execute(self, request, context):
        self.calls += 1
        if self.hold:
            self.started.set()
            self.release.wait(10)
        elif self.calls <= self.failures:
            context.abort(grpc.StatusCode.CANCELLED, "Cancelled")
        return pb.ExecuteResponse(result=pb.ResultSet(affected_rows=7))


def test_execute_re_sends_a_keyed_call_the_server_cancelled(fake_server):
    servicer = CancellingServicer(failures=2)
    with Client(fake_server(servicer)) as client:
        res = client.execute("UPDATE t SET a = 1", timeout=10, initial_backoff=0.001)
        assert res.affected_rows == 7 and res.calls == 3
        servicer.calls = 0
        with pytest.raises(TxgateError) as e:
            client.execute("UPDATE t SET a = 1", idempotency_key="", timeout=10,
                           initial_backoff=0.001)
    assert e.value.code == grpc.StatusCode.CANCELLED and not e.value.cancelled_locally
    assert servicer.calls == 1


def test_a_call_cancelled_by_closing_the_client_is_not_retried(fake_server):
    servicer = CancellingServicer(hold=True)
    client = Client(fake_server(servicer))
    outcome = []

    def run():
        try:
            client.execute("UPDATE t SET a = 1", timeout=10, initial_backoff=0.001)
        except TxgateError as err:
            outcome.append(err)

    caller = threading.Thread(target=run)
    caller.start()
    assert servicer.started.wait(10)
    client.close()
    caller.join(10)
    servicer.release.set()
    assert len(outcome) == 1 and outcome[0].code == grpc.StatusCode.CANCELLED
    assert outcome[0].cancelled_locally and servicer.calls == 1


def test_the_service_config_retries_no_database_call():
    # gRPC's retry policy cannot see a request's idempotency key, so it may
    # retry no DatabaseService method: the helpers retry those in code.
    config = json.loads(SERVICE_CONFIG)
    for method_config in config["methodConfig"]:
        if "retryPolicy" in method_config or "hedgingPolicy" in method_config:
            assert all(name["service"] != "txgate.v1.DatabaseService"
                       for name in method_config["name"]), method_config
