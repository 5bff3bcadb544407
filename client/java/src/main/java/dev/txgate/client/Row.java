package dev.txgate.client;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One result row: its values (converted by {@link Values#from}) by position and by
 * column name. Names are those of the result's columns; when two columns share a
 * name, {@link #get(String)} returns the first.
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

  /** The value of the column named {@code name}; IllegalArgumentException if none. */
  public Object get(String name) {
    int i = names.indexOf(name);
    if (i < 0) {
      throw new IllegalArgumentException("no column " + name + " in " + names);
    }
    return values.get(i);
  }

  /** The values keyed by column name, in column order (the first of equal names). */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      m.putIfAbsent(names.get(i), values.get(i));
    }
    return m;
  }

  /**
   * An integer column as a Long: int64, or uint64 when it fits (else
   * ArithmeticException); ClassCastException for a column of another type.
   */
  public Long getLong(String name) {
    Object v = get(name);
    if (v == null) {
      return null;
    }
    if (v instanceof BigInteger b) {
      return b.longValueExact();
    }
    return (Long) v;
  }

  /** The column as a String (String or JSON text). */
  public String getString(String name) {
    Object v = get(name);
    return v == null ? null : v.toString();
  }

  /** The column as a BigDecimal (DECIMAL, or an integer). */
  public BigDecimal getBigDecimal(String name) {
    Object v = get(name);
    if (v == null || v instanceof BigDecimal) {
      return (BigDecimal) v;
    }
    if (v instanceof BigInteger b) {
      return new BigDecimal(b);
    }
    return BigDecimal.valueOf((Long) v);
  }

  /** A DATETIME/TIMESTAMP column read as a UTC wall clock. */
  public Instant getInstant(String name) {
    Object v = get(name);
    return v == null ? null : ((LocalDateTime) v).toInstant(ZoneOffset.UTC);
  }

  @Override
  public String toString() {
    return asMap().toString();
  }
}
