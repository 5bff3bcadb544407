"""txgate_dbapi.aio: the DB-API surface of txgate_dbapi for asyncio, on grpc.aio.

    from txgate_dbapi import aio
    conn = await aio.connect("127.0.0.1:50051")
    cur = conn.cursor()
    await cur.execute("UPDATE acct SET balance = balance - ? WHERE id = ?", (5, 1))
    await cur.execute("SELECT balance FROM acct WHERE id = ?", (1,))
    (balance,) = await cur.fetchone()
    await conn.commit()
    await conn.close()

Everything that talks to txgate is a coroutine (connect, execute,
executemany, fetch*, commit, rollback, close); the rules are txgate_dbapi's:
autocommit off by default, a transaction is one `Transaction` stream begun
at the first statement, autocommit statements are exactly-once `Execute`
calls (a fresh idempotency key, re-sent when the answer was lost), the same
exceptions (the classes are txgate_dbapi's, re-exported here). `async with
conn:` commits on success, rolls back on an exception, then closes; `async
for row in cur` iterates. A connection belongs to one event loop and one task
at a time.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any, AsyncIterator, List, Optional, Sequence, Tuple

import grpc
import grpc.aio

from txgate.v1 import database_pb2 as pb
from txgate.v1 import database_pb2_grpc as pb_grpc
from txgate_client import Result, Row, TxgateError, channel_options, retryable, statement
from txgate_client.client import (CausalityTokens, _options, _rerun_transaction, _routing,
                                  _transaction_failure)
from txgate_client.errors import from_rpc_error
from txgate_client.values import to_values

from ._core import (BINARY, DATETIME, NUMBER, ROWID, STRING, Binary, ConnectArgs,
                    DatabaseError, DataError, Date, DateFromTicks, Error, ExpectationFailed,
                    IntegrityError, InterfaceError, InternalError, NotSupportedError,
                    OperationalError, ProgrammingError, ResultBuffer, Time, TimeFromTicks,
                    Timestamp, TimestampFromTicks, Warning, apilevel, check_expect,
                    check_params, map_error, parse_connect, paramstyle, repeat_error,
                    threadsafety)

__all__ = [
    "apilevel", "threadsafety", "paramstyle", "connect", "AsyncConnection", "AsyncCursor",
    "AsyncTransaction", "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
    "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError", "ExpectationFailed", "Date", "Time", "Timestamp", "DateFromTicks",
    "TimeFromTicks", "TimestampFromTicks", "Binary", "STRING", "BINARY", "NUMBER", "DATETIME",
    "ROWID",
]

_IMPLICIT_COMMIT_REFUSED = "IMPLICIT_COMMIT_REFUSED"


# grpc.aio's status for a message written to a call that had already finished
# (grpc/aio/_call.py, _write: set_internal_error): the real status is lost.
_LOST_STATUS = "Internal error from Core"
_BEGIN_ATTEMPTS = 10


class _StreamEnded(TxgateError):
    """The server had ended the stream before this message was written
    (grpc.aio lost its status). Nothing of the message ran; any transaction
    on the stream was rolled back (txgate rolls back a stream it ends without
    a commit), hence ABORTED: run the transaction again."""

    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.ABORTED,
                         "the Transaction stream had ended before this message was sent "
                         "(its status was lost by grpc.aio); the transaction was rolled back")


class AsyncTransaction:
    """An interactive transaction on a grpc.aio Transaction stream (the
    asyncio twin of txgate_client.Transaction; raises TxgateError).
    Create with `await AsyncTransaction.begin(...)`."""

    def __init__(self, call, read_only: bool, tokens: Optional[CausalityTokens] = None):
        self._call = call
        self._read_only = read_only
        self._tokens = tokens
        self.causality_token = ""  # the commit's (README, "Reads on replicas")
        self.state = "beginning"
        # The error that ended the transaction (its first failure); every
        # later execute() and commit() raises it again, as
        # txgate_client.Transaction's do.
        self.failure: Optional[TxgateError] = None

    @classmethod
    async def begin(cls, stub, options: pb.TransactionOptions, timeout: Optional[float],
                    metadata: Sequence[Tuple[str, str]] = (),
                    tokens: Optional[CausalityTokens] = None) -> "AsyncTransaction":
        # A server that refuses the stream at once (UNAUTHENTICATED,
        # TOO_MANY_TRANSACTIONS, ...) can finish it while the Begin is being
        # written; grpc.aio then reports INTERNAL "Internal error from Core"
        # and loses the real status. The Begin never left, so nothing ran:
        # open a new stream to learn the status (up to _BEGIN_ATTEMPTS times: the
        # race is frequent on loopback, 1 in 10 to 1 in 3 per stream; 10 attempts
        # never all lost it in 600 refused streams).
        for attempt in range(1, _BEGIN_ATTEMPTS + 1):
            tx = cls(stub.Transaction(timeout=timeout, metadata=tuple(metadata)),
                     options.read_only, tokens)
            try:
                await tx._exchange(pb.TransactionRequest(begin=pb.Begin(options=options)),
                                   "begun")
            except _StreamEnded:
                if attempt == _BEGIN_ATTEMPTS:
                    raise TxgateError(grpc.StatusCode.UNAVAILABLE,
                                      "the Transaction stream ended before its Begin was "
                                      f"sent, {attempt} times (grpc.aio lost its status)")
                continue
            except BaseException:
                tx._call.cancel()
                raise
            tx.state = "open"
            return tx
        raise AssertionError("unreachable")

    async def _exchange(self, req: pb.TransactionRequest, expect: str) -> pb.TransactionResponse:
        if self.state == "failed" and self.failure is not None:
            raise self.failure.repeated() from self.failure
        try:
            return await self._exchange_once(req, expect)
        except TxgateError as e:
            if self.state == "failed" and self.failure is None:
                self.failure = e
            raise
        except asyncio.CancelledError:
            if self.state == "failed" and self.failure is None:
                self.failure = TxgateError(grpc.StatusCode.CANCELLED,
                                           "the task was cancelled during a statement; "
                                           "the transaction was rolled back",
                                           cancelled_locally=True)
            raise

    async def _exchange_once(self, req: pb.TransactionRequest,
                             expect: str) -> pb.TransactionResponse:
        if self.state not in ("beginning", "open"):
            raise TxgateError(grpc.StatusCode.FAILED_PRECONDITION,
                              f"the transaction is {self.state}")
        try:
            try:
                await self._call.write(req)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.INTERNAL and e.details() == _LOST_STATUS:
                    self.state = "failed"
                    raise _StreamEnded() from None
                raise
            resp = await self._call.read()
            if resp is grpc.aio.EOF:  # ended with OK (an error status raises instead)
                raise TxgateError(grpc.StatusCode.INTERNAL, "the Transaction stream ended early")
        except grpc.RpcError as e:
            self.state = "failed"
            raise from_rpc_error(e) from None
        except asyncio.InvalidStateError:  # the call had ended: its status says why
            self.state = "failed"
            code = await self._call.code()
            if code == grpc.StatusCode.OK:
                raise TxgateError(grpc.StatusCode.INTERNAL,
                                  "the Transaction stream ended early") from None
            ended = grpc.aio.AioRpcError(code, await self._call.initial_metadata(),
                                         await self._call.trailing_metadata(),
                                         await self._call.details())
            raise from_rpc_error(ended) from None
        except BaseException:  # TxgateError, or this task cancelled mid-exchange
            self.state = "failed"
            self._call.cancel()
            raise
        if resp.WhichOneof("outcome") != expect:
            self.state = "failed"
            self._call.cancel()
            raise TxgateError(grpc.StatusCode.INTERNAL,
                              f"expected {expect}, got {resp.WhichOneof('outcome')}")
        return resp

    async def _finish(self, state: str) -> None:
        """Half-closes and reads the stream's final status."""
        self.state = state
        try:
            await self._call.done_writing()
            while await self._call.read() is not grpc.aio.EOF:
                pass
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    async def execute(self, sql: str, params: Sequence[Any] = (),
                      **expect: Optional[int]) -> Result:
        """Runs one statement inside the transaction (keywords: an expectation)."""
        req = pb.TransactionRequest(statement=statement(sql, params, **expect))
        return Result.from_proto((await self._exchange(req, "result")).result)

    async def commit(self, idempotency_key: Optional[str] = None) -> str:
        """Commits; returns the idempotency key the commit carried."""
        key = idempotency_key if idempotency_key is not None else (
            "" if self._read_only else str(uuid.uuid4()))
        try:
            resp = await self._exchange(
                pb.TransactionRequest(commit=pb.Commit(idempotency_key=key)), "committed")
        except TxgateError as e:
            e.idempotency_key = key
            raise
        self.causality_token = resp.committed.causality_token
        if self._tokens is not None:
            self._tokens.observe(self.causality_token)
        await self._finish("committed")
        return key

    async def rollback(self) -> None:
        """Rolls back; a no-op once the transaction has ended."""
        if self.state != "open":
            return
        await self._exchange(pb.TransactionRequest(rollback=pb.Rollback()), "rolled_back")
        await self._finish("rolled back")

    async def close(self) -> None:
        """Rolls back if still open; cancels the stream if that fails."""
        if self.state == "open":
            try:
                await self.rollback()
            except TxgateError:
                pass
        if self.state not in ("committed", "rolled back"):
            self._call.cancel()


