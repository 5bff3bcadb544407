package txgatesql

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

// param returns x as a value txgate.Value binds, or an error naming its
// type. depth bounds chains of driver.Valuers.
func param(x any, depth int) (any, error) {
	switch v := x.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64,
		string, []byte, txgate.Decimal, txgate.JSON, txgate.Bit, txgate.Date, time.Duration, *txgatev1.Value:
		return x, nil
	case time.Time:
		return v.UTC(), nil
	case driver.Valuer:
		rv := reflect.ValueOf(x)
		if v, valid, ok := sqlNull(rv); ok { // sql.Null[T]: T itself, so Null[Decimal] stays exact
			if !valid {
				return nil, nil
			}
			return param(v, depth+1)
		}
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, nil // a nil *T whose T has a value-receiver Value: NULL
		}
		if depth > 8 {
			return nil, fmt.Errorf("txgate: driver.Valuer chain of %T too deep", x)
		}
		y, err := v.Value()
		if err != nil {
			return nil, err
		}
		return param(y, depth+1)
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, nil
		}
		return param(rv.Elem().Interface(), depth)
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("txgate: unsupported parameter type %T", x)
}

// sqlNull returns the V and Valid of a database/sql Null[T] (whose Value
// method returns V itself in Go 1.23 and V's driver.Value in later
// versions: a Null[txgate.Decimal] would be bound as text there).
func sqlNull(rv reflect.Value) (v any, valid, ok bool) {
	t := rv.Type()
	if t.Kind() != reflect.Struct || t.PkgPath() != "database/sql" || !strings.HasPrefix(t.Name(), "Null[") {
		return nil, false, false
	}
	fv, fvalid := rv.FieldByName("V"), rv.FieldByName("Valid")
	if !fv.IsValid() || fvalid.Kind() != reflect.Bool {
		return nil, false, false
	}
	return fv.Interface(), fvalid.Bool(), true
}

// columnValue converts a value of the helper (txgate.FromValue) into what
// Rows.Next returns (see the package comment).
func columnValue(x any) driver.Value {
	switch v := x.(type) {
	case txgate.Decimal:
		return string(v)
	case txgate.JSON:
		return string(v)
	case txgate.Bit:
		return uint64(v)
	case txgate.Date:
		t := time.Date(v.Year, v.Month, v.Day, 0, 0, 0, 0, time.UTC)
		if t.Year() != v.Year || t.Month() != v.Month || t.Day() != v.Day {
			return v.String() // a zero date
		}
		return t
	case *txgatev1.DateTime: // a zero date, which time.Time cannot hold
		s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", v.GetYear(), v.GetMonth(), v.GetDay(),
			v.GetHour(), v.GetMinute(), v.GetSecond())
		if v.GetMicrosecond() != 0 {
			s += fmt.Sprintf(".%06d", v.GetMicrosecond())
		}
		return s
	case time.Duration:
		return timeString(v)
	}
	return x
}

// timeString formats a TIME as MariaDB does: [-]HHH:MM:SS[.ffffff].
func timeString(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	us := d.Microseconds()
	s := fmt.Sprintf("%s%02d:%02d:%02d", sign, us/3_600_000_000, us/60_000_000%60, us/1_000_000%60)
	if us%1_000_000 != 0 {
		s += fmt.Sprintf(".%06d", us%1_000_000)
	}
	return s
}

// Rows is a query's result: a StreamQuery's (read as Next is called) or a
// transaction statement's (whole).
type Rows struct {
	columns  []*txgatev1.Column
	stream   *txgate.Rows // nil: buffered
	peeked   bool         // stream's current row is not yet returned
	buffered [][]any
	more     []*txgate.Result // the further result sets of a CALL
}

var (
	_ driver.RowsNextResultSet              = (*Rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*Rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*Rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*Rows)(nil)
	_ driver.RowsColumnTypeLength           = (*Rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*Rows)(nil)
)

// Columns returns the column names.
func (r *Rows) Columns() []string {
	names := make([]string, len(r.columns))
	for i, c := range r.columns {
		names[i] = c.GetName()
	}
	return names
}

// Close stops the stream (txgate stops the query) if it has not ended.
func (r *Rows) Close() error {
	if r.stream != nil {
		return r.stream.Close()
	}
	return nil
}

