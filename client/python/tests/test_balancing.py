"""One merged service config: round_robin over every address and the retry
policy, both in force (proto/txgate/v1/service_config.json), with a caller's
own grpc.service_config merged in rather than silently ignored.

In-process gRPC servers show the retry policy and the caller's config at
work; two live txgate instances (started here, from TXGATE_BUILD_DIR, against
the test MariaDB) show calls spread over both."""

import json
import re
import threading
import urllib.request
from concurrent import futures

import grpc
import pytest

from conftest import eventually, free_port
from txgate.v1 import database_pb2 as pb
from txgate.v1 import database_pb2_grpc as pb_grpc
from txgate_client import SERVICE_CONFIG, Client, channel_options, merge_service_configs


def test_service_config_carries_round_robin_and_the_retry_policy():
    config = json.loads(SERVICE_CONFIG)
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method,) = config["methodConfig"]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    opts = dict(channel_options())
    assert json.loads(opts["grpc.service_config"]) == config and opts["grpc.enable_retries"] == 1


def test_a_callers_service_config_is_merged_not_listed_twice():
    mine = {"methodConfig": [{"name": [{"service": "txgate.v1.DatabaseService"}],
                              "timeout": "5s"}],
            "retryThrottling": {"maxTokens": 5, "tokenRatio": 0.5}}
    opts = channel_options([("grpc.service_config", json.dumps(mine)),
                            ("grpc.max_receive_message_length", 1 << 24)])
    assert [k for k, _ in opts].count("grpc.service_config") == 1
    merged = json.loads(dict(opts)["grpc.service_config"])
    assert merged["loadBalancingConfig"] == [{"round_robin": {}}]  # ours kept
    assert merged["retryThrottling"] == mine["retryThrottling"]  # theirs wins
    assert [m["name"][0]["service"] for m in merged["methodConfig"]] == [
        "grpc.health.v1.Health", "txgate.v1.DatabaseService"]
    assert dict(opts)["grpc.max_receive_message_length"] == 1 << 24
    # A later entry for the same method replaces the earlier one whole
    # (gRPC refuses a config naming a method twice); pick_first can be asked for.
    health = {"methodConfig": [{"name": [{"service": "grpc.health.v1.Health",
                                          "method": "Check"}], "timeout": "1s"}],
              "loadBalancingConfig": [{"pick_first": {}}]}
    merged = json.loads(merge_service_configs(SERVICE_CONFIG, health))
    assert merged["methodConfig"] == health["methodConfig"]
    assert merged["loadBalancingConfig"] == [{"pick_first": {}}]


class CountingServer:
    """An in-process gRPC server answering DatabaseService.Execute and
    grpc.health.v1.Health/Check; `fail` is shared by a group of servers: the
    next that many calls of each kind answer UNAVAILABLE (no txgate detail)."""

    def __init__(self, fail):
        self.fail, self.executes, self.checks = fail, 0, 0
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        servicer = self

        class Db(pb_grpc.DatabaseServiceServicer):
            def Execute(self, request, context):
                servicer.executes += 1
                servicer._maybe_fail("execute", context)
                return pb.ExecuteResponse(result=pb.ResultSet(affected_rows=1))

        def check(request, context):
            servicer.checks += 1
            servicer._maybe_fail("check", context)
            return b"\x08\x01"  # HealthCheckResponse{status: SERVING}

        pb_grpc.add_DatabaseServiceServicer_to_server(Db(), self.server)
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _maybe_fail(self, kind, context):
        with self.fail["lock"]:
            if self.fail[kind] > 0:
                self.fail[kind] -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "try another")


def test_round_robin_and_both_retry_policies_in_one_channel():
    fail = {"lock": threading.Lock(), "execute": 0, "check": 0}
    servers = [CountingServer(fail), CountingServer(fail)]
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
    # The caller's own policy: retry Execute on UNAVAILABLE (an application
    # that knows its statements are idempotent), next to txgate's.
    mine = {"methodConfig": [{"name": [{"service": "txgate.v1.DatabaseService",
                                        "method": "Execute"}],
                              "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s",
                                              "maxBackoff": "0.05s", "backoffMultiplier": 2,
                                              "retryableStatusCodes": ["UNAVAILABLE"]}}]}
    try:
        with Client(target, options=[("grpc.service_config", json.dumps(mine))]) as db:
            # Until both subchannels are READY, round_robin uses the one that is.
            assert eventually(lambda: db.execute("SELECT 1", idempotency_key="") and all(
                s.executes for s in servers))
            for s in servers:
                s.executes = 0
            for _ in range(20):
                db.execute("SELECT 1", idempotency_key="")
            # round_robin: both servers served a share (pick_first sends all to one).
            assert [s.executes for s in servers] == [10, 10]
            # txgate's health-check retry policy: 2 UNAVAILABLE, then SERVING.
            fail["check"] = 2
            check = db._channel.unary_unary("/grpc.health.v1.Health/Check")
            assert check(b"", timeout=10) == b"\x08\x01"
            assert sum(s.checks for s in servers) == 3
            # The caller's Execute policy: retried by gRPC, not by the helper
            # (no key, no txgate detail: Client.execute alone would not retry).
            fail["execute"] = 2
            res = db.execute("UPDATE t SET a = 1", idempotency_key="")
            assert res.calls == 1 and sum(s.executes for s in servers) == 23
    finally:
        for s in servers:
            s.server.stop(None)


def _metric(metrics_addr, method):
    """The DatabaseService `method` calls one txgate answered OK: its
    grpc_server_call_duration_seconds_count{grpc_method="txgate.v1.DatabaseService/METHOD",
    grpc_status="OK"} (gRFC A66 names; README, "Metrics and logs")."""
    with urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r'grpc_server_call_duration_seconds_count\{(.*)\} (\S+)$', line)
        if (m and f'grpc_method="txgate.v1.DatabaseService/{method}"' in m.group(1)
                and 'grpc_status="OK"' in m.group(1)):
            total += float(m.group(2))
    return total


@pytest.fixture
def two_txgates(start_txgate):
    """Two more txgate instances, each with a metrics port: [(listen, metrics)]."""
    instances = []
    for _ in range(2):
        metrics = f"127.0.0.1:{free_port()}"
        instances.append((start_txgate(f"--metrics_listen={metrics}"), metrics))
    return instances


def test_calls_spread_over_two_live_txgates(two_txgates):
    target = "ipv4:" + ",".join(listen for listen, _ in two_txgates)
    with Client(target) as db:
        # Until both subchannels are READY, round_robin uses the one that is.
        assert eventually(lambda: db.execute("SELECT 1") and all(
            _metric(m, "Execute") for _, m in two_txgates))
        before = [_metric(m, "Execute") for _, m in two_txgates]
        for i in range(40):
            assert db.execute("SELECT ?", [i]).rows == [(i,)]
        # The health check goes through the same channel and policy.
        check = db._channel.unary_unary("/grpc.health.v1.Health/Check")
        assert check(b"", timeout=10) == b"\x08\x01"
    served = [_metric(m, "Execute") - b for (_, m), b in zip(two_txgates, before)]
    assert sum(served) == 40
    # round_robin alternates over READY subchannels: an even split here.
    assert served == [20, 20], served
