package dev.txgate.client;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * One result row: its values (converted by {@link Values#from}) by position and by
 * column name (label). Names are those of the result's columns and, as JDBC's
 * labels, are matched case-insensitively: {@code get("id")} finds a column named
 * {@code ID}. When two columns share a name (a join's {@code a.id, b.id}), {@link
 * #get(String)} returns the FIRST (as JDBC's getters do; an exact-case match before
 * a case-insensitive one) and {@link #asMap} keeps the LAST (as Node's row objects
 * do); {@link #get(int)} reaches every column.
 */
public final class Row {
  private final List<String> names;
  private final List<Object> values;

  Row(List<String> names, List<Object> values) {
    this.names = names;
    this.values = Collections.unmodifiableList(values);
  }

  /** The number of columns. */
  public int size() {
    return values.size();
  }

  /** The values in column order. */
  public List<Object> values() {
    return values;
  }

  /** The value of column {@code i} (0-based). */
  public Object get(int i) {
    return values.get(i);
  }

  /**
   * The value of the column labelled {@code name}, matched case-insensitively (the
   * first such column); IllegalArgumentException if none.
   */
  public Object get(String name) {
    return values.get(index(name));
  }

  private int index(String name) {
    int i = names.indexOf(name);
    if (i >= 0) {
      return i;
    }
    for (i = 0; i < names.size(); i++) {
      if (names.get(i).equalsIgnoreCase(name)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no column " + name + " in " + names);
  }

  /**
   * The values keyed by column name, in column order; of columns that share a name,
   * the LAST one's value (as Node's row objects), at the first one's position.
   */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      m.put(names.get(i), values.get(i));
    }
    return m;
  }

  /**
   * An integer column as a Long: int64, or uint64 when it fits (else
   * ArithmeticException).
   *
   * @throws IllegalStateException for a column of another type (naming the column
   *     and the Java type of its value)
   */
  public Long getLong(String name) {
    Object v = get(name);
    if (v == null || v instanceof Long) {
      return (Long) v;
    }
    if (v instanceof BigInteger b) {
      return b.longValueExact();
    }
    throw wrongType(name, v, "an integer (Long or BigInteger)");
  }

  /** The column as a String (String, or the text of JSON and any other value). */
  public String getString(String name) {
    Object v = get(name);
    return v == null ? null : v.toString();
  }

  /**
   * The column as a BigDecimal (DECIMAL, or an integer).
   *
   * @throws IllegalStateException for a column of another type (a DOUBLE: use get)
   */
  public BigDecimal getBigDecimal(String name) {
    Object v = get(name);
    if (v == null || v instanceof BigDecimal) {
      return (BigDecimal) v;
    }
    if (v instanceof BigInteger b) {
      return new BigDecimal(b);
    }
    if (v instanceof Long l) {
      return BigDecimal.valueOf(l);
    }
    throw wrongType(name, v, "a DECIMAL or an integer");
  }

  /**
   * A DATETIME/TIMESTAMP column read as a UTC wall clock.
   *
   * @throws IllegalStateException for a zero DATETIME ({@code 0000-00-00 00:00:00},
   *     read as a {@code dev.txgate.v1.DateTime}: no instant) or a column of another type
   */
  public Instant getInstant(String name) {
    Object v = get(name);
    if (v == null) {
      return null;
    }
    if (v instanceof LocalDateTime t) {
      return t.toInstant(ZoneOffset.UTC);
    }
    if (v instanceof dev.txgate.v1.DateTime) {
      throw new IllegalStateException("column " + name
          + " holds a zero DATETIME (0000-00-00, read as the dev.txgate.v1.DateTime message),"
          + " which is no Instant");
    }
    throw wrongType(name, v, "a DATETIME or TIMESTAMP (LocalDateTime)");
  }

  private static IllegalStateException wrongType(String name, Object v, String wanted) {
    return new IllegalStateException("column " + name + " is a " + v.getClass().getTypeName()
        + ", not " + wanted);
  }

  /** {name=value, ...} as {@link #asMap}, byte arrays in hex ({@code 0x00ff}). */
  @Override
  public String toString() {
    StringJoiner j = new StringJoiner(", ", "{", "}");
    for (Map.Entry<String, Object> e : asMap().entrySet()) {
      Object v = e.getValue();
      String s = v instanceof byte[] b ? "0x" + HexFormat.of().formatHex(b) : String.valueOf(v);
      j.add(e.getKey() + "=" + s);
    }
    return j.toString();
  }
}
