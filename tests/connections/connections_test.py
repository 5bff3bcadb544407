#!/usr/bin/env python3
"""txgate's HTTP/2 connection management (keepalive, connection age) with the
real server binary, a real MariaDB and real grpcio clients (README,
"Connections on Kubernetes"). Three checks:

  pinging   A client that pings every 10 s (keepalive_time_ms=10000, with or
            without calls) runs `SELECT SLEEP(60)` and keeps an interactive
            transaction idle for 50 s: both succeed against txgate's default
            flags. Control: the same idle transaction against a txgate with
            gRPC's own ping policy (--min_client_ping_interval=5m) fails with
            UNAVAILABLE (GOAWAY too_many_pings), which shows the client does
            ping. Durations: TXGATE_CONN_CALL_SECONDS (60),
            TXGATE_CONN_IDLE_SECONDS (50), TXGATE_CONN_PING_SECONDS (10); the
            three run at once, so the check takes max(call, idle) + ~2 s.
  rebalance Two txgate instances behind one address (a TCP balancer that, as
            kube-proxy does for a Service, sends each new connection to the
            next backend of its list). Eight clients, each calling in a loop on
            its own connection, connect while only the first
            is listed; the second is started and listed. With
            --max_connection_age=2s --max_connection_age_grace=1s, after
            age * 1.1 + grace the second serves between 25% and 75% of the
            calls of the next 6 s (about half: each connection lands on
            either). Control: with --max_connection_age=0,
            the second serves none.
  age       With --max_connection_age=1s and the default grace, a call and
            an idle transaction that span several ages both succeed (the
            age's GOAWAY never cuts a call), and later calls go on.
            Control: with a 1 s grace both fail UNAVAILABLE.
  silent    A client opens a transaction that holds a row lock, then its
            process is stopped (kill -STOP: its kernel still ACKs TCP, its
            gRPC answers no ping). txgate (--keepalive_time=2s
            --keepalive_timeout=1s) closes the connection and rolls the
            transaction back: the row lock is free within keepalive_time +
            keepalive_timeout + 2 s (the 2 s: the rollback and this check's
            polling). Control: with --keepalive_time=0 it is still held then.

    python3 connections_test.py [pinging|rebalance|silent ...]
Env (tests/run.sh's): TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR,
TXGATE_TEST_MYSQL_PORT, TXGATE_LOG_DIR. Needs grpcurl on PATH and
client/python on PYTHONPATH.
"""

import calendar
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc

from txgate.v1 import database_pb2 as pb
from txgate_client import Client, TxgateError

BUILD = os.environ["TXGATE_BUILD_DIR"]
DB_DIR = os.environ["TXGATE_TEST_DB_DIR"]
MYSQL_PORT = os.environ["TXGATE_TEST_MYSQL_PORT"]
LOG_DIR = os.environ.get("TXGATE_LOG_DIR", "/tmp")
CALL_S = float(os.environ.get("TXGATE_CONN_CALL_SECONDS", "60"))
IDLE_S = float(os.environ.get("TXGATE_CONN_IDLE_SECONDS", "50"))
PING_S = float(os.environ.get("TXGATE_CONN_PING_SECONDS", "10"))

# Every call logged (counted by the rebalance check).
LOG_FLAGS = os.environ.get("TXGATE_CONN_LOG_FLAGS", "").split()

