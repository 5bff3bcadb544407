"""A thin client for txgate.v1.DatabaseService over grpcio."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import queue
import random
import threading
import time
import uuid
from typing import (Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar,
                    Union)

import grpc

from txgate.v1 import database_pb2 as pb
from txgate.v1 import database_pb2_grpc as pb_grpc

from .errors import ERROR_DOMAIN, REASON_COMMIT_OUTCOME_UNKNOWN, TxgateError, from_rpc_error
from .values import Json, Row, from_value, row_class, to_values

# proto/txgate/v1/service_config.json: round_robin load balancing over every
# address the target resolves to (e.g. "ipv4:10.0.0.1:50051,10.0.0.2:50051" or
# a headless Kubernetes service's "dns:///txgate:50051"), and a retry policy
# for health checks only: it retries no DatabaseService call (gRPC's retry
# policy cannot see whether a request carries an idempotency key); execute and
# run_transaction retry in code (client/README.md, "Retries: who retries what").
SERVICE_CONFIG = importlib.resources.files("txgate.v1").joinpath(
    "service_config.json").read_text(encoding="utf-8")

# A statement: "SQL", ("SQL", [params]) or a txgate.v1.Statement (see statement()).
StatementLike = Union[str, Tuple[str, Sequence[Any]], pb.Statement]

_DEFAULT = object()
T = TypeVar("T")


@dataclasses.dataclass
class Result:
    """The result of one statement, with row values converted to Python."""
    columns: List[pb.Column]
    rows: List[Row]     # tuples that also take a column name: row["balance"]
    affected_rows: int = 0
    last_insert_id: int = 0
    warning_count: int = 0
    # Set by Client.execute only: the Execute calls it made (1 without a
    # retry) and the idempotency key every one carried ("" for none).
    calls: int = 1
    idempotency_key: str = ""

    @property
    def column_names(self) -> List[str]:
        return [c.name for c in self.columns]

    @classmethod
    def from_proto(cls, rs: pb.ResultSet) -> "Result":
        row_type = row_class(tuple(c.name for c in rs.columns))
        rows: List[Row] = [row_type(from_value(v) for v in r.values) for r in rs.rows]
        return cls(list(rs.columns), rows, rs.affected_rows, rs.last_insert_id,
                   rs.warning_count)


@dataclasses.dataclass
class TransactionResult:
    """The results of a RunTransaction, one per statement."""
    results: List[Result]
    attempts: int           # times the server started the transaction (last call)
    calls: int              # RunTransaction calls this client made
    idempotency_key: str    # the key every call carried ("" for read-only)


def merge_service_configs(*configs: Union[str, dict]) -> str:
    """One gRPC service config (JSON text) made of several, later ones winning.

    gRPC takes a single service config per channel, and grpcio uses the first
    `grpc.service_config` channel option and ignores any later one without a
    word, so configs must be merged, not listed. The merge: a later config's
    `loadBalancingConfig`, `retryThrottling` and other top-level fields
    replace earlier ones; `methodConfig` entries are concatenated, except that
    an earlier entry naming a service/method a later entry also names is
    dropped whole (gRPC rejects a config that names a method twice)."""
    merged: dict = {}
    methods: List[dict] = []
    for config in configs:
        c = json.loads(config) if isinstance(config, str) else dict(config)
        later = c.pop("methodConfig", [])
        names = {json.dumps(n, sort_keys=True) for m in later for n in m.get("name", [])}
        methods = [m for m in methods
                   if not names & {json.dumps(n, sort_keys=True) for n in m.get("name", [])}]
        methods += later
        merged.update(c)
    if methods:
        merged["methodConfig"] = methods
    return json.dumps(merged)


def channel_options(extra: Iterable[Tuple[str, Any]] = ()) -> List[Tuple[str, Any]]:
    """gRPC channel options with txgate's service config (SERVICE_CONFIG:
    round_robin over every address the target resolves to, and the health
    check's retry policy) and retries enabled.

    A `grpc.service_config` in `extra` is merged into txgate's
    (merge_service_configs: the caller's fields win) instead of being listed
    twice, which grpcio would silently ignore; so is a `grpc.enable_retries`."""
    configs: List[str] = [SERVICE_CONFIG]
    retries: Any = 1
    rest = []
    for key, value in extra:
        if key == "grpc.service_config":
            configs.append(value)
        elif key == "grpc.enable_retries":
            retries = value
        else:
            rest.append((key, value))
    return [("grpc.service_config", merge_service_configs(*configs)),
            ("grpc.enable_retries", retries), *rest]


def retryable(err: TxgateError, safe: bool) -> bool:
    """Whether a request that failed with `err` may be sent again.

    `safe`: the request is safe to repeat whatever happened to it (it carries
    an idempotency key, or it is a read-only transaction). txgate's own
    UNAVAILABLE (its ErrorInfo, domain txgate.dev) says nothing of the call
    was applied: any request may be re-sent. An UNAVAILABLE without it comes
    from the transport (a cut connection, a proxy): the request may have been
    applied with its answer lost, so only a safe one is re-sent; so is an
    UNKNOWN with reason COMMIT_OUTCOME_UNKNOWN (a lost commit, which the key
    resolves), and a CANCELLED without txgate's ErrorInfo that this process
    did not cause (err.cancelled_locally is False): gRPC's server cancels a
    call it accepted as a drain starts, before txgate saw it (README,
    "Shutdown"). Nothing else is retried; a call the application cancelled
    (its channel closed) never is."""
    if err.code == grpc.StatusCode.UNAVAILABLE and err.domain == ERROR_DOMAIN:
        return True
    if not safe:
        return False
    return err.code == grpc.StatusCode.UNAVAILABLE or (
        err.code == grpc.StatusCode.UNKNOWN and err.reason == REASON_COMMIT_OUTCOME_UNKNOWN) or (
        err.code == grpc.StatusCode.CANCELLED and err.domain != ERROR_DOMAIN
        and not err.cancelled_locally)


def _isolation(level: Union[None, int, str]) -> Any:  # a pb.IsolationLevel value
    if level is None:
        return pb.ISOLATION_LEVEL_UNSPECIFIED
    if isinstance(level, int):
        return level
    name = level.upper().replace(" ", "_").replace("-", "_")
    if not name.startswith("ISOLATION_LEVEL_"):
        name = "ISOLATION_LEVEL_" + name
    return pb.IsolationLevel.Value(name)


def _options(isolation, read_only: bool,
             read: Optional[pb.ReadOptions] = None) -> pb.TransactionOptions:
    options = pb.TransactionOptions(isolation_level=_isolation(isolation), read_only=read_only)
    if read_only and read is not None:
        options.read.CopyFrom(read)
    return options


# How routing= names a txgate.v1.ReadRouting.
_ROUTINGS = {None: pb.READ_ROUTING_UNSPECIFIED, "primary": pb.READ_ROUTING_PRIMARY,
             "replica": pb.READ_ROUTING_REPLICA}


def _routing(routing: Union[None, str, int]) -> Any:  # a pb.ReadRouting value
    if isinstance(routing, int):
        return routing
    try:
        return _ROUTINGS[routing.lower() if isinstance(routing, str) else routing]
    except KeyError:
        raise ValueError(f"routing must be None, 'primary' or 'replica', not {routing!r}") from None


class CausalityTokens:
    """The causality token of the latest write a session saw (README,
    "Reads on replicas"): txgate names each committed write's GTID in its
    response; a read that sends the token back sees that write, also on a
    replica. Thread-safe; shared by a Client and its transactions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token = ""

    def get(self) -> str:
        with self._lock:
            return self._token

    def observe(self, token: str) -> None:
        """Keeps `token` (a write response's) as the latest; "" is ignored."""
        if token:
            with self._lock:
                self._token = token

    def clear(self) -> None:
        with self._lock:
            self._token = ""


def statement(sql: str, params: Sequence[Any] = (), *, affected_rows: Optional[int] = None,
              min_affected_rows: Optional[int] = None, max_affected_rows: Optional[int] = None,
              rows: Optional[int] = None, min_rows: Optional[int] = None,
              max_rows: Optional[int] = None) -> pb.Statement:
    """A txgate.v1.Statement, optionally with an expectation on its result.

    Each keyword given is a condition (they combine with AND; 0 is a real
    condition, None none): affected_rows / min_affected_rows /
    max_affected_rows bound the affected rows (txgate counts the rows an
    UPDATE matched, changed or not: CLIENT_FOUND_ROWS); rows / min_rows /
    max_rows bound the rows returned (min_rows=1: "returns a row"). When the
    result misses one, the whole transaction is rolled back and the call
    raises ExpectationFailed. E.g. a guarded transfer:

        db.run_transaction([
            statement("UPDATE acct SET balance = balance - ? WHERE id = ? AND balance >= ?",
                      [amount, src, amount], min_affected_rows=1),
            ("UPDATE acct SET balance = balance + ? WHERE id = ?", [amount, dst])])
    """
    st = pb.Statement(sql=sql, params=to_values(params))
    conditions = dict(affected_rows=affected_rows, min_affected_rows=min_affected_rows,
                      max_affected_rows=max_affected_rows, rows=rows, min_rows=min_rows,
                      max_rows=max_rows)
    for name, value in conditions.items():
        if value is not None:
            setattr(st.expect, name, value)  # also marks st.expect as set
    return st


def _statement(s: StatementLike) -> pb.Statement:
    if isinstance(s, pb.Statement):
        return s
    if isinstance(s, str):
        return pb.Statement(sql=s)
    sql, params = s
    return pb.Statement(sql=sql, params=to_values(params))


class Client:
    """A txgate client.

        with Client("127.0.0.1:50051") as db:
            db.execute("SELECT ?", [1]).rows
    """

    def __init__(self, target: Optional[str] = None, *,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 options: Iterable[Tuple[str, Any]] = (),
                 channel: Optional[grpc.Channel] = None,
                 stub: Any = None, default_timeout: Optional[float] = 30.0,
                 token: Optional[str] = None,
                 metadata: Sequence[Tuple[str, str]] = (),
                 routing: Union[None, str, int] = None):
        """Dials `target` (insecure unless `credentials`) with the service config.

        Alternatively pass your own `channel` (give it channel_options()), or a
        `stub` (anything with DatabaseService's methods, e.g. for tests).
        `default_timeout` (seconds) bounds unary calls that pass no timeout.
        `token`: a bearer token (txgate's --auth_tokens_file) sent with every
        call as `authorization: Bearer <token>`; `metadata`: more (key, value)
        pairs sent with every call. `routing`: where reads may run by default,
        "primary" or "replica" (None: txgate's --read_routing); each read call
        may say otherwise.

        Read-your-writes: the client keeps the causality token of the latest
        write it saw (`causality_token`) and sends it with every read and
        read-only transaction, so they see this client's writes also on a
        replica (README, "Reads on replicas")."""
        self.routing = _routing(routing)
        self.tokens = CausalityTokens()
        self.metadata: Tuple[Tuple[str, str], ...] = tuple(metadata) + (
            (("authorization", f"Bearer {token}"),) if token else ())
        self._channel = None
        self._closed = False  # close() was called: nothing more is sent
        if stub is None:
            if channel is None:
                if target is None:
                    raise ValueError("target, channel or stub required")
                opts = channel_options(options)
                channel = (grpc.secure_channel(target, credentials, opts) if credentials
                           else grpc.insecure_channel(target, opts))
                self._channel = channel
            stub = pb_grpc.DatabaseServiceStub(channel)
        self.stub = stub
        self.default_timeout = default_timeout

    def close(self) -> None:
        self._closed = True
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _timeout(self, timeout):
        return self.default_timeout if timeout is _DEFAULT else timeout

    @property
    def causality_token(self) -> str:
        """The token of the latest write this client saw ("" before any)."""
        return self.tokens.get()

    def _read_options(self, routing: Union[None, str, int] = _DEFAULT) -> pb.ReadOptions:
        """What a read sends: its routing (the client's unless given) and the
        latest write's token."""
        return pb.ReadOptions(routing=self.routing if routing is _DEFAULT else _routing(routing),
                              causality_token=self.tokens.get())

    def _with_retries(self, method, req, key: str, safe: bool, timeout: Optional[float],
                      initial_backoff: float, max_backoff: float):
        """Calls `method`(req) until it succeeds or retryable() says no, with
        exponential backoff and jitter, all within `timeout` seconds (None: no
        bound). Returns (response, calls); raises the last TxgateError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = initial_backoff
        calls = 0
        last_err: Optional[TxgateError] = None
        while True:
            calls += 1
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if last_err is not None:
                    raise last_err  # a pause that overslept the deadline: the last real answer
                raise TxgateError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed",
                                  idempotency_key=key)
            try:
                return method(req, timeout=remaining, metadata=self.metadata), calls
            except grpc.RpcError as e:
                err = from_rpc_error(e, key)
            if self._closed or not retryable(err, safe):
                raise err
            pause = backoff / 2 + random.uniform(0, backoff / 2)
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise err
            last_err = err
            time.sleep(pause)
            backoff = min(backoff * 2, max_backoff)

    def execute(self, sql: str, params: Sequence[Any] = (), *,
                idempotency_key: Optional[str] = None, timeout=_DEFAULT,
                initial_backoff: float = 0.05, max_backoff: float = 2.0,
                routing: Union[None, str, int] = _DEFAULT) -> Result:
        """Runs one statement in autocommit mode, exactly once.

        A fresh idempotency key (uuid4) names this call unless one is given;
        every attempt carries it, so a write whose answer was lost (UNAVAILABLE
        from a cut connection, UNKNOWN / COMMIT_OUTCOME_UNKNOWN) is re-sent
        safely: txgate answers a re-sent write that did apply with its stored
        answer (affected_rows, last_insert_id, ...) instead of running it again.
        txgate ignores the key of a plain read. idempotency_key="" sends none:
        then only txgate's own UNAVAILABLE (nothing applied) is retried.
        Retries back off exponentially with jitter, within `timeout` seconds
        overall (default: the client's default_timeout; None: no bound).

        The request carries the client's read options (`routing`, default the
        client's, and the latest write's causality token): txgate follows
        them if the statement is a read and ignores them for a write, whose
        token the client then keeps.

        Raises TxgateError; its idempotency_key lets a caller retry later."""
        key = str(uuid.uuid4()) if idempotency_key is None else idempotency_key
        req = pb.ExecuteRequest(sql=sql, params=to_values(params), idempotency_key=key,
                                read=self._read_options(routing))
        resp, calls = self._with_retries(self.stub.Execute, req, key, bool(key),
                                         self._timeout(timeout), initial_backoff, max_backoff)
        self.tokens.observe(resp.causality_token)
        result = Result.from_proto(resp.result)
        result.calls, result.idempotency_key = calls, key
        return result

    def run_transaction(self, statements: Sequence[StatementLike], *, isolation=None,
                        read_only: bool = False, idempotency_key: Optional[str] = None,
                        timeout: float = 30.0, initial_backoff: float = 0.05,
                        max_backoff: float = 2.0,
                        routing: Union[None, str, int] = _DEFAULT) -> TransactionResult:
        """Runs the statements as one transaction, all or nothing, exactly once.

        A fresh idempotency key (uuid4) names this logical transaction unless
        one is given; every call carries the same key, so retrying UNAVAILABLE
        and UNKNOWN (outcome unknown) is safe: a transaction that did commit
        answers its stored response instead of running again. Retries back off
        exponentially with jitter, within `timeout` seconds overall. Read-only
        transactions carry no key: re-running them is harmless. With
        idempotency_key="" (and not read-only), only txgate's own UNAVAILABLE
        (nothing applied) is retried. A read-only transaction carries the
        client's read options (`routing`, the latest write's token); a
        writing one's token is kept.

        Raises TxgateError; its idempotency_key lets a caller retry later."""
        key = idempotency_key if idempotency_key is not None else (
            "" if read_only else str(uuid.uuid4()))
        req = pb.RunTransactionRequest(statements=[_statement(s) for s in statements],
                                       options=_options(isolation, read_only,
                                                        self._read_options(routing)),
                                       idempotency_key=key)
        resp, calls = self._with_retries(self.stub.RunTransaction, req, key,
                                         bool(key) or read_only, timeout, initial_backoff,
                                         max_backoff)
        self.tokens.observe(resp.causality_token)
        return TransactionResult([Result.from_proto(r) for r in resp.results], resp.attempts,
                                 calls, key)

    def stream_query(self, sql: str, params: Sequence[Any] = (), *,
                     max_rows_per_chunk: int = 0,
                     timeout: Optional[float] = None,
                     routing: Union[None, str, int] = _DEFAULT) -> "RowStream":
        """Streams the rows of one query; iterate the result for Rows (tuples that also take a column name).

            with db.stream_query("SELECT * FROM big") as rows:
                for row in rows: ...
        """
        # Rows larger than one message come split (chunked values); the
        # RowStream joins them, so every row arrives whole.
        req = pb.StreamQueryRequest(sql=sql, params=to_values(params),
                                    max_rows_per_chunk=max_rows_per_chunk,
                                    accept_chunked_values=True,
                                    read=self._read_options(routing))
        return RowStream(self.stub.StreamQuery(req, timeout=timeout, metadata=self.metadata))

    def transaction(self, *, isolation=None, read_only: bool = False,
                    timeout: Optional[float] = None,
                    routing: Union[None, str, int] = _DEFAULT) -> "Transaction":
        """Begins an interactive transaction over the bidi Transaction stream.

            with db.transaction() as tx:
                tx.execute("UPDATE ...", [...])
                tx.commit()
            # leaving the block without commit() rolls back

        A read-only one carries the client's read options (`routing`, the
        latest write's token); a writing one's commit token is kept.
        """
        return Transaction(self.stub, _options(isolation, read_only, self._read_options(routing)),
                           timeout, self.metadata, self.tokens)

    def run_in_transaction(self, fn: Callable[["Transaction"], T], *, isolation=None,
                           read_only: bool = False, timeout: Optional[float] = 60.0,
                           max_attempts: int = 10, initial_backoff: float = 0.05,
                           max_backoff: float = 2.0,
                           attempt_timeout: Optional[float] = None,
                           routing: Union[None, str, int] = _DEFAULT) -> T:
        """Runs fn(tx) in an interactive transaction and commits it; re-runs the
        WHOLE function, in a fresh transaction, when the transaction aborts.

            def transfer(tx):
                (balance,) = tx.execute("SELECT balance FROM acct WHERE id = ? FOR UPDATE",
                                        [src]).rows[0]
                tx.execute("UPDATE acct SET balance = ? WHERE id = ?", [balance - 5, src])
                return balance - 5
            left = db.run_in_transaction(transfer)

        Re-run when fn, or the commit, raised a TxgateError with code ABORTED
        (a deadlock 1213 or lock wait timeout 1205, a transaction lost or
        idle too long, ...: the transaction was rolled back), or txgate's own
        UNAVAILABLE (its ErrorInfo: nothing was committed), as Spanner's
        clients do. The decision is the transaction's own: when a statement
        failed, the transaction is over (Transaction.failure) and the first
        failure decides, even if fn swallowed it and went on: later
        statements raise it again, a fn that returns has it raised (nothing
        was committed), and a fn that raised something else is re-run if that
        failure was an abort. fn must therefore be safe to run again: keep its
        side effects outside the database until this returns. Nothing else is
        retried: ExpectationFailed, other errors and exceptions of fn itself
        roll back and propagate, and a commit whose outcome is unknown
        (UNKNOWN) is raised, not re-run. Attempts are bounded by
        `max_attempts` and by `timeout` seconds overall (None: no bound), with
        exponential backoff and jitter between them (initial_backoff doubling
        up to max_backoff). Returns fn's result; raises the last error when
        the bounds are reached. `attempt_timeout` is each stream's deadline
        (default: what remains of `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = initial_backoff
        attempt = 0
        while True:
            attempt += 1
            remaining = None if deadline is None else deadline - time.monotonic()
            stream_timeout = attempt_timeout if attempt_timeout is not None else remaining
            tx: Optional[Transaction] = None
            try:
                with self.transaction(isolation=isolation, read_only=read_only,
                                      timeout=stream_timeout, routing=routing) as tx:
                    value = fn(tx)
                    _commit_unless_ended(tx)
                    return value
            except Exception as raised:  # noqa: BLE001 - decided on below, else re-raised
                err = _transaction_failure(tx, raised)
                if (err is None or not _rerun_transaction(err) or self._closed
                        or attempt >= max_attempts):
                    raise
                pause = backoff / 2 + random.uniform(0, backoff / 2)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)
                backoff = min(backoff * 2, max_backoff)


def _commit_unless_ended(tx: Any) -> None:
    """run_in_transaction's end of a function that returned: commits an open
    transaction; raises the first error of a failed one (fn swallowed it:
    nothing of fn's work was committed)."""
    if tx.state == "open":
        tx.commit()
    elif tx.state == "failed" and tx.failure is not None:
        raise tx.failure.repeated() from tx.failure


def _transaction_failure(tx: Any, raised: BaseException) -> Optional[TxgateError]:
    """The error run_in_transaction decides on when an attempt raised
    `raised`: the transaction's own first failure if it failed (whatever fn
    made of it: swallowed, wrapped, or turned into another exception), else
    `raised` if it is a TxgateError (e.g. Begin's), else None (fn's own)."""
    if tx is not None and tx.failure is not None:
        return tx.failure
    return raised if isinstance(raised, TxgateError) else None


def _rerun_transaction(err: TxgateError) -> bool:
    """Whether a whole interactive transaction that failed with `err` may run
    again: it was rolled back (ABORTED), or txgate says nothing of it ran
    (its own UNAVAILABLE)."""
    return err.code == grpc.StatusCode.ABORTED or (
        err.code == grpc.StatusCode.UNAVAILABLE and err.domain == ERROR_DOMAIN)


class RowStream:
    """The rows of a StreamQuery, chunk by chunk. Iterating yields Rows (tuples that also take a column name).

    columns        column metadata (known once the first chunk arrived)
    chunks         chunks received so far
    warning_count  set by the last chunk
    """

    _TEXT_KINDS = ("string_value", "bytes_value", "json_value")

    def __init__(self, call):
        self._call = call
        self.columns: List[pb.Column] = []
        self._row_type: type = tuple
        self.chunks = 0
        self.warning_count = 0
        self.done = False
        # A row split across chunks (StreamQueryResponse.chunked_value): its
        # complete values, and the pieces of its last value so far.
        self._cells: List[Any] = []
        self._pieces: Optional[list] = None
        self._kind = ""

    def _joined(self) -> Any:
        pieces, self._pieces = self._pieces, None
        assert pieces is not None  # called only while a value is being joined
        if self._kind == "bytes_value":
            return b"".join(pieces)
        text = "".join(pieces)
        return Json(text) if self._kind == "json_value" else text

    def _rows(self, chunk) -> Iterator[tuple]:
        """The rows that end in `chunk`, joining the pieces of split values."""
        rows = chunk.rows
        for i, row in enumerate(rows):
            vals = row.values
            cut = chunk.chunked_value and i == len(rows) - 1
            first = 0
            if i == 0 and self._pieces is not None:
                if not vals or vals[0].WhichOneof("kind") != self._kind:
                    raise TxgateError(grpc.StatusCode.INTERNAL,
                                      "a chunked value's next piece is missing or of another kind")
                self._pieces.append(getattr(vals[0], self._kind))
                if cut and len(vals) == 1:
                    continue  # the value goes on in the next chunk
                cells = self._cells
                cells.append(self._joined())
                first = 1
            else:
                cells = []
            for j in range(first, len(vals)):
                if cut and j == len(vals) - 1:
                    self._kind = vals[j].WhichOneof("kind")
                    if self._kind not in self._TEXT_KINDS:
                        raise TxgateError(grpc.StatusCode.INTERNAL,
                                          f"a chunked value of kind {self._kind}")
                    self._pieces = [getattr(vals[j], self._kind)]
                    self._cells = cells
                else:
                    cells.append(from_value(vals[j]))
            if not cut:
                yield self._row_type(cells)

    def __iter__(self) -> Iterator[tuple]:
        try:
            for chunk in self._call:
                self.chunks += 1
                if chunk.columns:
                    self.columns = list(chunk.columns)
                    self._row_type = row_class(tuple(c.name for c in self.columns))
                yield from self._rows(chunk)
                if chunk.done:
                    if self._pieces is not None:
                        raise TxgateError(grpc.StatusCode.INTERNAL,
                                          "the stream ended inside a chunked value")
                    self.done = True
                    self.warning_count = chunk.warning_count
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            if not self.done:  # abandoned early (or failed): stop the query
                self.cancel()

    def cancel(self) -> None:
        """Stops the query (the server kills the statement)."""
        self._call.cancel()

    def __enter__(self) -> "RowStream":
        return self

    def __exit__(self, *exc) -> None:
        if not self.done:
            self.cancel()


class Transaction:
    """An interactive transaction: the bidi stream is the transaction.

    Use as a context manager: leaving the block without commit() rolls back
    (and an exception in the block rolls back before propagating).

    An error ends the transaction, rolled back (txgate ends the stream):
    `state` becomes "failed" and `failure` holds that first error; every later
    execute() and commit() raises it again (a copy: same class, code, reason,
    MySQL errno and message, caused by the first), so work is never carried
    on, nor committed, past a failure that code swallowed."""

    def __init__(self, stub, options: pb.TransactionOptions, timeout: Optional[float],
                 metadata: Sequence[Tuple[str, str]] = (),
                 tokens: Optional[CausalityTokens] = None):
        self.failure: Optional[TxgateError] = None  # the error that ended the transaction
        self.causality_token = ""  # the commit's (README, "Reads on replicas")
        self._tokens = tokens
        self._requests: "queue.SimpleQueue[Optional[pb.TransactionRequest]]" = queue.SimpleQueue()
        self._read_only = options.read_only
        self._call = stub.Transaction(self._request_iterator(), timeout=timeout,
                                      metadata=tuple(metadata))
        self.state = "beginning"
        self._exchange(pb.TransactionRequest(begin=pb.Begin(options=options)), "begun")
        self.state = "open"

    def _request_iterator(self):
        while True:
            req = self._requests.get()
            if req is None:
                return
            yield req

    def _end(self, state: str) -> None:
        self.state = state
        self._requests.put(None)  # half-close; unblocks the request iterator

    def _fail(self, err: TxgateError) -> TxgateError:
        """Ends the transaction as failed by `err`, its first failure."""
        self._end("failed")
        if self.failure is None:
            self.failure = err
        return err

    def _exchange(self, req: pb.TransactionRequest, expect: str) -> pb.TransactionResponse:
        if self.state == "failed" and self.failure is not None:
            # A failed transaction (txgate rolled it back) raises its first
            # error again, whatever is asked of it, as Spanner's clients do:
            # a caller that swallowed the error cannot carry on as if the
            # statements before it still counted.
            raise self.failure.repeated() from self.failure
        if self.state not in ("beginning", "open"):
            raise TxgateError(grpc.StatusCode.FAILED_PRECONDITION,
                              f"the transaction is {self.state}")
        self._requests.put(req)
        try:
            resp = next(self._call)
        except grpc.RpcError as e:
            raise self._fail(from_rpc_error(e)) from None
        except StopIteration:
            raise self._fail(TxgateError(grpc.StatusCode.INTERNAL,
                                         "the Transaction stream ended early")) from None
        if resp.WhichOneof("outcome") != expect:
            self._call.cancel()
            raise self._fail(TxgateError(grpc.StatusCode.INTERNAL,
                                         f"expected {expect}, got {resp.WhichOneof('outcome')}"))
        return resp

    def _finish(self) -> None:
        """Reads the stream's final status after commit or rollback."""
        try:
            for _ in self._call:
                pass
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def execute(self, sql: str, params: Sequence[Any] = (), **expect: Optional[int]) -> Result:
        """Runs one statement inside the transaction.

        Keyword arguments are an expectation on its result, as for
        statement() (e.g. min_affected_rows=1); an unmet one ends the
        transaction, rolled back, and raises ExpectationFailed."""
        req = pb.TransactionRequest(statement=statement(sql, params, **expect))
        return Result.from_proto(self._exchange(req, "result").result)

    def commit(self, idempotency_key: Optional[str] = None) -> str:
        """Commits; returns the idempotency key the commit carried.

        A key (uuid4 unless given; none for read-only transactions) lets txgate
        resolve a commit whose outcome was lost instead of answering UNKNOWN."""
        key = idempotency_key if idempotency_key is not None else (
            "" if self._read_only else str(uuid.uuid4()))
        try:
            resp = self._exchange(pb.TransactionRequest(commit=pb.Commit(idempotency_key=key)),
                                  "committed")
        except TxgateError as e:
            e.idempotency_key = key
            raise
        self.causality_token = resp.committed.causality_token
        if self._tokens is not None:
            self._tokens.observe(self.causality_token)
        self._end("committed")
        self._finish()
        return key

    def rollback(self) -> None:
        """Rolls back; a no-op once the transaction has ended."""
        if self.state != "open":
            return
        self._exchange(pb.TransactionRequest(rollback=pb.Rollback()), "rolled_back")
        self._end("rolled back")
        self._finish()

    def close(self) -> None:
        """Rolls back if still open; cancels the stream if that fails."""
        if self.state == "open":
            try:
                self.rollback()
            except TxgateError:
                pass
        if self.state == "failed":
            self._call.cancel()

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
