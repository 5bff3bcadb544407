package dev.txgate.client;

import dev.txgate.v1.Expectation;
import java.util.List;

/**
 * One SQL statement with its parameters ({@link Values#of}) and an optional
 * expectation on its own result (txgate.v1.Expectation): unmet, the whole
 * transaction rolls back and the call fails FAILED_PRECONDITION, reason
 * EXPECTATION_FAILED ({@link TxgateException#expectationFailed}).
 */
public record Statement(String sql, List<Object> params, Expectation expect) {
  /** A statement without expectation; {@code params} may hold nulls. */
  public static Statement of(String sql, Object... params) {
    return new Statement(sql, java.util.Arrays.asList(params.clone()), null);
  }

  private Expectation.Builder expectation() {
    return expect == null ? Expectation.newBuilder() : expect.toBuilder();
  }

  /** Expects exactly {@code n} affected rows. */
  public Statement expectAffectedRows(long n) {
    return new Statement(sql, params, expectation().setAffectedRows(n).build());
  }

  /** Expects at least {@code n} affected rows. */
  public Statement expectMinAffectedRows(long n) {
    return new Statement(sql, params, expectation().setMinAffectedRows(n).build());
  }

  /** Expects at most {@code n} affected rows. */
  public Statement expectMaxAffectedRows(long n) {
    return new Statement(sql, params, expectation().setMaxAffectedRows(n).build());
  }

  /** Expects exactly {@code n} rows returned. */
  public Statement expectRows(long n) {
    return new Statement(sql, params, expectation().setRows(n).build());
  }

  /** Expects at least {@code n} rows returned. */
  public Statement expectMinRows(long n) {
    return new Statement(sql, params, expectation().setMinRows(n).build());
  }

  /** Expects at most {@code n} rows returned. */
  public Statement expectMaxRows(long n) {
    return new Statement(sql, params, expectation().setMaxRows(n).build());
  }

  dev.txgate.v1.Statement proto() {
    dev.txgate.v1.Statement.Builder b = dev.txgate.v1.Statement.newBuilder().setSql(sql)
        .addAllParams(Values.of(params.toArray()));
    if (expect != null) {
      b.setExpect(expect);
    }
    return b.build();
  }
}