// HasNextResultSet reports whether a CALL answered another result set
// (only a Query in a transaction, or with Unary, can have one).
func (r *Rows) HasNextResultSet() bool { return len(r.more) > 0 }

// NextResultSet moves to the next result set; io.EOF when there is none.
func (r *Rows) NextResultSet() error {
	if len(r.more) == 0 {
		return io.EOF
	}
	next := r.more[0]
	r.more = r.more[1:]
	r.columns, r.buffered = next.Columns, next.Rows
	return nil
}

// Next fills dest with the next row; io.EOF at the end.
func (r *Rows) Next(dest []driver.Value) error {
	var row []any
	if r.stream == nil {
		if len(r.buffered) == 0 {
			return io.EOF
		}
		row, r.buffered = r.buffered[0], r.buffered[1:]
	} else {
		if !r.peeked && !r.stream.Next() {
			if err := r.stream.Err(); err != nil {
				return err
			}
			return io.EOF
		}
		r.peeked = false
		row = r.stream.Values()
	}
	for i := range dest {
		dest[i] = columnValue(row[i])
	}
	return nil
}

// ColumnTypeDatabaseTypeName is txgate's type name: upper case, without
// length, e.g. "BIGINT UNSIGNED", "VARCHAR", "DECIMAL", "DATETIME".
func (r *Rows) ColumnTypeDatabaseTypeName(i int) string { return r.columns[i].GetType() }

// ColumnTypeNullable reports whether the column may hold NULL (known).
func (r *Rows) ColumnTypeNullable(i int) (nullable, ok bool) { return r.columns[i].GetNullable(), true }

// ColumnTypeLength is the declared length of a text column in characters
// (VARCHAR(10): 10) or of a binary one in bytes, as MariaDB reports it; ok
// is false for the other types (database/sql's contract: variable-length
// types only).
func (r *Rows) ColumnTypeLength(i int) (length int64, ok bool) {
	switch r.columns[i].GetType() {
	case "CHAR", "VARCHAR", "TEXT", "BINARY", "VARBINARY", "BLOB", "ENUM", "SET", "JSON":
		return int64(r.columns[i].GetLength()), true
	}
	return 0, false
}

// ColumnTypePrecisionScale is M and D of a DECIMAL(M,D) column; ok is false
// for the other types.
func (r *Rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	c := r.columns[i]
	if !strings.HasPrefix(c.GetType(), "DECIMAL") {
		return 0, 0, false
	}
	return int64(c.GetPrecision()), int64(c.GetScale()), true
}

// ColumnTypeScanType is the Go type Next returns for the column: for a
// nullable column, its sql.Null* counterpart (sql.Null[uint64] for an
// unsigned one); any for a type txgate names TYPE_n.
func (r *Rows) ColumnTypeScanType(i int) reflect.Type {
	c := r.columns[i]
	name := c.GetType()
	var plain, null reflect.Type
	switch {
	case strings.HasSuffix(name, " UNSIGNED") || name == "BIT":
		plain, null = reflect.TypeFor[uint64](), reflect.TypeFor[sql.Null[uint64]]()
	case name == "TINYINT" || name == "SMALLINT" || name == "MEDIUMINT" || name == "INT" ||
		name == "BIGINT" || name == "YEAR":
		plain, null = reflect.TypeFor[int64](), reflect.TypeFor[sql.NullInt64]()
	case name == "FLOAT" || name == "DOUBLE":
		plain, null = reflect.TypeFor[float64](), reflect.TypeFor[sql.NullFloat64]()
	case name == "DATE" || name == "DATETIME" || name == "TIMESTAMP":
		plain, null = reflect.TypeFor[time.Time](), reflect.TypeFor[sql.NullTime]()
	case name == "BINARY" || name == "VARBINARY" || name == "BLOB" || name == "GEOMETRY":
		plain, null = reflect.TypeFor[[]byte](), reflect.TypeFor[[]byte]()
	case name == "DECIMAL" || name == "CHAR" || name == "VARCHAR" || name == "TEXT" || name == "ENUM" ||
		name == "SET" || name == "JSON" || name == "TIME":
		plain, null = reflect.TypeFor[string](), reflect.TypeFor[sql.NullString]()
	default:
		return reflect.TypeFor[any]()
	}
	if c.GetNullable() {
		return null
	}
	return plain
}
