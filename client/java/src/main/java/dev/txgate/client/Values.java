package dev.txgate.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.NullValue;
import dev.txgate.v1.Date;
import dev.txgate.v1.DateTime;
import dev.txgate.v1.Value;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Conversions between Java values and {@code txgate.v1.Value}.
 *
 * <p>Parameters ({@link #of}): {@code null} → NULL; Boolean; Byte/Short/Integer/Long →
 * int64; BigInteger → int64 when it fits, else uint64 (0 .. 2^64-1); Float/Double →
 * double; String; byte[]; BigDecimal → decimal (exact, {@code toPlainString()});
 * {@link Instant}, {@link OffsetDateTime}, {@link ZonedDateTime} → DATETIME in UTC;
 * {@link LocalDateTime} → DATETIME as written (no zone applied); {@link LocalDate} →
 * DATE; {@link java.time.Duration} and {@link LocalTime} → TIME (microseconds; finer
 * parts truncated); {@link Json} → JSON; {@link Bits} → BIT; a {@code dev.txgate.v1.Value}
 * as it is. Anything else is an {@link IllegalArgumentException}.
 *
 * <p>Results ({@link #from}): NULL → {@code null}; int64 → Long; uint64 → BigInteger
 * (always, whatever its size: the Java type follows the column type); double →
 * Double; string → String; bytes → byte[]; bool → Boolean; decimal → BigDecimal;
 * DATE → LocalDate (a zero date or part, which Java cannot hold, as the
 * {@code dev.txgate.v1.Date} message); DATETIME/TIMESTAMP → LocalDateTime, the wall
 * clock as MySQL holds it (UTC for values written from an Instant; {@link Row#getInstant}
 * reads it as UTC), a zero one as the {@code dev.txgate.v1.DateTime} message; TIME →
 * java.time.Duration; JSON → {@link Json}; BIT → {@link Bits}.
 */
public final class Values {
  private Values() {}

  /** JSON text (a JSON column or parameter), kept apart from a plain String. */
  public record Json(String text) {
    @Override
    public String toString() {
      return text;
    }
  }

  /** The bits of a BIT(n) column, n ≤ 64, as an unsigned 64-bit pattern. */
  public record Bits(long bits) {}

  private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

  /** SQL NULL. */
  public static Value nullValue() {
    return Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
  }

  /** An unsigned 64-bit value given by its bit pattern (e.g. -1L for 2^64-1). */
  public static Value uint64(long bits) {
    return Value.newBuilder().setUint64Value(bits).build();
  }

  /** A parameter value for {@code x} (see the class comment for the mapping). */
  public static Value of(Object x) {
    if (x == null) {
      return nullValue();
    }
    Value.Builder b = Value.newBuilder();
    if (x instanceof Value v) {
      return v;
    } else if (x instanceof Boolean v) {
      b.setBoolValue(v);
    } else if (x instanceof Long || x instanceof Integer || x instanceof Short || x instanceof Byte) {
      b.setInt64Value(((Number) x).longValue());
    } else if (x instanceof BigInteger v) {
      if (v.bitLength() < 64) {
        b.setInt64Value(v.longValue());
      } else if (v.signum() > 0 && v.compareTo(UINT64_MAX) <= 0) {
        b.setUint64Value(v.longValue());
      } else {
        throw new IllegalArgumentException("integer out of the range of int64 and uint64: " + v);
      }
    } else if (x instanceof Double || x instanceof Float) {
      b.setDoubleValue(((Number) x).doubleValue());
    } else if (x instanceof String v) {
      b.setStringValue(v);
    } else if (x instanceof byte[] v) {
      b.setBytesValue(ByteString.copyFrom(v));
    } else if (x instanceof BigDecimal v) {
      b.setDecimalValue(v.toPlainString());
    } else if (x instanceof Instant v) {
      b.setDatetimeValue(dateTime(LocalDateTime.ofInstant(v, ZoneOffset.UTC)));
    } else if (x instanceof OffsetDateTime v) {
      b.setDatetimeValue(dateTime(LocalDateTime.ofInstant(v.toInstant(), ZoneOffset.UTC)));
    } else if (x instanceof ZonedDateTime v) {
      b.setDatetimeValue(dateTime(LocalDateTime.ofInstant(v.toInstant(), ZoneOffset.UTC)));
    } else if (x instanceof LocalDateTime v) {
      b.setDatetimeValue(dateTime(v));
    } else if (x instanceof LocalDate v) {
      b.setDateValue(Date.newBuilder().setYear(v.getYear()).setMonth(v.getMonthValue())
          .setDay(v.getDayOfMonth()));
    } else if (x instanceof java.time.Duration v) {
      b.setTimeValue(time(v));
    } else if (x instanceof LocalTime v) {
      b.setTimeValue(time(java.time.Duration.ofNanos(v.toNanoOfDay())));
    } else if (x instanceof Json v) {
      b.setJsonValue(v.text());
    } else if (x instanceof Bits v) {
      b.setBitValue(v.bits());
    } else {
      throw new IllegalArgumentException("no txgate.v1.Value for " + x.getClass().getName());
    }
    return b.build();
  }

  /** Parameter values for {@code xs}, in order; the error names the 1-based parameter. */
  public static List<Value> of(Object... xs) {
    List<Value> out = new ArrayList<>(xs.length);
    for (int i = 0; i < xs.length; i++) {
      try {
        out.add(of(xs[i]));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("parameter " + (i + 1) + ": " + e.getMessage(), e);
      }
    }
    return out;
  }

  /** The Java value of {@code v} (see the class comment for the mapping). */
  public static Object from(Value v) {
    switch (v.getKindCase()) {
      case NULL_VALUE:
      case KIND_NOT_SET:
        return null;
      case INT64_VALUE:
        return v.getInt64Value();
      case UINT64_VALUE:
        return new BigInteger(Long.toUnsignedString(v.getUint64Value()));
      case DOUBLE_VALUE:
        return v.getDoubleValue();
      case STRING_VALUE:
        return v.getStringValue();
      case BYTES_VALUE:
        return v.getBytesValue().toByteArray();
      case BOOL_VALUE:
        return v.getBoolValue();
      case DECIMAL_VALUE:
        return new BigDecimal(v.getDecimalValue());
      case DATE_VALUE: {
        Date d = v.getDateValue();
        if (d.getMonth() == 0 || d.getDay() == 0) {
          return d;
        }
        return LocalDate.of(d.getYear(), d.getMonth(), d.getDay());
      }
      case DATETIME_VALUE: {
        DateTime d = v.getDatetimeValue();
        if (d.getMonth() == 0 || d.getDay() == 0) {
          return d;
        }
        return LocalDateTime.of(d.getYear(), d.getMonth(), d.getDay(), d.getHour(), d.getMinute(),
            d.getSecond(), d.getMicrosecond() * 1000);
      }
      case TIME_VALUE: {
        dev.txgate.v1.Duration t = v.getTimeValue();
        java.time.Duration d = java.time.Duration.ofHours(t.getHours()).plusMinutes(t.getMinutes())
            .plusSeconds(t.getSeconds()).plusNanos(t.getMicroseconds() * 1000L);
        return t.getNegative() ? d.negated() : d;
      }
      case JSON_VALUE:
        return new Json(v.getJsonValue());
      case BIT_VALUE:
        return new Bits(v.getBitValue());
    }
    throw new IllegalArgumentException("unknown txgate.v1.Value kind " + v.getKindCase());
  }

  private static DateTime dateTime(LocalDateTime t) {
    return DateTime.newBuilder().setYear(t.getYear()).setMonth(t.getMonthValue())
        .setDay(t.getDayOfMonth()).setHour(t.getHour()).setMinute(t.getMinute())
        .setSecond(t.getSecond()).setMicrosecond(t.getNano() / 1000).build();
  }

  private static dev.txgate.v1.Duration time(java.time.Duration d) {
    boolean negative = d.isNegative();
    java.time.Duration a = d.abs();
    long us = a.getSeconds() * 1_000_000L + a.getNano() / 1000;
    return dev.txgate.v1.Duration.newBuilder().setNegative(negative)
        .setHours((int) (us / 3_600_000_000L)).setMinutes((int) (us / 60_000_000L % 60))
        .setSeconds((int) (us / 1_000_000L % 60)).setMicroseconds((int) (us % 1_000_000L)).build();
  }
}
