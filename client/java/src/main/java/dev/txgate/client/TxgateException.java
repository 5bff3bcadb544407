package dev.txgate.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Map;

/**
 * A failed txgate call: the gRPC status code and message, and from the status's
 * {@code google.rpc.ErrorInfo} detail (when txgate sent one) the reason (a
 * {@link dev.txgate.v1.ErrorReason} name), its domain ({@value #DOMAIN}) and
 * metadata: the MySQL errno, SQLSTATE and message of a MySQL error, the
 * statement index of an unmet expectation. Errors made by gRPC itself (a
 * transport failure, a deadline that passed) carry no ErrorInfo: their reason
 * and domain are empty.
 */
public final class TxgateException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The ErrorInfo domain of every error txgate itself answers. */
  public static final String DOMAIN = "txgate.dev";

  /** The reason of a COMMIT or autocommit write whose outcome is unknown. */
  public static final String REASON_COMMIT_OUTCOME_UNKNOWN = "COMMIT_OUTCOME_UNKNOWN";

  /** The reason of a statement whose expectation was not met. */
  public static final String REASON_EXPECTATION_FAILED = "EXPECTATION_FAILED";

  private final Status.Code code;
  private final String description;
  private final String reason;
  private final String domain;
  private final Map<String, String> metadata;
  private final String idempotencyKey;
  private final boolean cancelledLocally;

  TxgateException(Status status, ErrorInfo info, String idempotencyKey, boolean cancelledLocally,
      Throwable cause) {
    super(describe(status, info), cause);
    this.code = status.getCode();
    this.description = status.getDescription();
    this.reason = info == null ? "" : info.getReason();
    this.domain = info == null ? "" : info.getDomain();
    this.metadata = info == null ? Map.of() : Map.copyOf(info.getMetadataMap());
    this.idempotencyKey = idempotencyKey == null ? "" : idempotencyKey;
    this.cancelledLocally = cancelledLocally;
  }

  /**
   * Converts any exception of a gRPC call (a {@link StatusRuntimeException}, or a
   * TxgateException, returned as it is) into a TxgateException; anything else
   * becomes one of code UNKNOWN with it as the cause.
   */
  public static TxgateException from(Throwable t) {
    return from(t, "", false);
  }

  static TxgateException from(Throwable t, String key, boolean cancelledLocally) {
    if (t instanceof TxgateException e) {
      if (key.isEmpty() || key.equals(e.idempotencyKey)) {
        return e;
      }
      return new TxgateException(e.status(), e.errorInfo(), key, e.cancelledLocally,
          e.getCause() == null ? e : e.getCause());
    }
    Status status = Status.fromThrowable(t);
    ErrorInfo info = null;
    com.google.rpc.Status detail = StatusProto.fromThrowable(t);
    if (detail != null) {
      for (com.google.protobuf.Any any : detail.getDetailsList()) {
        if (any.is(ErrorInfo.class)) {
          try {
            info = any.unpack(ErrorInfo.class);
          } catch (InvalidProtocolBufferException ignored) {
            // A malformed detail is treated as none.
          }
          break;
        }
      }
    }
    return new TxgateException(status, info, key, cancelledLocally, t);
  }

  private static String describe(Status status, ErrorInfo info) {
    String s = "txgate: " + status.getCode() + ": " + status.getDescription();
    if (info != null && !info.getReason().isEmpty()) {
      s += " [" + info.getReason() + "]";
    }
    return s;
  }

  /**
   * The same error again (code, description, reason, metadata, key: the same
   * message), thrown anew with this one as its cause: what every later step of a
   * transaction that this error failed throws.
   */
  TxgateException again() {
    return new TxgateException(status(), errorInfo(), idempotencyKey, cancelledLocally, this);
  }

  private ErrorInfo errorInfo() {
    if (domain.isEmpty() && reason.isEmpty()) {
      return null;
    }
    return ErrorInfo.newBuilder().setReason(reason).setDomain(domain).putAllMetadata(metadata).build();
  }

  /** The status (code and description) of the call. */
  public Status status() {
    return Status.fromCode(code).withDescription(description);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The ErrorInfo reason (an {@link dev.txgate.v1.ErrorReason} name), or "". */
  public String reason() {
    return reason;
  }

  /** The ErrorInfo domain ({@value #DOMAIN} for txgate's own errors), or "". */
  public String domain() {
    return domain;
  }

  /** The ErrorInfo metadata (mysql_errno, mysql_sqlstate, ...); empty if none. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The MySQL error number, or 0 when the error is not MySQL's. */
  public int mysqlErrno() {
    try {
      return Integer.parseInt(metadata.getOrDefault("mysql_errno", "0"));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /** The MySQL SQLSTATE (5 characters), or "". */
  public String sqlState() {
    return metadata.getOrDefault("mysql_sqlstate", "");
  }

  /** The MySQL error message, or "". */
  public String mysqlMessage() {
    return metadata.getOrDefault("mysql_message", "");
  }

  /**
   * The idempotency key every attempt of the call carried ("" for none): re-send
   * the same request with it later to learn its outcome without applying it twice.
   */
  public String idempotencyKey() {
    return idempotencyKey;
  }

  /** True for UNKNOWN: the call may or may not have been applied. */
  public boolean outcomeUnknown() {
    return code == Status.Code.UNKNOWN;
  }

  /** True when an expectation of a statement was not met (FAILED_PRECONDITION). */
  public boolean expectationFailed() {
    return REASON_EXPECTATION_FAILED.equals(reason);
  }

  /** The 1-based index of the statement whose expectation was not met, or 0. */
  public int statementIndex() {
    try {
      return Integer.parseInt(metadata.getOrDefault("statement_index", "0"));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /**
   * True when the application caused a CANCELLED: its {@link io.grpc.Context} was
   * cancelled, or the client was closed. Never retried.
   */
  public boolean cancelledLocally() {
    return cancelledLocally;
  }
}
