from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReadRouting(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    READ_ROUTING_UNSPECIFIED: _ClassVar[ReadRouting]
    READ_ROUTING_PRIMARY: _ClassVar[ReadRouting]
    READ_ROUTING_REPLICA: _ClassVar[ReadRouting]

class IsolationLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISOLATION_LEVEL_UNSPECIFIED: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_READ_UNCOMMITTED: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_READ_COMMITTED: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_REPEATABLE_READ: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_SERIALIZABLE: _ClassVar[IsolationLevel]
READ_ROUTING_UNSPECIFIED: ReadRouting
READ_ROUTING_PRIMARY: ReadRouting
READ_ROUTING_REPLICA: ReadRouting
ISOLATION_LEVEL_UNSPECIFIED: IsolationLevel
ISOLATION_LEVEL_READ_UNCOMMITTED: IsolationLevel
ISOLATION_LEVEL_READ_COMMITTED: IsolationLevel
ISOLATION_LEVEL_REPEATABLE_READ: IsolationLevel
ISOLATION_LEVEL_SERIALIZABLE: IsolationLevel

class Value(_message.Message):
    __slots__ = ("null_value", "int64_value", "uint64_value", "double_value", "string_value", "bytes_value", "bool_value", "decimal_value", "date_value", "datetime_value", "time_value", "json_value", "bit_value")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    UINT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BYTES_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    DECIMAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATETIME_VALUE_FIELD_NUMBER: _ClassVar[int]
    TIME_VALUE_FIELD_NUMBER: _ClassVar[int]
    JSON_VALUE_FIELD_NUMBER: _ClassVar[int]
    BIT_VALUE_FIELD_NUMBER: _ClassVar[int]
    null_value: _struct_pb2.NullValue
    int64_value: int
    uint64_value: int
    double_value: float
    string_value: str
    bytes_value: bytes
    bool_value: bool
    decimal_value: str
    date_value: Date
    datetime_value: DateTime
    time_value: Duration
    json_value: str
    bit_value: int
    def __init__(self, null_value: _Optional[_Union[_struct_pb2.NullValue, str]] = ..., int64_value: _Optional[int] = ..., uint64_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ..., bytes_value: _Optional[bytes] = ..., bool_value: bool = ..., decimal_value: _Optional[str] = ..., date_value: _Optional[_Union[Date, _Mapping]] = ..., datetime_value: _Optional[_Union[DateTime, _Mapping]] = ..., time_value: _Optional[_Union[Duration, _Mapping]] = ..., json_value: _Optional[str] = ..., bit_value: _Optional[int] = ...) -> None: ...

class Date(_message.Message):
    __slots__ = ("year", "month", "day")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...

class DateTime(_message.Message):
    __slots__ = ("year", "month", "day", "hour", "minute", "second", "microsecond")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    HOUR_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    MICROSECOND_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    microsecond: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ..., hour: _Optional[int] = ..., minute: _Optional[int] = ..., second: _Optional[int] = ..., microsecond: _Optional[int] = ...) -> None: ...