class AsyncClient:
    """The calls AsyncConnection needs, on a grpc.aio channel, with
    txgate_client.Client's retry rules (retryable())."""

    def __init__(self, args: ConnectArgs, routing: Optional[str] = None):
        # Read-your-writes per connection, as txgate_client.Client's.
        self.routing = _routing(routing)
        self.tokens = CausalityTokens()
        opts = channel_options(args.options)
        creds = args.credentials()
        self.channel = (grpc.aio.secure_channel(args.target, creds, opts) if creds
                        else grpc.aio.insecure_channel(args.target, opts))
        self.stub = pb_grpc.DatabaseServiceStub(self.channel)
        self.metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {args.token}"),) if args.token else ())
        self.default_timeout = args.timeout
        self.closed = False

    async def _with_retries(self, method, req, key: str, safe: bool, timeout: Optional[float],
                            initial_backoff: float = 0.05, max_backoff: float = 2.0):
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = initial_backoff
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                return await method(req, timeout=remaining, metadata=self.metadata)
            except grpc.RpcError as e:
                err = from_rpc_error(e, key)
            if self.closed or not retryable(err, safe):
                raise err
            pause = backoff / 2 + random.uniform(0, backoff / 2)
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise err
            await asyncio.sleep(pause)
            backoff = min(backoff * 2, max_backoff)

    async def execute(self, sql: str, params: Sequence[Any]) -> Result:
        """Execute, exactly once (a fresh idempotency key; see Client.execute)."""
        key = str(uuid.uuid4())
        req = pb.ExecuteRequest(sql=sql, params=to_values(params), idempotency_key=key,
                                read=self._read_options())
        resp = await self._with_retries(self.stub.Execute, req, key, True, self.default_timeout)
        self.tokens.observe(resp.causality_token)
        return Result.from_proto(resp.result)

    @property
    def causality_token(self) -> str:
        return self.tokens.get()

    def _read_options(self) -> pb.ReadOptions:
        return pb.ReadOptions(routing=self.routing, causality_token=self.tokens.get())

    async def run_transaction(self, statements: Sequence[pb.Statement]) -> List[Result]:
        key = str(uuid.uuid4())
        req = pb.RunTransactionRequest(statements=statements, idempotency_key=key)
        resp = await self._with_retries(self.stub.RunTransaction, req, key, True,
                                        self.default_timeout or 30.0)
        self.tokens.observe(resp.causality_token)
        return [Result.from_proto(r) for r in resp.results]

    async def transaction(self, *, isolation=None, read_only: bool = False,
                          timeout: Optional[float] = None) -> AsyncTransaction:
        return await AsyncTransaction.begin(
            self.stub, _options(isolation, read_only, self._read_options()), timeout,
            self.metadata, self.tokens)

    async def run_in_transaction(self, fn, *, isolation=None, read_only: bool = False,
                                 timeout: Optional[float] = 60.0, max_attempts: int = 10,
                                 initial_backoff: float = 0.05, max_backoff: float = 2.0):
        """`await fn(tx)` in a transaction and commit; re-runs the whole
        coroutine function on ABORTED (and txgate's own UNAVAILABLE), with
        bounded exponential backoff: txgate_client.Client.run_in_transaction's
        rules, deciding on the transaction's own first failure (also when fn
        swallowed it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = initial_backoff
        attempt = 0
        while True:
            attempt += 1
            remaining = None if deadline is None else deadline - time.monotonic()
            tx = None
            try:
                tx = await self.transaction(isolation=isolation, read_only=read_only,
                                            timeout=remaining)
                value = await fn(tx)
                if tx.state == "open":
                    await tx.commit()
                elif tx.state == "failed" and tx.failure is not None:
                    raise tx.failure.repeated() from tx.failure  # fn swallowed it
                return value
            except Exception as raised:  # noqa: BLE001 - decided on below, else re-raised
                err = _transaction_failure(tx, raised)
                if (err is None or not _rerun_transaction(err) or self.closed
                        or attempt >= max_attempts):
                    raise
                pause = backoff / 2 + random.uniform(0, backoff / 2)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise
                await asyncio.sleep(pause)
                backoff = min(backoff * 2, max_backoff)
            finally:
                if tx is not None:
                    await tx.close()

    async def close(self) -> None:
        self.closed = True
        await self.channel.close()


async def connect(dsn: Optional[str] = None, *, target: Optional[str] = None,
                  tls: Optional[bool] = None, ca_file: Optional[str] = None,
                  cert_file: Optional[str] = None, key_file: Optional[str] = None,
                  token: Optional[str] = None, token_file: Optional[str] = None,
                  autocommit: Optional[bool] = None, timeout: Optional[float] = None,
                  isolation: Optional[str] = None, read_only: Optional[bool] = None,
                  options: Sequence[Any] = (), routing: Optional[str] = None) -> "AsyncConnection":
    """Opens a connection on a grpc.aio channel; arguments as txgate_dbapi.connect."""
    args = parse_connect(dsn, dict(target=target, tls=tls, ca_file=ca_file, cert_file=cert_file,
                                   key_file=key_file, token=token, token_file=token_file,
                                   autocommit=autocommit, timeout=timeout, isolation=isolation,
                                   read_only=read_only, options=tuple(options)))
    return AsyncConnection(AsyncClient(args, routing), args)


class AsyncConnection:
    """txgate_dbapi.Connection's asyncio twin (same rules; coroutine methods)."""

    Warning, Error, InterfaceError, DatabaseError = Warning, Error, InterfaceError, DatabaseError
    DataError, OperationalError, IntegrityError = DataError, OperationalError, IntegrityError
    InternalError, ProgrammingError = InternalError, ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, client: AsyncClient, args: ConnectArgs):
        self.client = client
        self._args = args
        self._autocommit = args.autocommit
        self._tx: Optional[AsyncTransaction] = None
        self._tx_statements = 0
        self._tx_failed: Optional[Error] = None
        self._closed = False

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    async def set_autocommit(self, on: bool) -> None:
        """Turning autocommit on commits an open transaction (as MySQL does)."""
        self._check_open()
        if on and not self._autocommit:
            await self.commit()
        self._autocommit = bool(on)

    @property
    def isolation(self) -> Optional[str]:
        """The isolation level of the transactions this connection begins
        ("READ COMMITTED", ...; None: the server's default). Setting it takes
        effect at the next transaction."""
        return self._args.isolation

    @isolation.setter
    def isolation(self, level: Optional[str]) -> None:
        self._args.isolation = level

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the connection is closed")

    async def _end_tx(self) -> None:
        tx, self._tx, self._tx_statements = self._tx, None, 0
        if tx is not None:
            await tx.close()

    async def _run(self, sql: str, params: Sequence[Any], expect: dict) -> Result:
        self._check_open()
        if self._autocommit:
            try:
                if expect:
                    return (await self.client.run_transaction(
                        [statement(sql, params, **expect)]))[0]
                return await self.client.execute(sql, params)
            except TxgateError as e:
                raise map_error(e) from e
        if self._tx_failed is not None:  # the transaction's first error, again
            raise repeat_error(self._tx_failed) from self._tx_failed.txgate_error
        try:
            if self._tx is None:
                self._tx = await self.client.transaction(isolation=self._args.isolation,
                                                         read_only=self._args.read_only,
                                                         timeout=self._args.timeout)
                self._tx_statements = 0
            result = await self._tx.execute(sql, params, **expect)
        except TxgateError as e:
            first = self._tx_statements == 0
            await self._end_tx()
            if first and e.reason == _IMPLICIT_COMMIT_REFUSED:
                try:
                    return await self.client.execute(sql, params)
                except TxgateError as e2:
                    raise map_error(e2) from e2
            # The transaction is over, rolled back with every statement that
            # had run in it: until commit() or rollback(), statements raise
            # this error again, so no work goes on past it in a new
            # transaction (MySQL would split it there, silently).
            self._tx_failed = err = map_error(e)
            raise err from e
        self._tx_statements += 1
        return result

    async def commit(self) -> None:
        """Commits the open transaction; as txgate_dbapi.Connection.commit."""
        self._check_open()
        failed, self._tx_failed = self._tx_failed, None
        if failed is not None:  # nothing committed: the transaction's first error, again
            raise repeat_error(failed) from failed.txgate_error
        tx = self._tx
        if tx is None:
            return
        try:
            await tx.commit()
        except TxgateError as e:
            raise map_error(e) from e
        finally:
            await self._end_tx()

    async def rollback(self) -> None:
        self._check_open()
        self._tx_failed = None
        await self._end_tx()

    async def close(self) -> None:
        if self._closed:
            return
        self._tx_failed = None
        await self._end_tx()
        self._closed = True
        await self.client.close()

    def cursor(self) -> "AsyncCursor":
        self._check_open()
        return AsyncCursor(self)

    async def __aenter__(self) -> "AsyncConnection":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if not self._closed:
                if exc_type is None:
                    await self.commit()
                else:
                    await self.rollback()
        finally:
            await self.close()


