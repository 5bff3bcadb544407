"""Fixtures for the Python client's tests.

Live tests need TXGATE_ADDR (a running txgate) and, for the connection-kill
test, TXGATE_TEST_DB_DIR (its MariaDB, administered through
deploy/local/mariadb.sh); tests/clients/run.sh sets both. Without them the
live tests are skipped and only the offline ones run.
"""

import os
import pathlib
import socket
import subprocess
import time

import grpc

import pytest

from txgate_client import Client

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def addr():
    value = os.environ.get("TXGATE_ADDR")
    if not value:
        pytest.skip("TXGATE_ADDR not set (no live txgate)")
    return value


@pytest.fixture(scope="session")
def db(addr):
    with Client(addr, default_timeout=30.0) as client:
        yield client


def admin_sql(sql, check=True):
    """Runs SQL as the MariaDB admin; returns the output lines."""
    db_dir = os.environ.get("TXGATE_TEST_DB_DIR")
    if not db_dir:
        pytest.skip("TXGATE_TEST_DB_DIR not set (no admin access to MariaDB)")
    out = subprocess.run(["bash", str(REPO / "deploy/local/mariadb.sh"), "sql", db_dir, sql],
                         check=check, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def kill_txgate_sessions():
    """KILL CONNECTION for every session of user txgate; waits until they are gone."""
    query = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER='txgate'"
    ids = admin_sql(query)
    assert ids, "txgate holds no MariaDB sessions to kill"
    for i in ids:
        admin_sql(f"KILL CONNECTION {int(i)}", check=False)  # it may have closed already
    for _ in range(300):
        if not set(ids) & set(admin_sql(query)):
            return ids
        time.sleep(0.1)
    raise AssertionError(f"sessions {ids} still alive")


class Proxy:
    """One toxiproxy proxy, driven through toxiproxy's HTTP API (loopback only)."""

    def __init__(self, api, name, listen):
        self.api, self.name, self.listen = api, name, listen

    def _post(self, path, body):
        return _toxiproxy_request(self.api, "POST", path, body)

    def add_toxic(self, name, kind, stream, **attributes):
        """Adds a toxic; stream "downstream" is txgate -> client."""
        self._post(f"/proxies/{self.name}/toxics",
                   {"name": name, "type": kind, "stream": stream, "toxicity": 1.0,
                    "attributes": attributes})

    def remove_toxic(self, name):
        _toxiproxy_request(self.api, "DELETE", f"/proxies/{self.name}/toxics/{name}")

    def set_enabled(self, on):
        """Off closes every connection through the proxy and refuses new ones."""
        self._post(f"/proxies/{self.name}", {"enabled": on})

    def delete(self):
        _toxiproxy_request(self.api, "DELETE", f"/proxies/{self.name}")


def _toxiproxy_request(api, method, path, body=None):
    import json
    import urllib.request
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{api}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read()
    return json.loads(text) if text else None


@pytest.fixture
def txgate_proxy(addr):
    """A toxiproxy proxy in front of txgate's gRPC port (TXGATE_TOXIPROXY: the
    API of a running toxiproxy-server; tests/clients/run.sh starts one)."""
    api = os.environ.get("TXGATE_TOXIPROXY")
    if not api:
        pytest.skip("TXGATE_TOXIPROXY not set (no toxiproxy)")
    name = f"py-{os.getpid()}-{time.monotonic_ns()}"
    created = _toxiproxy_request(api, "POST", "/proxies",
                                 {"name": name, "listen": "127.0.0.1:0", "upstream": addr})
    proxy = Proxy(api, name, created["listen"])
    yield proxy
    proxy.delete()


def eventually(condition, timeout=10.0):
    """Polls `condition` every 10 ms until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_txgate(addr):
    """A factory: start_txgate(*flags) starts one more txgate-server on the test
    MariaDB, as tests/support/lib.sh's start_txgate does (TXGATE_BUILD_DIR,
    TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT), waits until its health check
    answers SERVING, and returns its address; each is stopped (SIGTERM) at the
    end of the test."""
    build, db_dir = os.environ.get("TXGATE_BUILD_DIR"), os.environ.get("TXGATE_TEST_DB_DIR")
    mysql_port = os.environ.get("TXGATE_TEST_MYSQL_PORT")
    if not (build and db_dir and mysql_port):
        pytest.skip("TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT not set")
    log_dir = os.environ.get("TXGATE_LOG_DIR", "/tmp")
    with open(os.path.join(db_dir, "password"), encoding="utf-8") as f:
        env = dict(os.environ, TXGATE_MYSQL_PASSWORD=f.read().strip())
    procs = []

    def start(*flags):
        port = free_port()
        listen = f"127.0.0.1:{port}"
        with open(os.path.join(log_dir, f"txgate-py-{port}.log"), "wb") as log:
            procs.append(subprocess.Popen(
                [os.path.join(build, "txgate-server"), f"--listen={listen}",
                 f"--mysql_port={mysql_port}", "--mysql_user=txgate", "--mysql_database=txgate",
                 "--mysql_ro_user=txgate_ro",
                 f"--mysql_ro_password_file={os.path.join(db_dir, 'ro-password')}", *flags],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO))

        def serving():
            with grpc.insecure_channel(listen) as ch:
                try:
                    check = ch.unary_unary("/grpc.health.v1.Health/Check")
                    return check(b"", timeout=1) == b"\x08\x01"
                except grpc.RpcError:
                    return procs[-1].poll() is not None  # exited: stop waiting
        assert eventually(serving, timeout=30), f"txgate on {listen} never served"
        assert procs[-1].poll() is None, f"txgate on {listen} exited; see its log in {log_dir}"
        return listen

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=60)
