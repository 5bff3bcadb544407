package txgatesql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

func TestCountPlaceholders(t *testing.T) {
	for q, want := range map[string]int{
		"SELECT 1":                  0,
		"SELECT ?, ?":               2,
		"SELECT '?', \"?\", `?`, ?": 1,
		"SELECT 'it''s ?', ?":       1,
		"SELECT ? -- ?\n, ?":        2,
		"SELECT ? --?":              2, // "--" without a space is minus minus
		"SELECT ? # ?\n":            1,
		"SELECT /* ? */ ?":          1,
		"SELECT /*!50000 ? */":      1,
		"SELECT 'a\\'?', ?":         -1,
		"SELECT 'open":              -1,
		"SELECT /* open":            -1,
		"INSERT INTO t (a, b) VALUES (?, ?), (?, ?)": 4,
	} {
		if got := countPlaceholders(q); got != want {
			t.Errorf("countPlaceholders(%q) = %d, want %d", q, got, want)
		}
	}
}

func TestParseDSN(t *testing.T) {
	c, err := ParseDSN("txgate://db.example:50051?tls=true&ca_file=/ca.pem&token_file=/tok&server_name=x")
	if err != nil || c.Target != "db.example:50051" || !c.TLS || c.CAFile != "/ca.pem" || c.TokenFile != "/tok" ||
		c.ServerName != "x" {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := ParseDSN("txgate://127.0.0.1:1"); err != nil || !c.TLS ||
		c.Routing != txgatev1.ReadRouting_READ_ROUTING_UNSPECIFIED {
		t.Fatalf("TLS and txgate's routing are the default: %+v %v", c, err)
	}
	if c, err := ParseDSN("txgate://h:1?routing=replica"); err != nil ||
		c.Routing != txgatev1.ReadRouting_READ_ROUTING_REPLICA {
		t.Fatalf("routing=replica: %+v %v", c, err)
	}
	for _, bad := range []string{
		"mysql://h:1", "txgate://", "txgate://h:1/db", "txgate://u:p@h:1", "txgate://h:1?tls=maybe",
		"txgate://h:1?tsl=false", "txgate://h:1?cert_file=/c", "txgate://h:1?tls=false&ca_file=/c",
		"txgate://h:1?routing=nearest", "txgate://h:1?routing=",
	} {
		if _, err := ParseDSN(bad); err == nil {
			t.Errorf("ParseDSN(%q) accepted", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

type cents int64

type valuer struct{ s string }

func (v valuer) Value() (driver.Value, error) { return v.s, nil }

func TestCheckNamedValue(t *testing.T) {
	c := &Conn{}
	ny, _ := time.LoadLocation("America/New_York")
	seven := 7
	var nilValuer *valuer
	for _, tc := range []struct{ in, want any }{
		{uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{cents(5), int64(5)},
		{&seven, 7},
		{(*int)(nil), nil},
		{nilValuer, nil},
		{valuer{"v"}, "v"},
		{txgate.Decimal("1.10"), txgate.Decimal("1.10")},
		{sql.NullString{}, nil},
		{sql.Null[txgate.Decimal]{V: "2.5", Valid: true}, txgate.Decimal("2.5")},
		{sql.Null[txgate.Decimal]{V: "2.5"}, nil},
		{time.Date(2024, 1, 15, 12, 0, 0, 0, ny), time.Date(2024, 1, 15, 17, 0, 0, 0, time.UTC)},
		{time.Second, time.Second},
	} {
		nv := &driver.NamedValue{Ordinal: 1, Value: tc.in}
		if err := c.CheckNamedValue(nv); err != nil || !reflect.DeepEqual(nv.Value, tc.want) {
			t.Errorf("CheckNamedValue(%#v) = %#v, %v; want %#v", tc.in, nv.Value, err, tc.want)
		}
	}
	if err := c.CheckNamedValue(&driver.NamedValue{Name: "id", Value: 1}); err == nil {
		t.Error("named parameter accepted")
	}
	if err := c.CheckNamedValue(&driver.NamedValue{Value: struct{}{}}); err == nil {
		t.Error("struct accepted")
	}
}

func TestColumnValue(t *testing.T) {
	for _, tc := range []struct{ in, want any }{
		{txgate.Decimal("-1.50"), "-1.50"},
		{txgate.Date{Year: 2024, Month: 2, Day: 29}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{txgate.Date{}, "0000-00-00"},
		{-(838*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond), "-838:59:59.999999"},
		{12 * time.Hour, "12:00:00"},
		{txgate.Bit(5), uint64(5)},
	} {
		if got := columnValue(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("columnValue(%#v) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestDecimalScanner(t *testing.T) {
	var d txgate.Decimal
	for src, want := range map[any]txgate.Decimal{
		"1.10": "1.10", int64(-3): "-3", uint64(math.MaxUint64): "18446744073709551615", 2.5: "2.5",
	} {
		if err := d.Scan(src); err != nil || d != want {
			t.Errorf("Scan(%#v) = %q, %v", src, d, err)
		}
	}
	if err := d.Scan(nil); err == nil {
		t.Error("NULL scanned into a Decimal")
	}
	if v, err := txgate.Decimal("1.5").Value(); v != "1.5" || err != nil {
		t.Errorf("Value() = %#v, %v", v, err)
	}
}

func TestUnsupportedIsolationRefused(t *testing.T) {
	for _, l := range []sql.IsolationLevel{sql.LevelWriteCommitted, sql.LevelSnapshot, sql.LevelLinearizable} {
		if _, err := isolation(l); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: %v", l, err)
		}
	}
}

// ErrBadConn only where nothing was sent: the Connector or Conn closed.
func TestBadConnOnlyWhenClosed(t *testing.T) {
	c, err := NewConnector("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn := dc.(*Conn)
	if !conn.IsValid() || conn.ResetSession(context.Background()) != nil {
		t.Fatal("a fresh Conn is not valid")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if conn.IsValid() {
		t.Error("valid after its Connector closed")
	}
	for name, err := range map[string]error{
		"ResetSession": conn.ResetSession(context.Background()),
		"Exec": func() error {
			_, err := conn.ExecContext(context.Background(), "SELECT 1", nil)
			return err
		}(),
		"Query": func() error {
			_, err := conn.QueryContext(context.Background(), "SELECT 1", nil)
			return err
		}(),
		"BeginTx": func() error { _, err := conn.BeginTx(context.Background(), driver.TxOptions{}); return err }(),
		"Connect": func() error { _, err := c.Connect(context.Background()); return err }(),
	} {
		if !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("%s after Close: %v, want ErrBadConn", name, err)
		}
	}
}
