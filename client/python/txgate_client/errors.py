"""txgate errors: the gRPC status plus the google.rpc.ErrorInfo detail."""

from __future__ import annotations

from typing import Dict, Optional

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "txgate.dev"
REASON_COMMIT_OUTCOME_UNKNOWN = "COMMIT_OUTCOME_UNKNOWN"
REASON_EXPECTATION_FAILED = "EXPECTATION_FAILED"

# The details grpcio (grpc/_channel.py) gives a call that this process
# cancelled: Call.cancel(), a channel closed by the application (or after a
# fork), a call object collected while running. A CANCELLED with other details
# came from the other side (e.g. gRPC's server cancelling, as a drain starts,
# a call it had not handed to txgate yet).
_LOCAL_CANCEL_DETAILS = frozenset({
    "Locally cancelled by application!",
    "Channel closed!",
    "Channel closed due to fork",
    "Cancelled upon garbage collection!",
})


class TxgateError(Exception):
    """A failed txgate call.

    code            grpc.StatusCode
    message         the status message
    reason, domain  from the google.rpc.ErrorInfo detail ("" when absent, e.g. a
                    transport error that never reached txgate)
    metadata        the ErrorInfo metadata (dict of str)
    mysql_errno     int or None; mysql_sqlstate, mysql_message: str or None
    idempotency_key the key the call carried, if any (retry with it)
    cancelled_locally  CANCELLED by this process (the call or its channel was
                    cancelled or closed here), not by the server or the way
    """

    def __init__(self, code: grpc.StatusCode, message: str, reason: str = "",
                 domain: str = "", metadata: Optional[Dict[str, str]] = None,
                 idempotency_key: str = "", cancelled_locally: bool = False):
        self.code = code
        self.cancelled_locally = cancelled_locally
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.idempotency_key = idempotency_key
        errno = self.metadata.get("mysql_errno")
        self.mysql_errno: Optional[int] = int(errno) if errno and errno.isdigit() else None
        self.mysql_sqlstate: Optional[str] = self.metadata.get("mysql_sqlstate")
        self.mysql_message: Optional[str] = self.metadata.get("mysql_message")
        super().__init__(str(self))

    def __str__(self) -> str:
        s = f"{self.code.name}: {self.message}"
        if self.reason:
            s += f" [{self.reason}]"
        return s

    def repeated(self) -> "TxgateError":
        """A copy of this error (same class, code, message, reason, metadata,
        idempotency key) to raise again, e.g. for every statement and commit
        that follows the failure of a transaction: raise it `from` this one."""
        again = type(self).__new__(type(self))
        again.__dict__.update(self.__dict__)
        again.metadata = dict(self.metadata)
        Exception.__init__(again, *self.args)
        return again

    @property
    def outcome_unknown(self) -> bool:
        """True when a commit's outcome is unknown (it may or may not have applied)."""
        return self.code == grpc.StatusCode.UNKNOWN


class CommitOutcomeUnknown(TxgateError):
    """UNKNOWN / COMMIT_OUTCOME_UNKNOWN: the write may or may not have been applied.

    Retry only with the same idempotency_key (run_transaction does)."""


class ExpectationFailed(TxgateError):
    """FAILED_PRECONDITION / EXPECTATION_FAILED: a statement's result missed its
    expectation (statement(..., min_affected_rows=1) and the like). The whole
    transaction was rolled back and its idempotency key was not used up: a
    later call with the same key runs again.

    statement_index  the statement's 1-based index (int)
    expectation      the condition that failed, e.g. "min_affected_rows"
    expected, actual the condition's value and the result's counter (int)
    """

    @property
    def statement_index(self) -> int:
        return int(self.metadata.get("statement_index", "0"))

    @property
    def expectation(self) -> str:
        return self.metadata.get("expectation", "")

    @property
    def expected(self) -> int:
        return int(self.metadata.get("expected", "0"))

    @property
    def actual(self) -> int:
        return int(self.metadata.get("actual", "0"))


_ERROR_CLASSES = {
    REASON_COMMIT_OUTCOME_UNKNOWN: CommitOutcomeUnknown,
    REASON_EXPECTATION_FAILED: ExpectationFailed,
}


def from_rpc_error(err: grpc.RpcError, idempotency_key: str = "") -> TxgateError:
    """Converts a grpc.RpcError (a failed call) into a TxgateError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    reason = domain = ""
    metadata: Dict[str, str] = {}
    try:
        status = rpc_status.from_call(err)
    except ValueError:  # the rich status disagrees with the plain one
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
                break
    cls = _ERROR_CLASSES.get(reason, TxgateError)
    local = code == grpc.StatusCode.CANCELLED and message in _LOCAL_CANCEL_DETAILS
    return cls(code, message or "", reason, domain, metadata, idempotency_key, local)
