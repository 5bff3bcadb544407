package dev.txgate.client;

import dev.txgate.v1.Column;
import dev.txgate.v1.ResultSet;
import dev.txgate.v1.Value;
import java.util.ArrayList;
import java.util.List;

/**
 * One statement's result: column metadata, rows (see {@link Row}), and for a write
 * the affected rows and last insert id (unsigned 64-bit, as Java longs holding the
 * bit pattern; {@link Long#toUnsignedString} prints them).
 */
public record Result(List<Column> columns, List<Row> rows, long affectedRows, long lastInsertId,
    int warningCount) {

  /** The result of a {@code txgate.v1.ResultSet}. */
  public static Result of(ResultSet rs) {
    List<String> names = names(rs.getColumnsList());
    List<Row> rows = new ArrayList<>(rs.getRowsCount());
    for (dev.txgate.v1.Row r : rs.getRowsList()) {
      rows.add(row(names, r.getValuesList()));
    }
    return new Result(List.copyOf(rs.getColumnsList()), List.copyOf(rows), rs.getAffectedRows(),
        rs.getLastInsertId(), rs.getWarningCount());
  }

  /** The column names, in order. */
  public List<String> columnNames() {
    return names(columns);
  }

  static List<String> names(List<Column> columns) {
    List<String> names = new ArrayList<>(columns.size());
    for (Column c : columns) {
      names.add(c.getName());
    }
    return List.copyOf(names);
  }

  static Row row(List<String> names, List<Value> values) {
    List<Object> out = new ArrayList<>(values.size());
    for (Value v : values) {
      out.add(Values.from(v));
    }
    return new Row(names, out);
  }
}