# A client that pings every PING_S seconds, with or without calls, and
# without waiting for data in between (grpcio's default allows 2 such pings).
PINGING = [("grpc.keepalive_time_ms", int(PING_S * 1000)),
           ("grpc.keepalive_timeout_ms", 5000),
           ("grpc.keepalive_permit_without_calls", 1),
           ("grpc.http2.max_pings_without_data", 0)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def admin(sql):
    return subprocess.run(
        ["mariadb", f"--socket={DB_DIR}/mysqld.sock", "-uroot", "-N", "-B", "txgate", "-e", sql],
        check=True, capture_output=True, text=True).stdout


def wait_until(what, cond, timeout):
    """Polls cond() every 50 ms until true; fails after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Txgate:
    """A txgate-server process on a free port (as tests/support/lib.sh's start_txgate)."""

    def __init__(self, *flags, tls=False, env_extra=None):
        self.port = free_port()
        self.tls = tls
        self.log = os.path.join(LOG_DIR, f"txgate-{self.port}.log")
        env = dict(os.environ, **(env_extra or {}))
        with open(os.path.join(DB_DIR, "password")) as f:
            env["TXGATE_MYSQL_PASSWORD"] = f.read().strip()
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [os.path.join(BUILD, "txgate-server"), f"--listen=127.0.0.1:{self.port}",
                 f"--mysql_port={MYSQL_PORT}", "--mysql_user=txgate", "--mysql_database=txgate",
                 *LOG_FLAGS, *flags],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_until(f"txgate on {self.port} serving", self.serving, 30)

    def grpcurl(self, *options_then_method):
        """grpcurl OPTIONS... 127.0.0.1:PORT METHOD, over TLS when the server has it."""
        *options, method = options_then_method
        return subprocess.run(["grpcurl", "-insecure" if self.tls else "-plaintext", *options,
                               f"127.0.0.1:{self.port}", method], capture_output=True, text=True)

    def serving(self):
        r = self.grpcurl("grpc.health.v1.Health/Check")
        return "SERVING" in r.stdout and "NOT_SERVING" not in r.stdout

    def rpc_lines(self, since):
        """Per-RPC log lines (msg "rpc") stamped at or after `since` (time.time())."""
        n = 0
        with open(self.log) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") != "rpc":
                    continue
                if stamp(rec["ts"]) >= since:
                    n += 1
        return n

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def stamp(ts):
    """Seconds since the epoch of an RFC 3339 UTC time, e.g. 2026-11-29T21:40:01.123456789+00:00."""
    frac = ts[19:].removesuffix("Z").removesuffix("+00:00")
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + frac)


def channel(port, options=()):
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=list(options))


def idle_transaction(port, idle_s, options, results, name):
    """Begins, writes a row, stays idle idle_s seconds, reads it back and
    commits; results[name] = "ok" or the error."""
    ch = channel(port, options)
    try:
        db = Client(channel=ch, default_timeout=None)
        with db.transaction(timeout=idle_s + 60) as tx:
            tx.execute("INSERT INTO conn_test (note) VALUES (?)", [name])
            time.sleep(idle_s)  # the idle client: what is measured
            tx.execute("SELECT COUNT(*) FROM conn_test WHERE note = ?", [name])
            tx.commit()
        results[name] = "ok"
    except (TxgateError, grpc.RpcError) as e:
        results[name] = f"{getattr(e, 'code', lambda: '?')}: {e}"
    finally:
        ch.close()


def long_call(port, call_s, options, results, name):
    ch = channel(port, options)
    try:
        db = Client(channel=ch)
        resp = db.stub.Execute(pb.ExecuteRequest(sql=f"SELECT SLEEP({call_s})"),
                               timeout=call_s + 60)
        results[name] = "ok" if len(resp.result.rows) == 1 else f"bad response {resp}"
    except grpc.RpcError as e:
        results[name] = f"{e.code()}: {e.details()}"
    finally:
        ch.close()


def check_pinging():
    admin("CREATE TABLE IF NOT EXISTS conn_test (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
          " note VARCHAR(64)) ENGINE=InnoDB")
    ours = Txgate()
    control = Txgate("--min_client_ping_interval=5m")  # gRPC's own policy
    results = {}
    threads = [
        threading.Thread(target=long_call, args=(ours.port, CALL_S, PINGING, results, "call")),
        threading.Thread(target=idle_transaction,
                         args=(ours.port, IDLE_S, PINGING, results, "idle")),
        threading.Thread(target=idle_transaction,
                         args=(control.port, IDLE_S, PINGING, results, "control")),
    ]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    ours.stop()
    control.stop()
    print(f"  pinging every {PING_S:g} s: SELECT SLEEP({CALL_S:g}): {results['call']}; "
          f"transaction idle {IDLE_S:g} s: {results['idle']}; control (gRPC's policy): "
          f"{results['control']} ({took:.1f} s)")
    assert results["call"] == "ok", results["call"]
    assert results["idle"] == "ok", results["idle"]
    assert "UNAVAILABLE" in results["control"], (
        "the control did not fail: the client did not ping as configured", results["control"])


