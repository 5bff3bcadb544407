"""txgate_client: a thin Python client for txgate (txgate.v1.DatabaseService).

    from txgate_client import Client
    with Client("127.0.0.1:50051") as db:
        db.execute("INSERT INTO t (a) VALUES (?)", [1])   # exactly once: a fresh key
        db.run_transaction([("UPDATE a SET n = n - ?", [5]), ("UPDATE b SET n = n + ?", [5])])
        db.run_transaction([statement("UPDATE a SET n = n - ? WHERE n >= ?", [5, 5],
                                      min_affected_rows=1),      # else ExpectationFailed
                            ("UPDATE b SET n = n + ?", [5])])
        with db.stream_query("SELECT * FROM big") as rows:
            for row in rows: ...
        with db.transaction() as tx:
            tx.execute("SELECT n FROM a FOR UPDATE")
            tx.commit()
        db.run_in_transaction(lambda tx: tx.execute("UPDATE a SET n = n + 1"))  # re-run on ABORTED
        db.execute("SELECT id, n FROM a").rows[0]["n"]   # rows: tuples keyed by column name too

The generated stubs are in the `txgate.v1` package (client/generate.sh).
"""

from .client import (SERVICE_CONFIG, CausalityTokens, Client, Result, RowStream, Transaction,
                     TransactionResult, channel_options, merge_service_configs, retryable,
                     statement)
from .errors import (ERROR_DOMAIN, REASON_COMMIT_OUTCOME_UNKNOWN, REASON_EXPECTATION_FAILED,
                     CommitOutcomeUnknown, ExpectationFailed, TxgateError, from_rpc_error)
from .values import (INT64_MAX, INT64_MIN, UINT64_MAX, Bit, Json, Row, from_value, row_class,
                     row_values, to_value, to_values)

__version__ = "0.2.0"

__all__ = [
    "SERVICE_CONFIG", "CausalityTokens", "Client", "Result", "RowStream", "Transaction", "TransactionResult",
    "channel_options", "merge_service_configs", "retryable", "statement", "ERROR_DOMAIN", "REASON_COMMIT_OUTCOME_UNKNOWN",
    "REASON_EXPECTATION_FAILED", "CommitOutcomeUnknown", "ExpectationFailed", "TxgateError", "from_rpc_error", "INT64_MAX", "INT64_MIN",
    "UINT64_MAX", "Bit", "Json", "Row", "row_class", "from_value", "row_values", "to_value", "to_values",
]
