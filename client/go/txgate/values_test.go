package txgate_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

func TestValueRoundTrip(t *testing.T) {
	for _, x := range []any{
		nil, true, false, int64(0), int64(math.MinInt64), int64(math.MaxInt64), uint64(math.MaxUint64),
		1.5, "", "héllo ☃", []byte{}, []byte{0x00, 0xff, 0x00}, txgate.Decimal("-12345.678900"),
		txgate.Date{Year: 2024, Month: 2, Day: 29}, txgate.Date{},
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		-(838*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond),
		100*time.Hour + time.Microsecond, time.Duration(0), txgate.JSON(`{"a":[1,null]}`), txgate.Bit(5),
	} {
		v, err := txgate.Value(x)
		if err != nil {
			t.Fatalf("Value(%#v): %v", x, err)
		}
		if got := txgate.FromValue(v); !reflect.DeepEqual(got, x) {
			t.Errorf("round trip of %#v (%v) gave %#v", x, v, got)
		}
	}
}

func TestValueKinds(t *testing.T) {
	kind := func(x any) string {
		v, err := txgate.Value(x)
		if err != nil {
			t.Fatal(err)
		}
		return string(v.ProtoReflect().WhichOneof(v.ProtoReflect().Descriptor().Oneofs().ByName("kind")).Name())
	}
	var nilPtr *int
	seven := 7
	for x, want := range map[any]string{
		int8(1): "int64_value", uint16(1): "uint64_value", float32(1): "double_value",
		time.Second: "time_value", txgate.Decimal("1"): "decimal_value",
	} {
		if got := kind(x); got != want {
			t.Errorf("kind(%T) = %s, want %s", x, got, want)
		}
	}
	if kind(nilPtr) != "null_value" || kind(&seven) != "int64_value" {
		t.Error("pointers")
	}
	d := txgate.DurationOf(-(25*time.Hour + time.Second + 5*time.Microsecond))
	if !d.Negative || d.Hours != 25 || d.Minutes != 0 || d.Seconds != 1 || d.Microseconds != 5 {
		t.Errorf("DurationOf = %v", d)
	}
	if _, err := txgate.Value(struct{}{}); err == nil {
		t.Error("a struct became a value")
	}
	zero := &txgatev1.DateTime{}
	if got := txgate.FromValue(&txgatev1.Value{Kind: &txgatev1.Value_DatetimeValue{DatetimeValue: zero}}); got != zero {
		t.Errorf("zero DATETIME gave %#v", got)
	}
}

// A time.Time is bound as its instant in UTC, whatever its location: 12:00
// in New York (-05:00 in January) is 17:00 UTC.
func TestTimeBoundInUTC(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []time.Time{
		time.Date(2024, 1, 15, 12, 0, 0, 123456789, ny),
		time.Date(2024, 1, 15, 17, 0, 0, 123456789, time.UTC),
		time.Date(2024, 1, 15, 17, 0, 0, 123456789, time.UTC).In(time.Local),
		time.Date(2024, 1, 16, 1, 0, 0, 123456789, time.FixedZone("+08", 8*3600)),
	} {
		v, err := txgate.Value(in)
		if err != nil {
			t.Fatal(err)
		}
		dt := v.GetDatetimeValue()
		if dt.GetYear() != 2024 || dt.GetMonth() != 1 || dt.GetDay() != 15 || dt.GetHour() != 17 ||
			dt.GetMinute() != 0 || dt.GetSecond() != 0 || dt.GetMicrosecond() != 123456 {
			t.Errorf("Value(%v) = %v, want 2024-01-15 17:00:00.123456", in, dt)
		}
	}
}

func TestRerunnable(t *testing.T) {
	st := func(c codes.Code, domain string) error {
		s := status.New(c, "x")
		if domain != "" {
			s, _ = s.WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: "R"})
		}
		return fmt.Errorf("wrapped: %w", txgate.FromError(s.Err()))
	}
	for _, tc := range []struct {
		err        error
		commitSent bool
		want       bool
	}{
		{st(codes.Aborted, txgate.ErrorDomain), false, true},
		{st(codes.Aborted, txgate.ErrorDomain), true, true},
		{st(codes.Unavailable, txgate.ErrorDomain), true, true},
		{st(codes.Unavailable, ""), false, true},
		{st(codes.Unavailable, ""), true, false}, // the commit may have applied
		{st(codes.Unknown, txgate.ErrorDomain), true, false},
		{st(codes.FailedPrecondition, txgate.ErrorDomain), false, false},
		{errors.New("fn's own"), false, false},
	} {
		if got := txgate.Rerunnable(tc.err, tc.commitSent); got != tc.want {
			t.Errorf("Rerunnable(%v, %v) = %v", tc.err, tc.commitSent, got)
		}
	}
}
