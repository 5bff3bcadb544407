package txgatesql_test

// database/sql against a live txgate and a real MariaDB (TXGATE_ADDR; set by
// tests/clients/run.sh). Skipped without it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatesql"
)

func liveDB(t *testing.T) (*sql.DB, context.Context) {
	t.Helper()
	addr := os.Getenv("TXGATE_ADDR")
	if addr == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	db, err := sql.Open("txgate", "txgate://"+addr+"?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return db, ctx
}

func exec(t *testing.T, db *sql.DB, ctx context.Context, q string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func TestLiveSQLTypesRoundTrip(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_types")
	exec(t, db, ctx, `CREATE TABLE gosql_types (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		n VARCHAR(10) NULL, u BIGINT UNSIGNED NOT NULL, d DECIMAL(30,10) NOT NULL, b VARBINARY(16) NOT NULL,
		ts DATETIME(6) NOT NULL, da DATE NOT NULL, tm TIME(6) NOT NULL, f DOUBLE NOT NULL, i INT NULL)`)
	ny, _ := time.LoadLocation("America/New_York")
	when := time.Date(2024, 1, 15, 12, 0, 0, 123456000, ny)
	res := exec(t, db, ctx, "INSERT INTO gosql_types (n, u, d, b, ts, da, tm, f, i) VALUES (?,?,?,?,?,?,?,?,?)",
		nil, uint64(math.MaxUint64), txgate.Decimal("12345678901234567890.0123456789"), []byte{0, 0xff},
		when, txgate.Date{Year: 2024, Month: 2, Day: 29}, -(25*time.Hour + time.Microsecond), 2.5, sql.NullInt64{})
	if id, err := res.LastInsertId(); err != nil || id < 1 {
		t.Fatalf("LastInsertId %d %v", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("RowsAffected %d %v", n, err)
	}
	var (
		n    sql.NullString
		u    uint64
		d    txgate.Decimal
		b    []byte
		ts   time.Time
		da   time.Time
		tm   string
		f    float64
		i    sql.NullInt64
		dStr string
	)
	row := db.QueryRowContext(ctx, "SELECT n, u, d, b, ts, da, tm, f, i, d FROM gosql_types")
	if err := row.Scan(&n, &u, &d, &b, &ts, &da, &tm, &f, &i, &dStr); err != nil {
		t.Fatal(err)
	}
	if n.Valid || u != math.MaxUint64 || d != "12345678901234567890.0123456789" || !reflect.DeepEqual(b, []byte{0, 0xff}) ||
		!ts.Equal(when) || ts.Location() != time.UTC || !da.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) ||
		tm != "-25:00:00.000001" || f != 2.5 || i.Valid || dStr != string(d) {
		t.Fatalf("scanned %v %v %v %v %v %v %q %v %v %q", n, u, d, b, ts, da, tm, f, i, dStr)
	}
	// The stored wall clock is UTC: 12:00 New York time is 17:00.
	var wall string
	if err := db.QueryRowContext(ctx, "SELECT DATE_FORMAT(ts, '%H:%i') FROM gosql_types").Scan(&wall); err != nil || wall != "17:00" {
		t.Fatalf("stored %q %v", wall, err)
	}
}

func TestLiveSQLColumnTypes(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_cols")
	exec(t, db, ctx, `CREATE TABLE gosql_cols (a BIGINT UNSIGNED NOT NULL, b BIGINT UNSIGNED NULL,
		c INT NULL, d DECIMAL(5,2) NOT NULL, e VARCHAR(5) NULL, f DATETIME NOT NULL, g BLOB)`)
	rows, err := db.QueryContext(ctx, "SELECT * FROM gosql_cols")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, db, scan string
		nullable       bool
	}{
		{"a", "BIGINT UNSIGNED", "uint64", false},
		{"b", "BIGINT UNSIGNED", "sql.Null[uint64]", true},
		{"c", "INT", "sql.NullInt64", true},
		{"d", "DECIMAL", "string", false},
		{"e", "VARCHAR", "sql.NullString", true},
		{"f", "DATETIME", "time.Time", false},
		{"g", "BLOB", "[]uint8", true},
	}
	for i, ct := range cts {
		nullable, ok := ct.Nullable()
		if ct.Name() != want[i].name || ct.DatabaseTypeName() != want[i].db || ct.ScanType().String() != want[i].scan ||
			!ok || nullable != want[i].nullable {
			t.Errorf("column %d: %s %s %s %v/%v, want %+v", i, ct.Name(), ct.DatabaseTypeName(), ct.ScanType(),
				nullable, ok, want[i])
		}
	}
	if l, ok := cts[4].Length(); !ok || l != 5 {
		t.Errorf("VARCHAR(5) length = %d/%v, want 5/true", l, ok)
	}
	if _, ok := cts[2].Length(); ok {
		t.Error("INT has a length")
	}
	if p, s, ok := cts[3].DecimalSize(); !ok || p != 5 || s != 2 {
		t.Errorf("DECIMAL(5,2) size = %d,%d/%v, want 5,2/true", p, s, ok)
	}
	if _, _, ok := cts[2].DecimalSize(); ok {
		t.Error("INT has a decimal size")
	}
	if rows.Next() {
		t.Error("a row in an empty table")
	}
}

func TestLiveSQLPrepareAndStream(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_many")
	exec(t, db, ctx, "CREATE TABLE gosql_many (id INT PRIMARY KEY, s VARCHAR(20))")
	st, err := db.PrepareContext(ctx, "INSERT INTO gosql_many VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 500 {
		if _, err := st.ExecContext(ctx, i, "row"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ExecContext(ctx, 1); err == nil || !strings.Contains(err.Error(), "expected 2 arguments") {
		t.Fatalf("wrong argument count: %v", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, s FROM gosql_many WHERE id >= ? ORDER BY id", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id int
		var s string
		if err := rows.Scan(&id, &s); err != nil || id != n || s != "row" {
			t.Fatalf("row %d: %d %q %v", n, id, s, err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != 500 {
		t.Fatalf("%d rows, %v", n, err)
	}
	// Closing early stops the stream; the pool's connection is reused.
	rows, err = db.QueryContext(ctx, "SELECT id FROM gosql_many")
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	rows.Close()
	var count int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM gosql_many").Scan(&count); err != nil || count != 500 {
		t.Fatalf("count %d %v", count, err)
	}
}

func TestLiveSQLErrors(t *testing.T) {
	db, ctx := liveDB(t)
	// A query's error is Query's own, with the MySQL detail.
	_, err := db.QueryContext(ctx, "SELECT * FROM gosql_no_such_table")
	var e *txgate.Error
	if !errors.As(err, &e) || e.Code != codes.NotFound || e.MySQLErrno != 1146 {
		t.Fatalf("err %v", err)
	}
	_, err = db.ExecContext(ctx, "SELEC 1")
	if !errors.As(err, &e) || e.MySQLErrno != 1064 {
		t.Fatalf("err %v", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT 1 FROM DUAL WHERE 0").Scan(new(int)); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("no rows: %v", err)
	}
	if _, err := db.ExecContext(ctx, "SELECT ?", sql.Named("x", 1)); err == nil ||
		!strings.Contains(err.Error(), "positional") {
		t.Fatalf("named: %v", err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLiveSQLTransactions(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_acc")
	exec(t, db, ctx, "CREATE TABLE gosql_acc (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
	exec(t, db, ctx, "INSERT INTO gosql_acc VALUES (1, 100), (2, 0)")
	balance := func(id int) (b int64) {
		if err := db.QueryRowContext(ctx, "SELECT balance FROM gosql_acc WHERE id = ?", id).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Commit.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE gosql_acc SET balance = balance - 30 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	var inside int64
	if err := tx.QueryRowContext(ctx, "SELECT balance FROM gosql_acc WHERE id = 1").Scan(&inside); err != nil || inside != 70 {
		t.Fatalf("inside %d %v", inside, err)
	}
	if got := balance(1); got != 100 {
		t.Fatalf("uncommitted change visible outside: %d", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := balance(1); got != 70 {
		t.Fatalf("after commit %d", got)
	}

	// Rollback.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE gosql_acc SET balance = 0"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := balance(1); got != 70 {
		t.Fatalf("after rollback %d", got)
	}

	// Read-only: a write fails with MariaDB's 1792.
	tx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, "UPDATE gosql_acc SET balance = 0")
	var e *txgate.Error
	if !errors.As(err, &e) || e.MySQLErrno != 1792 {
		t.Fatalf("write in a read-only transaction: %v", err)
	}
	tx.Rollback()

	// Isolation: READ COMMITTED sees a change committed meanwhile,
	// REPEATABLE READ does not.
	for _, tc := range []struct {
		level sql.IsolationLevel
		sees  bool
	}{{sql.LevelReadCommitted, true}, {sql.LevelRepeatableRead, false}} {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: tc.level})
		if err != nil {
			t.Fatal(err)
		}
		var before, after int64
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM gosql_acc WHERE id = 2").Scan(&before); err != nil {
			t.Fatal(err)
		}
		exec(t, db, ctx, "UPDATE gosql_acc SET balance = balance + 1 WHERE id = 2")
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM gosql_acc WHERE id = 2").Scan(&after); err != nil {
			t.Fatal(err)
		}
		if (after != before) != tc.sees {
			t.Errorf("%s: %d then %d", tc.level, before, after)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	// Unsupported levels are refused before anything is sent.
	if _, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSnapshot}); err == nil ||
		!strings.Contains(err.Error(), "not supported") {
		t.Fatalf("Snapshot: %v", err)
	}
}

func TestLiveSQLDeadlines(t *testing.T) {
	db, ctx := liveDB(t)
	const bound = 300 * time.Millisecond
	// Outside a transaction: the call ends DEADLINE_EXCEEDED within the
	// deadline + 1 s (txgate kills the statement).
	qctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	start := time.Now()
	_, err := db.ExecContext(qctx, "SELECT SLEEP(10)")
	if err == nil || status(err) != codes.DeadlineExceeded || time.Since(start) > bound+time.Second {
		t.Fatalf("Exec: %v after %v", err, time.Since(start))
	}
	qctx, cancel = context.WithTimeout(ctx, bound)
	defer cancel()
	start = time.Now()
	rows, err := db.QueryContext(qctx, "SELECT SLEEP(10)")
	if err == nil {
		rows.Close()
	}
	if err == nil || time.Since(start) > bound+time.Second {
		t.Fatalf("Query: %v after %v", err, time.Since(start))
	}

	// Inside a transaction: a statement's deadline ends the whole
	// transaction, rolled back, with an error wrapping DeadlineExceeded.
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_dl")
	exec(t, db, ctx, "CREATE TABLE gosql_dl (id INT PRIMARY KEY)")
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO gosql_dl VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	start = time.Now()
	_, err = tx.ExecContext(sctx, "SELECT SLEEP(10)")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > bound+time.Second {
		t.Fatalf("statement in a transaction: %v after %v", err, time.Since(start))
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("commit after an abandoned statement succeeded")
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM gosql_dl").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows after the abandoned transaction (%v)", n, err)
	}
}

func status(err error) codes.Code {
	var e *txgate.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return codes.OK
}

// An Expectation argument makes a statement of a transaction conditional:
// an unmet one rolls the whole transaction back.
func TestLiveSQLExpectations(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_cond")
	exec(t, db, ctx, "CREATE TABLE gosql_cond (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
	exec(t, db, ctx, "INSERT INTO gosql_cond VALUES (1, 50), (2, 0)")
	transfer := func(amount int) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "UPDATE gosql_cond SET balance = balance + ? WHERE id = 2", amount,
			txgatesql.ExpectAffectedRows(1)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE gosql_cond SET balance = balance - ? WHERE id = 1 AND balance >= ?",
			amount, amount, txgatesql.ExpectMinAffectedRows(1)); err != nil {
			return err
		}
		var b int64
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM gosql_cond WHERE id = ?", 1,
			txgatesql.ExpectRows(1)).Scan(&b); err != nil {
			return err
		}
		return tx.Commit()
	}
	if err := transfer(30); err != nil {
		t.Fatal(err)
	}
	err := transfer(30) // 20 left: the guarded debit matches no row
	var e *txgate.Error
	if !errors.As(err, &e) || !e.ExpectationFailed() || e.StatementIndex() != 2 ||
		e.Expectation() != "min_affected_rows" {
		t.Fatalf("unmet expectation: %v", err)
	}
	var b1, b2 int64
	if err := db.QueryRowContext(ctx, "SELECT (SELECT balance FROM gosql_cond WHERE id = 1), "+
		"(SELECT balance FROM gosql_cond WHERE id = 2)").Scan(&b1, &b2); err != nil || b1 != 20 || b2 != 30 {
		t.Fatalf("balances %d %d %v: the failed transfer's credit must be rolled back", b1, b2, err)
	}
	// Outside a transaction an expectation is refused, and not left behind
	// for the next statement.
	if _, err := db.ExecContext(ctx, "UPDATE gosql_cond SET balance = 0 WHERE id = 3",
		txgatesql.ExpectAffectedRows(1)); err == nil || !strings.Contains(err.Error(), "only to a statement of a transaction") {
		t.Fatalf("outside a transaction: %v", err)
	}
	if _, err := db.ExecContext(ctx, "SELECT ?", struct{}{}); err == nil {
		t.Fatal("a struct parameter accepted")
	}
}

// adminSQL runs SQL as MariaDB's root (deploy/local/mariadb.sh sql) and
// returns the output's fields.
func adminSQL(t *testing.T, query string) []string {
	t.Helper()
	dir := os.Getenv("TXGATE_TEST_DB_DIR")
	if dir == "" {
		t.Skip("TXGATE_TEST_DB_DIR not set (no admin access to MariaDB)")
	}
	root, _ := filepath.Abs("../../..")
	out, err := osexec.Command("bash", filepath.Join(root, "deploy/local/mariadb.sh"), "sql", dir, query).Output()
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return strings.Fields(string(out))
}

// RunInTx re-runs a database/sql transaction that a real deadlock (1213)
// aborted; the other transaction wrote more rows, so InnoDB picks ours.
func TestLiveSQLRunInTxReRunsADeadlockVictim(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_dead")
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_dead_bulk")
	exec(t, db, ctx, "CREATE TABLE gosql_dead (id INT PRIMARY KEY, n INT NOT NULL)")
	exec(t, db, ctx, "CREATE TABLE gosql_dead_bulk (id INT PRIMARY KEY)")
	exec(t, db, ctx, "INSERT INTO gosql_dead VALUES (1, 0), (2, 0)")
	other, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	otherDone := make(chan error, 1)
	var first error
	runs, err := txgatesql.RunInTx(ctx, db, nil, txgate.RetryOptions{InitialBackoff: time.Millisecond},
		func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE gosql_dead SET n = n + 1 WHERE id = 1"); err != nil {
				return err
			}
			if first == nil {
				if _, err := other.ExecContext(ctx, "INSERT INTO gosql_dead_bulk SELECT seq FROM seq_1_to_50"); err != nil {
					return err
				}
				if _, err := other.ExecContext(ctx, "UPDATE gosql_dead SET n = n + 10 WHERE id = 2"); err != nil {
					return err
				}
				go func() {
					_, err := other.ExecContext(ctx, "UPDATE gosql_dead SET n = n + 10 WHERE id = 1")
					if err == nil {
						err = other.Commit()
					}
					otherDone <- err
				}()
				const waiting = "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
				deadline := time.Now().Add(10 * time.Second)
				for adminSQL(t, waiting)[0] != "1" {
					if time.Now().After(deadline) {
						return errors.New("the other transaction never waited for row 1")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			_, err := tx.ExecContext(ctx, "UPDATE gosql_dead SET n = n + 1 WHERE id = 2")
			if first == nil {
				first = err
			}
			return err
		})
	var e *txgate.Error
	if err != nil || runs != 2 || !errors.As(first, &e) || e.Code != codes.Aborted || e.MySQLErrno != 1213 {
		t.Fatalf("RunInTx: %d runs, %v; first run: %v", runs, err, first)
	}
	if err := <-otherDone; err != nil {
		t.Fatalf("the other transaction: %v", err)
	}
	var n1, n2 int
	if err := db.QueryRowContext(ctx, "SELECT (SELECT n FROM gosql_dead WHERE id = 1), (SELECT n FROM gosql_dead WHERE id = 2)").
		Scan(&n1, &n2); err != nil || n1 != 11 || n2 != 11 {
		t.Fatalf("n %d %d %v: want each transaction applied once", n1, n2, err)
	}
}

// Many goroutines share one sql.DB (its connections share one channel):
// inserts, queries and transactions interleave without mixing results.
func TestLiveSQLConcurrentUse(t *testing.T) {
	db, ctx := liveDB(t)
	db.SetMaxOpenConns(6)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_conc")
	exec(t, db, ctx, "CREATE TABLE gosql_conc (g INT NOT NULL, i INT NOT NULL, PRIMARY KEY (g, i))")
	const workers, each = 12, 15
	errs := make(chan error, workers)
	for g := range workers {
		go func() {
			errs <- func() error {
				for i := range each {
					if i%3 == 2 {
						tx, err := db.BeginTx(ctx, nil)
						if err != nil {
							return err
						}
						if _, err := tx.ExecContext(ctx, "INSERT INTO gosql_conc VALUES (?, ?)", g, i); err != nil {
							tx.Rollback()
							return err
						}
						if err := tx.Commit(); err != nil {
							return err
						}
					} else if _, err := db.ExecContext(ctx, "INSERT INTO gosql_conc VALUES (?, ?)", g, i); err != nil {
						return err
					}
					var n int
					if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM gosql_conc WHERE g = ?", g).Scan(&n); err != nil {
						return err
					}
					if n != i+1 {
						return fmt.Errorf("worker %d sees %d rows after %d inserts", g, n, i+1)
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM gosql_conc").Scan(&n); err != nil || n != workers*each {
		t.Fatalf("%d rows, %v", n, err)
	}
}

// A CALL answering two result sets: a Query with Unary (outside a
// transaction) or inside a transaction gives both, through NextResultSet.
func TestLiveSQLCallWithSeveralResultSets(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP PROCEDURE IF EXISTS gosql_two_sets")
	exec(t, db, ctx, "CREATE PROCEDURE gosql_two_sets(IN n INT) BEGIN SELECT n AS a; SELECT n + 1 AS b, 'x' AS c; END")
	read := func(rows *sql.Rows) [][]string {
		defer rows.Close()
		var sets [][]string
		for {
			cols, _ := rows.Columns()
			set := []string{strings.Join(cols, ",")}
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				set = append(set, strings.TrimSpace(fmt.Sprintln(vals...)))
			}
			sets = append(sets, set)
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return sets
	}
	want := [][]string{{"a", "7"}, {"b,c", "8 x"}}
	rows, err := db.QueryContext(ctx, "CALL gosql_two_sets(?)", 7, txgatesql.Unary)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("Unary: %q, want %q", got, want)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err = tx.QueryContext(ctx, "CALL gosql_two_sets(?)", 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("in a transaction: %q, want %q", got, want)
	}
	// Streamed (the default), a second result set is txgate's INVALID_ARGUMENT.
	rows, err = db.QueryContext(ctx, "CALL gosql_two_sets(?)", 7)
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if status(err) != codes.InvalidArgument {
		t.Errorf("streamed CALL of two sets: %v", err)
	}
}

// Read-your-writes per sql.DB (README, "Reads on replicas"): the DB's
// connections share one session, whose latest write's token every later
// read carries; another DB is another session.
func TestLiveADBIsOneSessionForCausalityTokens(t *testing.T) {
	addr := os.Getenv("TXGATE_ADDR")
	if addr == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func() (*sql.DB, *txgatesql.Connector) {
		c, err := txgatesql.NewConnector(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		t.Cleanup(func() { db.Close() })
		return db, c
	}
	a, ca := open()
	b, cb := open()
	exec(t, a, ctx, "CREATE TABLE IF NOT EXISTS gosql_causal (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
	ca.Client().Tokens().Clear()
	// Two connections of a's pool at once: the write on one, the token for both.
	c1, err := a.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := a.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c1.ExecContext(ctx, "INSERT INTO gosql_causal (v) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	token := ca.Client().CausalityToken()
	if !strings.HasPrefix(token, "g1:") {
		t.Fatalf("token after a write: %q", token)
	}
	var n int
	if err := c2.QueryRowContext(ctx, "SELECT COUNT(*) FROM gosql_causal").Scan(&n); err != nil || n < 1 {
		t.Fatalf("read on the other connection: %d %v", n, err)
	}
	if cb.Client().CausalityToken() != "" {
		t.Fatalf("another DB has the token %q", cb.Client().CausalityToken())
	}
	if err := b.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
}
