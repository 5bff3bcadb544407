package txgate

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// Decimal is an exact decimal as text, e.g. "-12345.678900" (DECIMAL, NUMERIC).
// It is a database/sql Scanner and driver.Valuer: the txgate driver
// (package txgatesql) binds it as an exact decimal_value, other drivers as
// its text.
type Decimal string

// Scan implements sql.Scanner: from text ([]byte, string), an int64, uint64
// or float64 (shortest form that reads back the same). NULL is an error:
// scan a nullable column into sql.Null[Decimal].
func (d *Decimal) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*d = Decimal(v)
	case []byte:
		*d = Decimal(v)
	case Decimal:
		*d = v
	case int64:
		*d = Decimal(strconv.FormatInt(v, 10))
	case uint64:
		*d = Decimal(strconv.FormatUint(v, 10))
	case float64:
		*d = Decimal(strconv.FormatFloat(v, 'f', -1, 64))
	case nil:
		return errors.New("txgate: cannot scan NULL into a Decimal (use sql.Null[txgate.Decimal])")
	default:
		return fmt.Errorf("txgate: cannot scan %T into a Decimal", src)
	}
	return nil
}

// Value implements driver.Valuer: the decimal's text.
func (d Decimal) Value() (driver.Value, error) { return string(d), nil }

// JSON is a JSON document as text (the JSON column type).
type JSON string

// Bit holds the bits of a BIT(n) column, n <= 64.
type Bit uint64

// Date is a calendar date (DATE). MySQL's zero parts (0000-00-00) are allowed.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date part of t, in t's location.
func DateOf(t time.Time) Date { return Date{t.Year(), t.Month(), t.Day()} }

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// Value converts a Go value into a txgate.v1.Value:
//
//	nil, a nil pointer            NULL
//	bool                          bool_value
//	int, int8 .. int64            int64_value
//	uint, uint8 .. uint64         uint64_value (up to 18446744073709551615)
//	float32, float64              double_value
//	string                        string_value
//	[]byte                        bytes_value
//	Decimal                       decimal_value (exact)
//	time.Time                     datetime_value: the instant in UTC (t.UTC()), truncated
//	                              to microseconds; txgate's sessions run with
//	                              time_zone '+00:00', so DATETIME and TIMESTAMP
//	                              columns hold the UTC wall clock (12:00-05:00 is
//	                              stored as 17:00), whatever the process's TZ
//	Date                          date_value
//	time.Duration                 time_value (TIME: negative, beyond 24 hours)
//	JSON                          json_value
//	Bit                           bit_value
//	*txgatev1.Value               itself; *txgatev1.Date, *DateTime, *Duration wrapped
//	a non-nil pointer             the value it points to
func Value(x any) (*txgatev1.Value, error) {
	switch v := x.(type) {
	case nil:
		return Null(), nil
	case *txgatev1.Value:
		return v, nil
	case bool:
		return &txgatev1.Value{Kind: &txgatev1.Value_BoolValue{BoolValue: v}}, nil
	case int:
		return int64Value(int64(v)), nil
	case int8:
		return int64Value(int64(v)), nil
	case int16:
		return int64Value(int64(v)), nil
	case int32:
		return int64Value(int64(v)), nil
	case int64:
		return int64Value(v), nil
	case uint:
		return uint64Value(uint64(v)), nil
	case uint8:
		return uint64Value(uint64(v)), nil
	case uint16:
		return uint64Value(uint64(v)), nil
	case uint32:
		return uint64Value(uint64(v)), nil
	case uint64:
		return uint64Value(v), nil
	case float32:
		return &txgatev1.Value{Kind: &txgatev1.Value_DoubleValue{DoubleValue: float64(v)}}, nil
	case float64:
		return &txgatev1.Value{Kind: &txgatev1.Value_DoubleValue{DoubleValue: v}}, nil
	case string:
		return &txgatev1.Value{Kind: &txgatev1.Value_StringValue{StringValue: v}}, nil
	case []byte:
		return &txgatev1.Value{Kind: &txgatev1.Value_BytesValue{BytesValue: v}}, nil
	case Decimal:
		return &txgatev1.Value{Kind: &txgatev1.Value_DecimalValue{DecimalValue: string(v)}}, nil
	case JSON:
		return &txgatev1.Value{Kind: &txgatev1.Value_JsonValue{JsonValue: string(v)}}, nil
	case Bit:
		return &txgatev1.Value{Kind: &txgatev1.Value_BitValue{BitValue: uint64(v)}}, nil
	case Date:
		return dateValue(&txgatev1.Date{Year: int32(v.Year), Month: int32(v.Month), Day: int32(v.Day)}), nil
	case *txgatev1.Date:
		return dateValue(v), nil
	case time.Time:
		// The instant, not the wall clock of v's location: binding the local
		// wall clock shifted every value by the zone's offset.
		v = v.UTC()
		return datetimeValue(&txgatev1.DateTime{
			Year: int32(v.Year()), Month: int32(v.Month()), Day: int32(v.Day()),
			Hour: int32(v.Hour()), Minute: int32(v.Minute()), Second: int32(v.Second()),
			Microsecond: int32(v.Nanosecond() / 1000),
		}), nil
	case *txgatev1.DateTime:
		return datetimeValue(v), nil
	case time.Duration:
		return durationValue(DurationOf(v)), nil
	case *txgatev1.Duration:
		return durationValue(v), nil
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return Null(), nil
		}
		return Value(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("txgate: no txgate.v1.Value for %T", x)
}

// Values converts parameters with Value.
func Values(xs []any) ([]*txgatev1.Value, error) {
	out := make([]*txgatev1.Value, len(xs))
	for i, x := range xs {
		v, err := Value(x)
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		out[i] = v
	}
	return out, nil
}

// Null returns the NULL value.
func Null() *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
}

