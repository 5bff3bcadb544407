from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    MYSQL_ERROR: _ClassVar[ErrorReason]
    DATABASE_UNAVAILABLE: _ClassVar[ErrorReason]
    COMMIT_OUTCOME_UNKNOWN: _ClassVar[ErrorReason]
    IMPLICIT_COMMIT_REFUSED: _ClassVar[ErrorReason]
    INVALID_REQUEST: _ClassVar[ErrorReason]
    CONFLICT_RETRIES_EXHAUSTED: _ClassVar[ErrorReason]
    DEADLINE_EXCEEDED: _ClassVar[ErrorReason]
    CANCELLED: _ClassVar[ErrorReason]
    UNAUTHENTICATED: _ClassVar[ErrorReason]
    READ_ONLY_TOKEN: _ClassVar[ErrorReason]
    IDEMPOTENCY_KEY_REUSED: _ClassVar[ErrorReason]
    TRANSACTION_LOST: _ClassVar[ErrorReason]
    REPLAY_MISMATCH: _ClassVar[ErrorReason]
    TOO_MANY_TRANSACTIONS: _ClassVar[ErrorReason]
    TRANSACTION_IDLE_TIMEOUT: _ClassVar[ErrorReason]
    SERVER_SHUTTING_DOWN: _ClassVar[ErrorReason]
    TRANSACTION_NOT_COMMITTED: _ClassVar[ErrorReason]
    INTERNAL_ERROR: _ClassVar[ErrorReason]
    TRANSACTION_ENDED_EARLY: _ClassVar[ErrorReason]
    EXPECTATION_FAILED: _ClassVar[ErrorReason]
    NON_TRANSACTIONAL_WRITE: _ClassVar[ErrorReason]
    TRANSACTION_LEFT_OPEN: _ClassVar[ErrorReason]
    RESULT_TOO_LARGE: _ClassVar[ErrorReason]
    PACKET_TOO_LARGE: _ClassVar[ErrorReason]
    SERVER_OVERLOADED: _ClassVar[ErrorReason]
    STREAM_WRITE_TIMEOUT: _ClassVar[ErrorReason]
    FAILOVER_IN_PROGRESS: _ClassVar[ErrorReason]
    FAILOVER_BUFFER_FULL: _ClassVar[ErrorReason]
    CAUSALITY_TOKEN_INVALID: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
MYSQL_ERROR: ErrorReason
DATABASE_UNAVAILABLE: ErrorReason
COMMIT_OUTCOME_UNKNOWN: ErrorReason
IMPLICIT_COMMIT_REFUSED: ErrorReason
INVALID_REQUEST: ErrorReason
CONFLICT_RETRIES_EXHAUSTED: ErrorReason
DEADLINE_EXCEEDED: ErrorReason
CANCELLED: ErrorReason
UNAUTHENTICATED: ErrorReason
READ_ONLY_TOKEN: ErrorReason
IDEMPOTENCY_KEY_REUSED: ErrorReason
TRANSACTION_LOST: ErrorReason
REPLAY_MISMATCH: ErrorReason
TOO_MANY_TRANSACTIONS: ErrorReason
TRANSACTION_IDLE_TIMEOUT: ErrorReason
SERVER_SHUTTING_DOWN: ErrorReason
TRANSACTION_NOT_COMMITTED: ErrorReason
INTERNAL_ERROR: ErrorReason
TRANSACTION_ENDED_EARLY: ErrorReason
EXPECTATION_FAILED: ErrorReason
NON_TRANSACTIONAL_WRITE: ErrorReason
TRANSACTION_LEFT_OPEN: ErrorReason
RESULT_TOO_LARGE: ErrorReason
PACKET_TOO_LARGE: ErrorReason
SERVER_OVERLOADED: ErrorReason
STREAM_WRITE_TIMEOUT: ErrorReason
FAILOVER_IN_PROGRESS: ErrorReason
FAILOVER_BUFFER_FULL: ErrorReason
CAUSALITY_TOKEN_INVALID: ErrorReason
