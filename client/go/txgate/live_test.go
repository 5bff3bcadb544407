package txgate_test

// Tests against a live txgate and a real MariaDB. They need TXGATE_ADDR (and
// TXGATE_TEST_DB_DIR for the connection-kill test); tests/clients/run.sh sets
// both. Without TXGATE_ADDR they are skipped.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

func live(t *testing.T) (*txgate.Client, context.Context) {
	t.Helper()
	addr := os.Getenv("TXGATE_ADDR")
	if addr == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	c, err := txgate.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}

func must(t *testing.T, c *txgate.Client, ctx context.Context, sql string, params ...any) *txgate.Result {
	t.Helper()
	res, err := c.Execute(ctx, sql, params...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res
}

func adminSQL(t *testing.T, sql string) []string {
	t.Helper()
	dir := os.Getenv("TXGATE_TEST_DB_DIR")
	if dir == "" {
		t.Skip("TXGATE_TEST_DB_DIR not set (no admin access to MariaDB)")
	}
	root, _ := filepath.Abs("../../..")
	out, err := exec.Command("bash", filepath.Join(root, "deploy/local/mariadb.sh"), "sql", dir, sql).Output()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return strings.Fields(string(out))
}

// killTxgateSessions kills every MariaDB session of user txgate and waits
// until they are gone.
func killTxgateSessions(t *testing.T) {
	t.Helper()
	const query = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER='txgate'"
	ids := adminSQL(t, query)
	if len(ids) == 0 {
		t.Fatal("txgate holds no MariaDB sessions to kill")
	}
	root, _ := filepath.Abs("../../..")
	for _, id := range ids {
		// Not checked: the session may have closed by itself meanwhile.
		_ = exec.Command("bash", filepath.Join(root, "deploy/local/mariadb.sh"), "sql",
			os.Getenv("TXGATE_TEST_DB_DIR"), "KILL CONNECTION "+id).Run()
	}
	for range 300 {
		if !slices.ContainsFunc(adminSQL(t, query), func(id string) bool { return slices.Contains(ids, id) }) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sessions %v still alive", ids)
}

func TestLiveTypedValuesRoundTrip(t *testing.T) {
	c, ctx := live(t)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_types")
	must(t, c, ctx, `CREATE TABLE go_types (id INT PRIMARY KEY, n VARCHAR(10) NULL, u BIGINT UNSIGNED,
		d DECIMAL(65,30), b VARBINARY(32), ts DATETIME(6), da DATE, neg TIME(6), big TIME(6), i BIGINT,
		s VARCHAR(20)) CHARACTER SET utf8mb4`)
	row := []any{
		int64(1), nil, uint64(math.MaxUint64),
		txgate.Decimal("-" + strings.Repeat("9", 35) + "." + strings.Repeat("0", 29) + "1"),
		[]byte("\x00\xff\x00txgate\xff"), time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
		txgate.Date{Year: 1000, Month: 1, Day: 1},
		-(838*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond),
		100*time.Hour + time.Minute + 2*time.Second + 500*time.Millisecond,
		int64(math.MinInt64), "héllo ☃",
	}
	if res := must(t, c, ctx, "INSERT INTO go_types VALUES (?,?,?,?,?,?,?,?,?,?,?)", row...); res.AffectedRows != 1 {
		t.Fatalf("affected %d", res.AffectedRows)
	}
	res := must(t, c, ctx, "SELECT * FROM go_types WHERE id = ?", 1)
	if len(res.Rows) != 1 || !reflect.DeepEqual(res.Rows[0], row) {
		t.Fatalf("got %#v\nwant %#v", res.Rows, row)
	}
	if res.Columns[2].GetType() != "BIGINT UNSIGNED" || res.Columns[3].GetType() != "DECIMAL" ||
		res.Columns[0].GetNullable() || !res.Columns[1].GetNullable() {
		t.Errorf("columns %v", res.Columns)
	}
	echo := must(t, c, ctx, "SELECT ?, ?, ?, ?", nil, uint64(math.MaxUint64), []byte{0, 0xff}, 2.5).Rows[0]
	if !reflect.DeepEqual(echo, []any{nil, uint64(math.MaxUint64), []byte{0, 0xff}, 2.5}) {
		t.Errorf("echo %#v", echo)
	}
}

func TestLiveMySQLErrorDetail(t *testing.T) {
	c, ctx := live(t)
	_, err := c.Execute(ctx, "SELEC 1")
	var e *txgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("err %v", err)
	}
	if e.Code != codes.InvalidArgument || e.Domain != "txgate.dev" || e.Reason != "MYSQL_ERROR" ||
		e.MySQLErrno != 1064 || e.SQLState != "42000" || !strings.Contains(e.MySQLMessage, "SQL syntax") {
		t.Fatalf("error %+v", e)
	}
}

func TestLiveRunTransaction(t *testing.T) {
	c, ctx := live(t)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_accounts")
	must(t, c, ctx, "CREATE TABLE go_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
	must(t, c, ctx, "INSERT INTO go_accounts VALUES (1, 100), (2, 0)")
	res, err := c.RunTransaction(ctx, []txgate.Statement{
		txgate.Stmt("UPDATE go_accounts SET balance = balance - ? WHERE id = ?", 30, 1),
		txgate.Stmt("UPDATE go_accounts SET balance = balance + ? WHERE id = ?", 30, 2),
		txgate.Stmt("SELECT id, balance FROM go_accounts ORDER BY id"),
	}, txgate.RunOptions{TxOptions: txgate.TxOptions{Isolation: txgatev1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{int64(1), int64(70)}, {int64(2), int64(30)}}
	if res.Results[0].AffectedRows != 1 || res.Results[1].AffectedRows != 1 || !reflect.DeepEqual(res.Results[2].Rows, want) ||
		res.Attempts < 1 || res.Calls != 1 || len(res.IdempotencyKey) != 36 {
		t.Fatalf("result %+v rows %v", res, res.Results[2].Rows)
	}
	// All or nothing: the failing second statement undoes the first.
	_, err = c.RunTransaction(ctx, []txgate.Statement{
		txgate.Stmt("UPDATE go_accounts SET balance = 0 WHERE id = ?", 1),
		txgate.Stmt("INSERT INTO go_accounts VALUES (?, ?)", 2, 5),
	}, txgate.RunOptions{})
	var e *txgate.Error
	if !errors.As(err, &e) || e.Code != codes.AlreadyExists || e.MySQLErrno != 1062 {
		t.Fatalf("err %v", err)
	}
	if got := must(t, c, ctx, "SELECT balance FROM go_accounts WHERE id = 1").Rows[0][0]; got != int64(70) {
		t.Fatalf("balance %v", got)
	}
}

func TestLiveRunTransactionRetriedWithItsKeyAppliesOnce(t *testing.T) {
	c, ctx := live(t)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_once")
	must(t, c, ctx, "CREATE TABLE go_once (id INT PRIMARY KEY)")
	opts := txgate.RunOptions{IdempotencyKey: txgate.NewIdempotencyKey()}
	stmts := []txgate.Statement{txgate.Stmt("INSERT INTO go_once VALUES (?)", 1)}
	for i := range 2 { // the second call is a retry: it gets the stored response
		res, err := c.RunTransaction(ctx, stmts, opts)
		if err != nil || res.Results[0].AffectedRows != 1 {
			t.Fatalf("call %d: %v %v", i+1, res, err)
		}
	}
	if n := must(t, c, ctx, "SELECT COUNT(*) FROM go_once").Rows[0][0]; n != int64(1) {
		t.Fatalf("%v rows", n)
	}
}

func TestLiveConditionalTransfer(t *testing.T) {
	c, ctx := live(t)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_cond")
	must(t, c, ctx, "CREATE TABLE go_cond (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
	must(t, c, ctx, "INSERT INTO go_cond VALUES (1, 65), (2, 0)")
	transfer := []txgate.Statement{
		txgate.Stmt("UPDATE go_cond SET balance = balance - ? WHERE id = 1 AND balance >= ?", 1000, 1000).
			ExpectMinAffectedRows(1),
		txgate.Stmt("UPDATE go_cond SET balance = balance + ? WHERE id = 2", 1000).ExpectAffectedRows(1),
	}
	balances := func() []any {
		return []any{must(t, c, ctx, "SELECT balance FROM go_cond WHERE id = 1").Rows[0][0],
			must(t, c, ctx, "SELECT balance FROM go_cond WHERE id = 2").Rows[0][0]}
	}
	opts := txgate.RunOptions{IdempotencyKey: txgate.NewIdempotencyKey()}
	_, err := c.RunTransaction(ctx, transfer, opts)
	var e *txgate.Error
	if !errors.As(err, &e) || !e.ExpectationFailed() || e.Code != codes.FailedPrecondition ||
		e.StatementIndex() != 1 || e.Metadata["expectation"] != "min_affected_rows" ||
		e.Metadata["expected"] != "1" || e.Metadata["actual"] != "0" || e.IdempotencyKey != opts.IdempotencyKey {
		t.Fatalf("err %#v", err)
	}
	if got := balances(); !reflect.DeepEqual(got, []any{int64(65), int64(0)}) {
		t.Fatalf("balances %v after a refused transfer", got)
	}
	// The failure used up nothing: after a top-up the same key succeeds, once.
	must(t, c, ctx, "UPDATE go_cond SET balance = balance + 1000 WHERE id = 1")
	for i := range 2 {
		if _, err := c.RunTransaction(ctx, transfer, opts); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if got := balances(); !reflect.DeepEqual(got, []any{int64(65), int64(1000)}) {
		t.Fatalf("balances %v after the transfer", got)
	}
	// In an interactive transaction, an unmet expectation ends it, rolled back.
	tx, err := c.Begin(ctx, txgate.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Run(transfer[1]); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Run(transfer[0])
	if !errors.As(err, &e) || !e.ExpectationFailed() || e.StatementIndex() != 2 || tx.State() != "failed" {
		t.Fatalf("err %v state %s", err, tx.State())
	}
	if got := balances(); !reflect.DeepEqual(got, []any{int64(65), int64(1000)}) {
		t.Fatalf("balances %v after a failed interactive transfer", got)
	}
}

func TestLiveStreamQuery(t *testing.T) {
	c, ctx := live(t)
	rows, err := c.StreamQuery(ctx, "SELECT seq, REPEAT('x', 100) FROM seq_1_to_2500 WHERE seq > ?", []any{0}, 400)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		n++
		if got := rows.Values()[0]; got != n {
			t.Fatalf("row %d is %v", n, got)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2500 || rows.Chunks() < 7 || !rows.Done() || rows.Columns()[0].GetName() != "seq" {
		t.Fatalf("%d rows in %d chunks, done %v", n, rows.Chunks(), rows.Done())
	}
	bad, err := c.StreamQuery(ctx, "SELECT * FROM go_no_such_table", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for bad.Next() {
	}
	var e *txgate.Error
	if !errors.As(bad.Err(), &e) || e.Code != codes.NotFound || e.MySQLErrno != 1146 {
		t.Fatalf("err %v", bad.Err())
	}
}

// Sizes (README, "Limits"): txgate bounds every response message's encoded
// size by --max_result_bytes, by default 64 KiB under gRPC's default 4 MiB
// receive limit, which this client keeps.
const (
	clientLimit = 4 << 20
	serverLimit = 4<<20 - 64<<10
	sizesText   = "ab€😀é" // 1- to 4-byte characters: pieces are cut between them
)

// sizesPattern: bytes with a prime period, so that a misplaced piece shows.
func sizesPattern() []byte {
	p := make([]byte, 4093)
	for i := range p {
		p[i] = byte((i*7919 + i>>3) & 0xff)
	}
	return p
}

func TestLiveStreamQueryValuesOf5And64MiBArriveWhole(t *testing.T) {
	// Needs the server's max_allowed_packet above 64 MiB (tests/clients/run.sh).
	c, _ := live(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const size = 64 << 20
	pattern := sizesPattern()
	times := size/len(pattern) + 1
	reps := (5<<20 + len(sizesText) - 1) / len(sizesText)
	rows, err := c.StreamQuery(ctx, "SELECT 1, LEFT(REPEAT(?, ?), ?), 'after', REPEAT(?, ?), 2",
		[]any{pattern, times, size, sizesText, reps}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][]any
	for rows.Next() {
		got = append(got, rows.Values())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !rows.Done() {
		t.Fatalf("%d rows, done %v", len(got), rows.Done())
	}
	v := got[0]
	if v[0] != int64(1) || v[2] != "after" || v[4] != int64(2) {
		t.Fatalf("small values %v %v %v", v[0], v[2], v[4])
	}
	want := make([]byte, 0, size+len(pattern))
	for len(want) < size {
		want = append(want, pattern...)
	}
	if blob, ok := v[1].([]byte); !ok || len(blob) != size || string(blob) != string(want[:size]) {
		t.Fatalf("the 64 MiB value differs (%T)", v[1])
	}
	if text, ok := v[3].(string); !ok || text != strings.Repeat(sizesText, reps) {
		t.Fatalf("the 5 MiB text differs")
	}
	if rows.Chunks() < 18 {
		t.Fatalf("%d chunks", rows.Chunks())
	}
}

func TestLiveResultsAround4MiBAreTheResultOrResultTooLargeNeverAClientFailure(t *testing.T) {
	c, ctx := live(t)
	const sql = "SELECT REPEAT('x', ?) AS v"
	// Bytes the response adds to n, for n from 2 MiB to 256 MiB (4-byte lengths).
	conn, err := grpc.NewClient(os.Getenv("TXGATE_ADDR"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n0 = 3 << 20
	resp, err := txgatev1.NewDatabaseServiceClient(conn).Execute(ctx, &txgatev1.ExecuteRequest{
		Sql: sql, Params: []*txgatev1.Value{{Kind: &txgatev1.Value_Int64Value{Int64Value: n0}}}})
	if err != nil {
		t.Fatal(err)
	}
	overhead := proto.Size(resp) - n0
	for _, d := range []int{-64, -1, 0, 1, 64} {
		for _, encoded := range []int{clientLimit + d, serverLimit + d} {
			n := encoded - overhead
			res, err := c.Execute(ctx, sql, n)
			var e *txgate.Error
			switch {
			case err == nil:
				if encoded > serverLimit || len(res.Rows) != 1 || res.Rows[0][0] != strings.Repeat("x", n) {
					t.Fatalf("%d bytes answered", encoded)
				}
			case errors.As(err, &e) && e.Reason == "RESULT_TOO_LARGE":
				if encoded <= serverLimit || !strings.Contains(e.Message, "StreamQuery") {
					t.Fatalf("%d bytes refused: %v", encoded, err)
				}
			default:
				t.Fatalf("%d bytes: %v", encoded, err)
			}
			rows, err := c.StreamQuery(ctx, sql, []any{n}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !rows.Next() || rows.Values()[0] != strings.Repeat("x", n) || rows.Next() || rows.Err() != nil {
				t.Fatalf("%d bytes streamed: %v", encoded, rows.Err())
			}
			rows.Close()
		}
	}
}

func setupTxTable(t *testing.T, c *txgate.Client, ctx context.Context) {
	must(t, c, ctx, "DROP TABLE IF EXISTS go_tx")
	must(t, c, ctx, "CREATE TABLE go_tx (id INT PRIMARY KEY, v VARCHAR(10))")
}

func count(t *testing.T, c *txgate.Client, ctx context.Context) int64 {
	return must(t, c, ctx, "SELECT COUNT(*) FROM go_tx").Rows[0][0].(int64)
}

func TestLiveInteractiveCommit(t *testing.T) {
	c, ctx := live(t)
	setupTxTable(t, c, ctx)
	tx, err := c.Begin(ctx, txgate.TxOptions{Isolation: txgatev1.IsolationLevel_ISOLATION_LEVEL_REPEATABLE_READ})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if res, err := tx.Execute("INSERT INTO go_tx VALUES (?, ?)", 1, "a"); err != nil || res.AffectedRows != 1 {
		t.Fatalf("insert: %v %v", res, err)
	}
	if res, err := tx.Execute("SELECT v FROM go_tx WHERE id = ?", 1); err != nil || res.Rows[0][0] != "a" {
		t.Fatalf("select: %v %v", res, err)
	}
	if n := count(t, c, ctx); n != 0 {
		t.Fatalf("uncommitted row visible outside: %d", n)
	}
	key, err := tx.Commit()
	if err != nil || len(key) != 36 || tx.State() != "committed" {
		t.Fatalf("commit: %q %v %s", key, err, tx.State())
	}
	if n := count(t, c, ctx); n != 1 {
		t.Fatalf("committed row not visible: %d", n)
	}
}

func TestLiveInteractiveRollback(t *testing.T) {
	c, ctx := live(t)
	setupTxTable(t, c, ctx)
	tx, err := c.Begin(ctx, txgate.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Execute("INSERT INTO go_tx VALUES (?, ?)", 1, "a"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil || tx.State() != "rolled back" {
		t.Fatalf("rollback: %v %s", err, tx.State())
	}
	boom := errors.New("boom")
	err = c.InTransaction(ctx, txgate.TxOptions{}, func(tx *txgate.Tx) error {
		if _, err := tx.Execute("INSERT INTO go_tx VALUES (?, ?)", 2, "b"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTransaction: %v", err)
	}
	if n := count(t, c, ctx); n != 0 {
		t.Fatalf("%d rows after rollbacks", n)
	}
}

func TestLiveSurvivesKilledPooledConnections(t *testing.T) {
	c, ctx := live(t)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_kill")
	must(t, c, ctx, "CREATE TABLE go_kill (id INT PRIMARY KEY)")
	for range 3 {
		must(t, c, ctx, "SELECT 1")
	}
	killTxgateSessions(t)
	if got := must(t, c, ctx, "SELECT ?", 42).Rows[0][0]; got != int64(42) {
		t.Fatalf("got %v", got)
	}
	killTxgateSessions(t)
	res, err := c.RunTransaction(ctx, []txgate.Statement{txgate.Stmt("INSERT INTO go_kill VALUES (?)", 1)}, txgate.RunOptions{})
	if err != nil || res.Results[0].AffectedRows != 1 {
		t.Fatalf("after kill: %v %v", res, err)
	}
}

// TestLiveTimeStoredInUTC: a time.Time is stored as its UTC wall clock,
// whatever its location and the process's TZ (tests/clients/run.sh runs the
// Go tests with TZ=America/New_York, so time.Local is -05:00 in January):
// 12:00 New York time is stored as 17:00 in DATETIME, and a TIMESTAMP holds
// the same instant; both read back Equal to what was bound.
func TestLiveTimeStoredInUTC(t *testing.T) {
	c, ctx := live(t)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	_, offset := time.Date(2024, 1, 15, 12, 0, 0, 0, time.Local).Zone()
	t.Logf("time.Local is %s (offset %ds in January)", time.Local, offset)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_time")
	must(t, c, ctx, "CREATE TABLE go_time (id INT PRIMARY KEY, dt DATETIME(6), ts TIMESTAMP(6) NULL)")
	cases := []time.Time{
		time.Date(2024, 1, 15, 12, 0, 0, 250000000, ny),
		time.Date(2024, 1, 15, 12, 0, 0, 250000000, time.Local),
		time.Date(2024, 7, 15, 12, 0, 0, 250000000, ny), // -04:00 (daylight saving)
	}
	for i, in := range cases {
		must(t, c, ctx, "INSERT INTO go_time VALUES (?, ?, ?)", i, in, in)
		res := must(t, c, ctx, `SELECT DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'),
			DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), UNIX_TIMESTAMP(ts), dt, ts FROM go_time WHERE id = ?`, i)
		want := in.UTC().Format("2006-01-02 15:04:05.000000")
		row := res.Rows[0]
		if row[0] != want || row[1] != want {
			t.Errorf("%v stored as DATETIME %v, TIMESTAMP %v; want %s", in, row[0], row[1], want)
		}
		if unix, _ := row[2].(txgate.Decimal); string(unix) != fmt.Sprintf("%d.250000", in.Unix()) {
			t.Errorf("%v: UNIX_TIMESTAMP %v, want %d.250000", in, row[2], in.Unix())
		}
		for _, got := range row[3:] {
			if tm, ok := got.(time.Time); !ok || !tm.Equal(in) || tm.Location() != time.UTC {
				t.Errorf("%v read back as %#v", in, got)
			}
		}
	}
	if got := must(t, c, ctx, "SELECT DATE_FORMAT(dt, '%H:%i') FROM go_time WHERE id = 0").Rows[0][0]; got != "17:00" {
		t.Errorf("12:00 New York time stored as %v, want 17:00", got)
	}
}

// TestLiveRunInTransactionReRunsADeadlockVictim: a real deadlock (MySQL
// 1213, ABORTED) makes RunInTransaction run the whole function again, in a
// fresh transaction, which then commits. The other transaction has written
// more rows, so InnoDB picks RunInTransaction's as the victim.
func TestLiveRunInTransactionReRunsADeadlockVictim(t *testing.T) {
	c, ctx := live(t)
	must(t, c, ctx, "DROP TABLE IF EXISTS go_dead")
	must(t, c, ctx, "DROP TABLE IF EXISTS go_dead_bulk")
	must(t, c, ctx, "CREATE TABLE go_dead (id INT PRIMARY KEY, n INT NOT NULL)")
	must(t, c, ctx, "CREATE TABLE go_dead_bulk (id INT PRIMARY KEY)")
	must(t, c, ctx, "INSERT INTO go_dead VALUES (1, 0), (2, 0)")

	other, err := c.Begin(ctx, txgate.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	otherDone := make(chan error, 1)
	var errs []*txgate.Error
	runs, err := c.RunInTransaction(ctx, txgate.RetryOptions{InitialBackoff: time.Millisecond}, func(tx *txgate.Tx) error {
		if _, err := tx.Execute("UPDATE go_dead SET n = n + 1 WHERE id = 1"); err != nil {
			return err
		}
		if len(errs) == 0 { // first run: the other transaction takes row 2, then waits for row 1
			if _, err := other.Execute("INSERT INTO go_dead_bulk SELECT seq FROM seq_1_to_50"); err != nil {
				return err
			}
			if _, err := other.Execute("UPDATE go_dead SET n = n + 10 WHERE id = 2"); err != nil {
				return err
			}
			go func() {
				_, err := other.Execute("UPDATE go_dead SET n = n + 10 WHERE id = 1")
				if err == nil {
					_, err = other.Commit()
				}
				otherDone <- err
			}()
			const waiting = "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
			if !eventually(10*time.Second, func() bool { return adminSQL(t, waiting)[0] == "1" }) {
				return errors.New("the other transaction never waited for row 1")
			}
		}
		_, err := tx.Execute("UPDATE go_dead SET n = n + 1 WHERE id = 2")
		var e *txgate.Error
		if errors.As(err, &e) {
			errs = append(errs, e)
		}
		return err
	})
	if err != nil || runs != 2 {
		t.Fatalf("RunInTransaction: %d runs, %v", runs, err)
	}
	if len(errs) != 1 || errs[0].Code != codes.Aborted || errs[0].MySQLErrno != 1213 {
		t.Fatalf("first run's error: %+v", errs)
	}
	if err := <-otherDone; err != nil {
		t.Fatalf("the other transaction: %v", err)
	}
	res := must(t, c, ctx, "SELECT n FROM go_dead ORDER BY id")
	if !reflect.DeepEqual(res.Rows, [][]any{{int64(11)}, {int64(11)}}) {
		t.Fatalf("rows %v: want each transaction applied once", res.Rows)
	}
}

// TestLiveRunInTransactionReturnsOtherErrorsAtOnce: an unmet expectation
// and fn's own error are not re-run.
func TestLiveRunInTransactionReturnsOtherErrorsAtOnce(t *testing.T) {
	c, ctx := live(t)
	setupTxTable(t, c, ctx)
	runs, err := c.RunInTransaction(ctx, txgate.RetryOptions{}, func(tx *txgate.Tx) error {
		_, err := tx.Run(txgate.Stmt("UPDATE go_tx SET v = 'x' WHERE id = ?", 99).ExpectAffectedRows(1))
		return err
	})
	var e *txgate.Error
	if runs != 1 || !errors.As(err, &e) || !e.ExpectationFailed() || e.Expectation() != "affected_rows" {
		t.Fatalf("%d runs, %v", runs, err)
	}
	if n, ok := e.Expected(); !ok || n != 1 {
		t.Errorf("Expected() = %d, %v", n, ok)
	}
	if n, ok := e.Actual(); !ok || n != 0 {
		t.Errorf("Actual() = %d, %v", n, ok)
	}
	boom := errors.New("boom")
	runs, err = c.RunInTransaction(ctx, txgate.RetryOptions{}, func(tx *txgate.Tx) error {
		_, _ = tx.Execute("INSERT INTO go_tx VALUES (?, ?)", 1, "a")
		return boom
	})
	if runs != 1 || !errors.Is(err, boom) || count(t, c, ctx) != 0 {
		t.Fatalf("%d runs, %v, %d rows", runs, err, count(t, c, ctx))
	}
}

func TestLiveRowsByColumnName(t *testing.T) {
	c, ctx := live(t)
	res := must(t, c, ctx, "SELECT 1 AS a, 'x' AS b, NULL AS c, 2 AS a")
	if m := res.RowMap(0); !reflect.DeepEqual(m, map[string]any{"a": int64(1), "b": "x", "c": nil}) {
		t.Fatalf("RowMap %v", m)
	}
	if res.Rows[0][3] != int64(2) || len(res.RowMaps()) != 1 {
		t.Fatalf("positional %v", res.Rows)
	}
	rows, err := c.StreamQuery(ctx, "SELECT seq AS n, seq * 2 AS twice FROM seq_1_to_3", nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []map[string]any
	for rows.Next() {
		got = append(got, rows.Map())
	}
	if err := rows.Err(); err != nil || len(got) != 3 || got[2]["twice"] != uint64(6) && got[2]["twice"] != int64(6) {
		t.Fatalf("stream maps %v %v", got, err)
	}
}
