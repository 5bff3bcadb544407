"""A SQLAlchemy dialect for txgate: SQLAlchemy's MySQL/MariaDB dialect driving
txgate_dbapi, so SQLAlchemy Core (and the ORM on it) runs through txgate.

    engine = sqlalchemy.create_engine("mysql+txgate://127.0.0.1:50051")
    engine = sqlalchemy.create_engine(
        "mysql+txgate://db.example:443?tls=true&token_file=/run/secrets/txgate")

Registered as "mysql.txgate" (and "mariadb.txgate") through the package's
`sqlalchemy.dialects` entry points when the package is installed; register
by hand otherwise:

    from sqlalchemy.dialects import registry
    registry.register("mysql.txgate", "txgate_dbapi.sqlalchemy_dialect", "TxgateDialect")

The URL's host and port are txgate's (the database, user and password are
txgate's own configuration, not the client's); its query keys are
txgate_dbapi.connect's keywords (tls, ca_file, cert_file, key_file,
token_file, timeout, read_only). Isolation levels map to txgate's
TransactionOptions of each transaction (not SET SESSION, which would reach a
pooled session of txgate's); "AUTOCOMMIT" makes the connection run each
statement as an exactly-once Execute. What does not fit txgate, by its design:
statements that commit implicitly (DDL) inside a transaction that already ran
statements (SQLAlchemy's `metadata.create_all()` uses a connection in
autocommit mode or a fresh transaction for them; see client/README.md),
server-side cursors, and two-phase (XA) transactions, which txgate uses
itself.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.engine import URL

import txgate_dbapi


class TxgateDialect(MySQLDialect):
    driver = "txgate"
    supports_statement_cache = True
    supports_server_side_cursors = False
    supports_native_decimal = True
    # txgate's sessions count matched rows (CLIENT_FOUND_ROWS), as SQLAlchemy
    # expects of MySQL drivers; executemany's rowcount is the sum.
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    default_paramstyle = "qmark"

    @classmethod
    def import_dbapi(cls) -> Any:
        return txgate_dbapi

    def create_connect_args(self, url: URL) -> Tuple[List[Any], dict]:
        if url.username or url.password or url.database:
            raise txgate_dbapi.InterfaceError(
                "mysql+txgate:// URLs name txgate's host and port only: the database, "
                "user and password are txgate's own settings")
        query = dict(url.query)
        if url.host is None:
            raise txgate_dbapi.InterfaceError("mysql+txgate:// needs a host")
        target = f"{url.host}:{url.port or 50051}"
        return [], {"target": target, **query}

    def _extract_error_code(self, exception: BaseException) -> Any:
        return getattr(exception, "errno", None)

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        # A connection is a gRPC channel that reconnects by itself: no error
        # makes it unusable, so the pool never needs to throw one away.
        return False

    def _detect_charset(self, connection: Any) -> str:
        return "utf8mb4"  # txgate's sessions: values travel as typed protobuf, text as UTF-8

    def has_table(self, connection: Any, table_name: str, schema: Any = None,
                  **kw: Any) -> bool:
        # MySQLDialect asks DESCRIBE and takes error 1146 as "no": an error
        # ends a txgate transaction (rolled back), so ask information_schema
        # instead, with Execute outside the connection's transaction, which
        # also keeps create_all()'s DDL the first statement of its
        # transaction (txgate_dbapi then runs it on its own). Tables exist
        # or not outside transactions: DDL always commits.
        self._ensure_has_table_connection(connection)
        dbapi_connection = connection.connection.dbapi_connection
        rows = dbapi_connection.client.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            [schema, table_name]).rows
        return rows[0][0] > 0

    def do_ping(self, dbapi_connection: Any) -> bool:
        dbapi_connection.client.execute("SELECT 1")  # Execute: never inside a transaction
        return True

    def get_isolation_level_values(self, dbapi_conn: Any) -> Any:
        return ("SERIALIZABLE", "READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ",
                "AUTOCOMMIT")

    def set_isolation_level(self, dbapi_connection: Any, level: Any) -> None:
        if level == "AUTOCOMMIT":
            dbapi_connection.autocommit = True
            return
        dbapi_connection.autocommit = False
        dbapi_connection.isolation = level

    def get_isolation_level(self, dbapi_connection: Any) -> Any:
        if dbapi_connection.autocommit:
            return "AUTOCOMMIT"
        if dbapi_connection.isolation:
            return dbapi_connection.isolation.upper().replace("_", " ")
        # The server's default, read with Execute (outside any transaction).
        name = ("transaction_isolation" if self._is_mysql and self.server_version_info >= (5, 7, 20)
                else "tx_isolation")  # as MySQLDialect.get_isolation_level chooses
        row = dbapi_connection.client.execute(f"SELECT @@{name}").rows[0]
        return str(row[0]).upper().replace("-", " ")

    def detect_autocommit_setting(self, dbapi_conn: Any) -> bool:
        return bool(dbapi_conn.autocommit)


dialect = TxgateDialect