func int64Value(v int64) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_Int64Value{Int64Value: v}}
}

func uint64Value(v uint64) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_Uint64Value{Uint64Value: v}}
}

func dateValue(d *txgatev1.Date) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_DateValue{DateValue: d}}
}

func datetimeValue(d *txgatev1.DateTime) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_DatetimeValue{DatetimeValue: d}}
}

func durationValue(d *txgatev1.Duration) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_TimeValue{TimeValue: d}}
}

// DurationOf returns the TIME value of d (truncated to microseconds).
func DurationOf(d time.Duration) *txgatev1.Duration {
	neg := d < 0
	us := d.Microseconds()
	if neg {
		us = -us
	}
	const usPerSecond = int64(1_000_000)
	return &txgatev1.Duration{
		Negative:     neg,
		Hours:        int32(us / (3600 * usPerSecond)),
		Minutes:      int32(us / (60 * usPerSecond) % 60),
		Seconds:      int32(us / usPerSecond % 60),
		Microseconds: int32(us % usPerSecond),
	}
}

// FromValue converts a txgate.v1.Value into a Go value: nil (NULL), int64,
// uint64, float64, string, []byte, bool, Decimal, Date, time.Time (UTC),
// time.Duration, JSON or Bit. A DATETIME with zero parts, which time.Time
// cannot hold, comes back as the *txgatev1.DateTime itself.
func FromValue(v *txgatev1.Value) any {
	switch k := v.GetKind().(type) {
	case nil, *txgatev1.Value_NullValue:
		return nil
	case *txgatev1.Value_Int64Value:
		return k.Int64Value
	case *txgatev1.Value_Uint64Value:
		return k.Uint64Value
	case *txgatev1.Value_DoubleValue:
		return k.DoubleValue
	case *txgatev1.Value_StringValue:
		return k.StringValue
	case *txgatev1.Value_BytesValue:
		if k.BytesValue == nil {
			return []byte{}
		}
		return k.BytesValue
	case *txgatev1.Value_BoolValue:
		return k.BoolValue
	case *txgatev1.Value_DecimalValue:
		return Decimal(k.DecimalValue)
	case *txgatev1.Value_JsonValue:
		return JSON(k.JsonValue)
	case *txgatev1.Value_BitValue:
		return Bit(k.BitValue)
	case *txgatev1.Value_DateValue:
		d := k.DateValue
		return Date{int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay())}
	case *txgatev1.Value_DatetimeValue:
		d := k.DatetimeValue
		t := time.Date(int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay()), int(d.GetHour()),
			int(d.GetMinute()), int(d.GetSecond()), int(d.GetMicrosecond())*1000, time.UTC)
		if t.Year() != int(d.GetYear()) || int(t.Month()) != int(d.GetMonth()) || t.Day() != int(d.GetDay()) {
			return d // a zero date
		}
		return t
	case *txgatev1.Value_TimeValue:
		t := k.TimeValue
		d := time.Duration(t.GetHours())*time.Hour + time.Duration(t.GetMinutes())*time.Minute +
			time.Duration(t.GetSeconds())*time.Second + time.Duration(t.GetMicroseconds())*time.Microsecond
		if t.GetNegative() {
			d = -d
		}
		return d
	}
	return v
}

// RowValues converts a row's values with FromValue.
func RowValues(row *txgatev1.Row) []any {
	out := make([]any, len(row.GetValues()))
	for i, v := range row.GetValues() {
		out[i] = FromValue(v)
	}
	return out
}