class AsyncCursor(ResultBuffer):
    """txgate_dbapi.Cursor's asyncio twin: execute, executemany and fetch* are
    coroutines; the attributes are the same."""

    def __init__(self, connection: AsyncConnection):
        super().__init__()
        self.connection = connection

    async def execute(self, operation: str, parameters: Optional[Sequence[Any]] = None,
                      **expect: int) -> "AsyncCursor":
        self._check_open()
        check_expect(expect)
        self._set(await self.connection._run(operation, check_params(parameters), expect))
        return self

    async def executemany(self, operation: str, seq_of_parameters: Any) -> "AsyncCursor":
        self._check_open()
        total = 0
        last = None
        for params in seq_of_parameters:
            last = await self.connection._run(operation, check_params(params), {})
            total += last.affected_rows
        self._reset()
        if last is not None:
            self.lastrowid = last.last_insert_id or None
        self.rowcount = total
        return self

    async def fetchone(self) -> Optional[Row]:
        return self._fetchone()

    async def fetchmany(self, size: Optional[int] = None) -> List[Row]:
        return self._fetchmany(size)

    async def fetchall(self) -> List[Row]:
        return self._fetchall()

    async def close(self) -> None:
        self.closed = True
        self._reset()

    def __aiter__(self) -> AsyncIterator[Row]:
        return self

    async def __anext__(self) -> Row:
        row = self._fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def __aenter__(self) -> "AsyncCursor":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
