"""txgate_dbapi: a PEP 249 (DB-API 2.0) driver for txgate.

    import txgate_dbapi
    conn = txgate_dbapi.connect("127.0.0.1:50051")   # or "txgate://host:port?tls=true&token_file=/t"
    cur = conn.cursor()
    cur.execute("INSERT INTO acct (id, balance) VALUES (?, ?)", (1, 100))
    cur.execute("SELECT id, balance FROM acct WHERE id = ?", (1,))
    row = cur.fetchone()          # row[1] == row["balance"] == 100
    conn.commit()
    conn.close()

Transactions (PEP 249: autocommit off by default). A connection begins a
txgate interactive transaction (one `Transaction` bidi stream, held open
until commit() or rollback()) at its first statement; commit() commits it,
rollback() rolls it back, close() rolls back what is not committed. With
autocommit=True (connect(..., autocommit=True) or conn.autocommit = True)
every statement is a unary `Execute` call instead, exactly once: it carries
a fresh idempotency key and is re-sent when its answer was lost.

Statements that commit implicitly (DDL, LOCK TABLES, ...) cannot run inside
a txgate transaction: txgate refuses them by the server's own check
(IMPLICIT_COMMIT_REFUSED) and nothing runs. When such a statement is the
first of a transaction, the connection runs it with Execute instead, as
MySQL would (it would commit an empty transaction); after other statements
it raises NotSupportedError and the transaction is rolled back: commit()
first, or use autocommit.

An error inside a transaction ends it, rolled back (txgate ends the stream).
Until rollback() (or commit(), which raises it and ends the failed
transaction), every further statement raises that first error again: the
same class, message, code, reason, errno and sqlstate (a copy, its
__cause__ the same TxgateError), so code that swallowed it can neither
commit nor carry the work on in a new transaction, and an ABORTED
(deadlock) stays visible as an OperationalError to the code that decides on
running the transaction again.

Errors: the PEP's classes, chosen by the MySQL errno (as PyMySQL does), then
txgate's ErrorReason, then the gRPC code (client/README.md, "DB-API error
map"); each carries .code, .reason, .errno, .sqlstate and .txgate_error.
Values: as txgate_client.values (DECIMAL as decimal.Decimal, BIGINT UNSIGNED
as int, DATETIME as naive datetimes in UTC: aware ones are converted to UTC
when bound). Rows are txgate_client.Row: tuples that also take a column name.
Results are read whole (unary calls, bounded by txgate's --max_result_bytes);
read large results with txgate_client.Client.stream_query.

The asyncio variant, on grpc.aio, is txgate_dbapi.aio.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence

from txgate_client import Client, Row, Transaction, TxgateError, statement

from ._core import (BINARY, DATETIME, NUMBER, ROWID, STRING, Binary, ConnectArgs,
                    DatabaseError, DataError, Date, DateFromTicks, DBAPITypeObject, Error,
                    ExpectationFailed, IntegrityError, InterfaceError, InternalError,
                    NotSupportedError, OperationalError, ProgrammingError, ResultBuffer, Time,
                    TimeFromTicks, Timestamp, TimestampFromTicks, Warning, apilevel,
                    check_expect, check_params, error_class, map_error, parse_connect,
                    paramstyle, repeat_error, threadsafety)

__version__ = "0.2.0"

__all__ = [
    "apilevel", "threadsafety", "paramstyle", "connect", "Connection", "Cursor", "Row",
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
    "ExpectationFailed", "Date", "Time", "Timestamp", "DateFromTicks", "TimeFromTicks",
    "TimestampFromTicks", "Binary", "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID",
    "DBAPITypeObject", "error_class", "map_error",
]

_IMPLICIT_COMMIT_REFUSED = "IMPLICIT_COMMIT_REFUSED"


def connect(dsn: Optional[str] = None, *, target: Optional[str] = None,
            tls: Optional[bool] = None, ca_file: Optional[str] = None,
            cert_file: Optional[str] = None, key_file: Optional[str] = None,
            token: Optional[str] = None, token_file: Optional[str] = None,
            autocommit: Optional[bool] = None, timeout: Optional[float] = None,
            isolation: Optional[str] = None, read_only: Optional[bool] = None,
            options: Sequence[Any] = (),
            routing: Optional[str] = None) -> "Connection":
    """Opens a connection (a gRPC channel; nothing is sent until the first statement).

    dsn / target  "host:port", any gRPC target ("ipv4:10.0.0.1:50051,10.0.0.2:50051",
                  "dns:///txgate:50051"), or "txgate://host:port?key=value&..." whose
                  keys are the keywords below
    tls           TLS (default off); ca_file: PEM roots (default: the system's);
                  cert_file/key_file: a client certificate for mTLS
    token / token_file  bearer token (txgate's --auth_tokens_file), or a file holding it
    autocommit    default False (PEP 249): statements run in a transaction until commit()
    timeout       seconds for each autocommit statement, and each transaction's stream
                  (default 30; None: unbounded)
    isolation     "READ COMMITTED", "REPEATABLE READ", ... for transactions (default:
                  the server's); read_only: transactions are read-only
    options       more gRPC channel options; a grpc.service_config among them is merged
                  into txgate's (txgate_client.channel_options)
    routing       where reads may run: "primary" or "replica" (default: txgate's
                  --read_routing). The connection keeps the causality token of its
                  latest write and sends it with its reads (read-your-writes, also
                  on a replica: README, "Reads on replicas"); each connection has
                  its own (connection.client.causality_token)

    Raises InterfaceError for bad arguments; connection problems surface at the
    first statement, as OperationalError."""
    args = parse_connect(dsn, dict(target=target, tls=tls, ca_file=ca_file, cert_file=cert_file,
                                   key_file=key_file, token=token, token_file=token_file,
                                   autocommit=autocommit, timeout=timeout, isolation=isolation,
                                   read_only=read_only, options=tuple(options)))
    client = Client(args.target, credentials=args.credentials(), options=args.options,
                    token=args.token, default_timeout=args.timeout, routing=routing)
    return Connection(client, args)


class Connection:
    """A DB-API connection: one gRPC channel and at most one open transaction.

    Not thread-safe (threadsafety = 1): give each thread its own connection.
    As a context manager, commits on success or rolls back on an exception,
    then closes."""

    # PEP 249 optional extension: the exception classes as attributes.
    Warning, Error, InterfaceError, DatabaseError = Warning, Error, InterfaceError, DatabaseError
    DataError, OperationalError, IntegrityError = DataError, OperationalError, IntegrityError
    InternalError, ProgrammingError = InternalError, ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, client: Client, args: ConnectArgs):
        self.client = client  # the txgate_client.Client underneath (its other calls)
        self._args = args
        self._autocommit = args.autocommit
        self._tx: Optional[Transaction] = None
        self._tx_statements = 0
        self._tx_failed: Optional[Error] = None
        self._closed = False

    # -- transaction state ----------------------------------------------------

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, on: bool) -> None:
        """Turning autocommit on commits an open transaction, as MySQL's
        SET autocommit = 1 does."""
        self._check_open()
        if on and not self._autocommit:
            self.commit()
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
        """True while a transaction is open (begun and not ended)."""
        return self._tx is not None

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the connection is closed")

    def _end_tx(self) -> None:
        tx, self._tx, self._tx_statements = self._tx, None, 0
        if tx is not None:
            tx.close()

    def _run(self, sql: str, params: Sequence[Any], expect: dict):
        """Runs one statement: in the open transaction (begun if none), or
        with Execute in autocommit mode. Returns a txgate_client.Result."""
        self._check_open()
        if self._autocommit:
            try:
                if expect:  # Execute carries no expectation: a one-statement transaction
                    return self.client.run_transaction(
                        [statement(sql, params, **expect)],
                        timeout=self._args.timeout or 30.0).results[0]
                return self.client.execute(sql, params)
            except TxgateError as e:
                raise map_error(e) from e
        if self._tx_failed is not None:  # the transaction's first error, again
            raise repeat_error(self._tx_failed) from self._tx_failed.txgate_error
        try:
            if self._tx is None:
                self._tx = self.client.transaction(isolation=self._args.isolation,
                                                   read_only=self._args.read_only,
                                                   timeout=self._args.timeout)
                self._tx_statements = 0
            result = self._tx.execute(sql, params, **expect)
        except TxgateError as e:
            first = self._tx_statements == 0
            self._end_tx()
            if first and e.reason == _IMPLICIT_COMMIT_REFUSED:
                # Nothing ran in this transaction (txgate refused the
                # statement, or rolled back the CALL that committed): run it
                # on its own, as MySQL would commit an empty transaction.
                try:
                    return self.client.execute(sql, params)
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

    def commit(self) -> None:
        """Commits the open transaction (nothing to do without one).

        Raises InternalError when an earlier error rolled the transaction back
        (the connection is then usable again), OperationalError when the
        commit failed (ABORTED: rolled back, run the transaction again;
        UNKNOWN: its outcome is unknown)."""
        self._check_open()
        failed, self._tx_failed = self._tx_failed, None
        if failed is not None:  # nothing committed: the transaction's first error, again
            raise repeat_error(failed) from failed.txgate_error
        tx = self._tx
        if tx is None:
            return
        try:
            tx.commit()
        except TxgateError as e:
            raise map_error(e) from e
        finally:
            self._end_tx()

    def rollback(self) -> None:
        """Rolls back the open transaction (nothing to do without one)."""
        self._check_open()
        self._tx_failed = None
        self._end_tx()

    def close(self) -> None:
        """Rolls back an uncommitted transaction and closes the channel. Idempotent."""
        if self._closed:
            return
        self._tx_failed = None
        self._end_tx()
        self._closed = True
        self.client.close()

    def cursor(self) -> "Cursor":
        self._check_open()
        return Cursor(self)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self._closed:
                if exc_type is None:
                    self.commit()
                else:
                    self.rollback()
        finally:
            self.close()


class Cursor(ResultBuffer):
    """A DB-API cursor. Results are buffered whole; rows are txgate_client.Row.

    description  7-tuples (name, type_code, display_size, internal_size,
                 precision, scale, null_ok); type_code is txgate's column type
                 name ("BIGINT UNSIGNED", "VARCHAR", ...) and compares equal to
                 STRING/BINARY/NUMBER/DATETIME; display_size and internal_size
                 are the Column's length, precision and scale its own (DECIMAL;
                 scale also for fractional seconds), None where txgate reports
                 none (an older server)
    rowcount     rows returned by a query, rows affected (matched, for an
                 UPDATE) by other statements; -1 before any; for executemany,
                 the sum
    lastrowid    the AUTO_INCREMENT value the last statement generated, else None
    warning_count  the last statement's warnings (an extension)"""

    def __init__(self, connection: Connection):
        super().__init__()
        self.connection = connection

    def execute(self, operation: str, parameters: Optional[Sequence[Any]] = None,
                **expect: int) -> "Cursor":
        """Runs one statement with '?' parameters; returns the cursor.

        Keywords (an extension) are an expectation on the result, as
        txgate_client.statement's (min_affected_rows=1, max_rows=0, ...): an
        unmet one raises ExpectationFailed, with the transaction rolled back."""
        self._check_open()
        check_expect(expect)
        result = self.connection._run(operation, check_params(parameters), expect)
        self._set(result)
        return self

    def executemany(self, operation: str, seq_of_parameters: Any) -> "Cursor":
        """Runs the statement once per parameter sequence, in order (in the
        connection's transaction; in autocommit mode each on its own).
        rowcount is the sum of affected rows."""
        self._check_open()
        total = 0
        last = None
        for params in seq_of_parameters:
            last = self.connection._run(operation, check_params(params), {})
            total += last.affected_rows
        self._reset()
        if last is not None:
            self.lastrowid = last.last_insert_id or None
        self.rowcount = total
        return self

    def fetchone(self) -> Optional[Row]:
        return self._fetchone()

    def fetchmany(self, size: Optional[int] = None) -> List[Row]:
        return self._fetchmany(size)

    def fetchall(self) -> List[Row]:
        return self._fetchall()

    def close(self) -> None:
        self.closed = True
        self._reset()

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        row = self._fetchone()
        if row is None:
            raise StopIteration
        return row

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