class Duration(_message.Message):
    __slots__ = ("negative", "hours", "minutes", "seconds", "microseconds")
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MICROSECONDS_FIELD_NUMBER: _ClassVar[int]
    negative: bool
    hours: int
    minutes: int
    seconds: int
    microseconds: int
    def __init__(self, negative: bool = ..., hours: _Optional[int] = ..., minutes: _Optional[int] = ..., seconds: _Optional[int] = ..., microseconds: _Optional[int] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("sql", "params", "expect")
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_FIELD_NUMBER: _ClassVar[int]
    sql: str
    params: _containers.RepeatedCompositeFieldContainer[Value]
    expect: Expectation
    def __init__(self, sql: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., expect: _Optional[_Union[Expectation, _Mapping]] = ...) -> None: ...

class Expectation(_message.Message):
    __slots__ = ("affected_rows", "min_affected_rows", "max_affected_rows", "rows", "min_rows", "max_rows")
    AFFECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    MIN_AFFECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_AFFECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    MIN_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    affected_rows: int
    min_affected_rows: int
    max_affected_rows: int
    rows: int
    min_rows: int
    max_rows: int
    def __init__(self, affected_rows: _Optional[int] = ..., min_affected_rows: _Optional[int] = ..., max_affected_rows: _Optional[int] = ..., rows: _Optional[int] = ..., min_rows: _Optional[int] = ..., max_rows: _Optional[int] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("name", "type", "nullable", "length", "precision", "scale")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    nullable: bool
    length: int
    precision: int
    scale: int
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., nullable: bool = ..., length: _Optional[int] = ..., precision: _Optional[int] = ..., scale: _Optional[int] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class ResultSet(_message.Message):
    __slots__ = ("columns", "rows", "affected_rows", "last_insert_id", "warning_count", "more_results", "out_parameters")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    LAST_INSERT_ID_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    MORE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    OUT_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    affected_rows: int
    last_insert_id: int
    warning_count: int
    more_results: _containers.RepeatedCompositeFieldContainer[ResultSet]
    out_parameters: ResultSet
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., affected_rows: _Optional[int] = ..., last_insert_id: _Optional[int] = ..., warning_count: _Optional[int] = ..., more_results: _Optional[_Iterable[_Union[ResultSet, _Mapping]]] = ..., out_parameters: _Optional[_Union[ResultSet, _Mapping]] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("sql", "params", "idempotency_key", "read")
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    sql: str
    params: _containers.RepeatedCompositeFieldContainer[Value]
    idempotency_key: str
    read: ReadOptions
    def __init__(self, sql: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., idempotency_key: _Optional[str] = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("result", "causality_token")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CAUSALITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    result: ResultSet
    causality_token: str
    def __init__(self, result: _Optional[_Union[ResultSet, _Mapping]] = ..., causality_token: _Optional[str] = ...) -> None: ...

class ReadOptions(_message.Message):
    __slots__ = ("routing", "max_staleness_ms", "causality_token")
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_MS_FIELD_NUMBER: _ClassVar[int]
    CAUSALITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    routing: ReadRouting
    max_staleness_ms: int
    causality_token: str
    def __init__(self, routing: _Optional[_Union[ReadRouting, str]] = ..., max_staleness_ms: _Optional[int] = ..., causality_token: _Optional[str] = ...) -> None: ...

class TransactionOptions(_message.Message):
    __slots__ = ("isolation_level", "read_only", "read")
    ISOLATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    isolation_level: IsolationLevel
    read_only: bool
    read: ReadOptions
    def __init__(self, isolation_level: _Optional[_Union[IsolationLevel, str]] = ..., read_only: bool = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class RunTransactionRequest(_message.Message):
    __slots__ = ("statements", "options", "idempotency_key")
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[Statement]
    options: TransactionOptions
    idempotency_key: str
    def __init__(self, statements: _Optional[_Iterable[_Union[Statement, _Mapping]]] = ..., options: _Optional[_Union[TransactionOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RunTransactionResponse(_message.Message):
    __slots__ = ("results", "attempts", "causality_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CAUSALITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ResultSet]
    attempts: int
    causality_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[ResultSet, _Mapping]]] = ..., attempts: _Optional[int] = ..., causality_token: _Optional[str] = ...) -> None: ...

class StreamQueryRequest(_message.Message):
    __slots__ = ("sql", "params", "max_rows_per_chunk", "accept_chunked_values", "read")
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_CHUNKED_VALUES_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    sql: str
    params: _containers.RepeatedCompositeFieldContainer[Value]
    max_rows_per_chunk: int
    accept_chunked_values: bool
    read: ReadOptions
    def __init__(self, sql: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., max_rows_per_chunk: _Optional[int] = ..., accept_chunked_values: bool = ..., read: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class StreamQueryResponse(_message.Message):
    __slots__ = ("columns", "rows", "warning_count", "done", "chunked_value")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    CHUNKED_VALUE_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    warning_count: int
    done: bool
    chunked_value: bool
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., warning_count: _Optional[int] = ..., done: bool = ..., chunked_value: bool = ...) -> None: ...

class TransactionRequest(_message.Message):
    __slots__ = ("begin", "statement", "commit", "rollback")
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    begin: Begin
    statement: Statement
    commit: Commit
    rollback: Rollback
    def __init__(self, begin: _Optional[_Union[Begin, _Mapping]] = ..., statement: _Optional[_Union[Statement, _Mapping]] = ..., commit: _Optional[_Union[Commit, _Mapping]] = ..., rollback: _Optional[_Union[Rollback, _Mapping]] = ...) -> None: ...

class Begin(_message.Message):
    __slots__ = ("options",)
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: TransactionOptions
    def __init__(self, options: _Optional[_Union[TransactionOptions, _Mapping]] = ...) -> None: ...

class Commit(_message.Message):
    __slots__ = ("idempotency_key",)
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    def __init__(self, idempotency_key: _Optional[str] = ...) -> None: ...

class Rollback(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransactionResponse(_message.Message):
    __slots__ = ("begun", "result", "committed", "rolled_back")
    BEGUN_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    begun: Begun
    result: ResultSet
    committed: Committed
    rolled_back: RolledBack
    def __init__(self, begun: _Optional[_Union[Begun, _Mapping]] = ..., result: _Optional[_Union[ResultSet, _Mapping]] = ..., committed: _Optional[_Union[Committed, _Mapping]] = ..., rolled_back: _Optional[_Union[RolledBack, _Mapping]] = ...) -> None: ...

class Begun(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Committed(_message.Message):
    __slots__ = ("causality_token",)
    CAUSALITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    causality_token: str
    def __init__(self, causality_token: _Optional[str] = ...) -> None: ...

class RolledBack(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