class Balancer:
    """A TCP balancer on one port: each new connection goes to the next
    backend of `self.backends` (as kube-proxy spreads a Service's
    connections); bytes are copied both ways until either side closes."""

    def __init__(self):
        self.backends = []
        self.next = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                port = self.backends[self.next % len(self.backends)]
                self.next += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", port))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._copy, args=(a, b), daemon=True).start()

    @staticmethod
    def _copy(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def share_of_second(age_flags, clients=8, window=6.0):
    """Starts A, clients on the balancer, then B; returns (calls on A, calls
    on B) in the window that starts age * 1.1 + grace after B is listed."""
    age, grace = age_flags
    a = Txgate(f"--max_connection_age={age}s", f"--max_connection_age_grace={grace}s")
    lb = Balancer()
    lb.backends.append(a.port)
    stop = threading.Event()
    errors = []

    def caller():
        ch = channel(lb.port)
        stub = Client(channel=ch).stub
        while not stop.is_set():
            try:
                stub.Execute(pb.ExecuteRequest(sql="SELECT 1"), timeout=10)
            except grpc.RpcError as e:
                errors.append(f"{e.code()}: {e.details()}")
            time.sleep(0.02)
        ch.close()

    threads = [threading.Thread(target=caller) for _ in range(clients)]
    for t in threads:
        t.start()
    wait_until("calls on the first instance", lambda: a.rpc_lines(0) >= clients, 30)
    b = Txgate(f"--max_connection_age={age}s", f"--max_connection_age_grace={grace}s")
    with lb.lock:
        lb.backends.append(b.port)
    settle = age * 1.1 + grace if age > 0 else 3.3
    time.sleep(settle)  # the documented bound under test, not a wait for a condition
    since = time.time()
    time.sleep(window)
    on_a, on_b = a.rpc_lines(since), b.rpc_lines(since)
    stop.set()
    for t in threads:
        t.join()
    lb.close()
    a.stop()
    b.stop()
    # Calls cut by a GOAWAY are retried transparently by gRPC (never sent);
    # none may fail.
    assert not errors, errors[:5]
    return on_a, on_b


def check_rebalance():
    on_a, on_b = share_of_second((2, 1))
    share = on_b / max(1, on_a + on_b)
    print(f"  max age 2 s, grace 1 s: second instance served {on_b} of {on_a + on_b} calls "
          f"({share:.0%}) in the window after age * 1.1 + grace")
    assert 0.25 <= share <= 0.75, (on_a, on_b)
    on_a, on_b = share_of_second((0, 1))
    print(f"  control, no max age: second instance served {on_b} of {on_a + on_b} calls")
    assert on_b == 0 and on_a > 0, (on_a, on_b)


def across_ages(*flags):
    """Runs SELECT SLEEP(4) and a transaction idle 4 s at once against a
    txgate with `flags`, then three calls on a fresh channel; returns the
    two results ("ok" or the error)."""
    admin("CREATE TABLE IF NOT EXISTS conn_test (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
          " note VARCHAR(64)) ENGINE=InnoDB")
    srv = Txgate(*flags)
    results = {}
    threads = [
        threading.Thread(target=long_call, args=(srv.port, 4, (), results, "call")),
        threading.Thread(target=idle_transaction, args=(srv.port, 4, (), results, "idle")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ch = channel(srv.port)
    stub = Client(channel=ch).stub
    for _ in range(3):
        stub.Execute(pb.ExecuteRequest(sql="SELECT 1"), timeout=10)
    ch.close()
    srv.stop()
    return results


def check_age():
    """With a short --max_connection_age and the default (unlimited) grace, a
    transaction idle across several ages and a call running across them both
    succeed on their old connection, and new calls go on. Control: with a
    1 s grace both are cut (UNAVAILABLE), which shows the age fires."""
    results = across_ages("--max_connection_age=1s")
    print(f"  max age 1 s, default grace: SELECT SLEEP(4): {results['call']}; "
          f"transaction idle 4 s: {results['idle']}")
    assert results["call"] == "ok", results["call"]
    assert results["idle"] == "ok", results["idle"]
    results = across_ages("--max_connection_age=1s", "--max_connection_age_grace=1s")
    print(f"  control, grace 1 s: SELECT SLEEP(4): {results['call']}; "
          f"transaction idle 4 s: {results['idle']}")
    assert "UNAVAILABLE" in results["call"] and "UNAVAILABLE" in results["idle"], results


HOLDER = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from txgate_client import Client
db = Client("127.0.0.1:" + sys.argv[1], default_timeout=None)
tx = db.transaction()
tx.execute("SELECT id FROM conn_test WHERE id = 1 FOR UPDATE")
print("locked", flush=True)
time.sleep(3600)
"""


def lock_free():
    try:
        admin("SET SESSION innodb_lock_wait_timeout = 1;"
              " SELECT id FROM conn_test WHERE id = 1 FOR UPDATE")
        return True
    except subprocess.CalledProcessError:
        return False


def stop_holder(flags, bound):
    """Starts txgate with `flags`, a client holding a row lock in a
    transaction, stops the client (SIGSTOP) and waits up to `bound` seconds
    for the lock to be free. Returns the seconds it took, or None."""
    srv = Txgate(*flags)
    here = os.path.dirname(os.path.abspath(__file__))
    client_dir = os.path.join(here, "..", "..", "client", "python")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(srv.port), client_dir],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert not lock_free(), "the row lock is not held by the client's transaction"
        holder.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            wait_until("the silent client's transaction rolled back", lock_free, bound)
        except AssertionError:
            return None
        return time.monotonic() - stopped
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        srv.stop()


def check_silent():
    admin("CREATE TABLE IF NOT EXISTS conn_test (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
          " note VARCHAR(64)) ENGINE=InnoDB; INSERT IGNORE INTO conn_test (id, note) VALUES (1, 'x')")
    keepalive, timeout = 2.0, 1.0
    bound = keepalive + timeout + 2
    took = stop_holder([f"--keepalive_time={keepalive:g}s", f"--keepalive_timeout={timeout:g}s"],
                       bound)
    print(f"  client stopped: its transaction rolled back after "
          f"{'never' if took is None else f'{took:.1f} s'} (bound {bound:g} s)")
    assert took is not None, "the stopped client's transaction was not rolled back in time"
    open_tx = admin("SELECT COUNT(*) FROM information_schema.innodb_trx t JOIN "
                    "information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
                    "WHERE p.user = 'txgate'").strip()
    assert open_tx == "0", f"txgate transactions still open: {open_tx}"
    # Control: without server pings the lock stays held past the bound.
    took = stop_holder(["--keepalive_time=0"], bound)
    print(f"  control, no server pings: lock still held after {bound:g} s: {took is None}")
    assert took is None, took


def check_logs():
    """Every stderr line of a run is a JSON object, gRPC core's too (a
    plaintext client on the TLS port provokes its handshake errors; and
    GRPC_VERBOSITY=debug makes it talk at start and exit); numbers are JSON
    numbers; a valid traceparent's ids are logged, an invalid one never."""
    certs = os.path.join(LOG_DIR, "certs")
    os.makedirs(certs, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", f"{certs}/key.pem", "-out", f"{certs}/cert.pem",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    srv = Txgate(f"--tls_cert_file={certs}/cert.pem", f"--tls_key_file={certs}/key.pem",
                 "--log_level=debug", tls=True, env_extra={"GRPC_VERBOSITY": "debug"})
    plain = subprocess.run(["grpcurl", "-plaintext", "-max-time", "2",
                            f"127.0.0.1:{srv.port}", "grpc.health.v1.Health/Check"],
                           capture_output=True, text=True)
    assert plain.returncode != 0, "a plaintext client got an answer from the TLS port"
    marker = "not-a-trace-7f3c"
    for traceparent, sql in (
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "SELECT 1"),
            (f"00-{marker}-00f067aa0ba902b7-01", "SELECT 2"),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "SELEC 3")):
        srv.grpcurl("-H", f"traceparent: {traceparent}", "-d", json.dumps({"sql": sql}),
                    "txgate.v1.DatabaseService/Execute")
    srv.stop()
    records = []
    with open(srv.log, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                records.append(json.loads(raw))
            except ValueError:
                raise AssertionError(f"{srv.log}:{n} is not JSON: {raw[:200]!r}") from None
    assert all(isinstance(r, dict) and {"ts", "level", "msg"} <= r.keys() for r in records)
    grpc_lines = [r for r in records if r["msg"] == "grpc"]
    assert any("Handshake failed" in r["message"] for r in grpc_lines), "no gRPC handshake line"
    serving = next(r for r in records if r["msg"] == "serving")
    assert serving["port"] == srv.port, serving
    rpcs = [r for r in records if r["msg"] == "rpc"]
    assert len(rpcs) == 3, rpcs
    assert all(isinstance(r["duration_ms"], float) and isinstance(r["sql_bytes"], int)
               for r in rpcs), rpcs
    assert isinstance(rpcs[2]["mysql_errno"], int), rpcs[2]
    assert rpcs[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736", rpcs[0]
    assert rpcs[0]["span_id"] == "00f067aa0ba902b7", rpcs[0]
    assert "trace_id" not in rpcs[1], rpcs[1]
    with open(srv.log) as f:
        assert marker not in f.read(), "an invalid traceparent was logged"
    print(f"  {len(records)} lines, all JSON ({len(grpc_lines)} from gRPC core); "
          f"numbers are numbers; trace ids logged, the invalid traceparent not")


CHECKS = {"pinging": check_pinging, "rebalance": check_rebalance, "age": check_age,
          "silent": check_silent, "logs": check_logs}


def main(names):
    failed = 0
    for name in names or CHECKS:
        start = time.monotonic()
        try:
            CHECKS[name]()
            print(f"ok    {name} ({time.monotonic() - start:.1f} s)", flush=True)
        except AssertionError as e:
            failed += 1
            print(f"FAIL  {name}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
