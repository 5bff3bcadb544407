package txgatesql_test

// A statement error swallowed inside a database/sql transaction: later
// ExecContext and Commit return the original *txgate.Error, and RunInTx
// decides on the transaction's own first failure, re-running a function that
// swallowed a real deadlock (two transfers locking two rows in opposite
// order), whatever it returned.

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatesql"
)

func TestLiveSQLRunInTxReRunsASwallowedDeadlock(t *testing.T) {
	for _, after := range []string{"returns nil", "goes on", "returns its own error"} {
		t.Run(after, func(t *testing.T) {
			db, ctx := liveDB(t)
			exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_swallow")
			exec(t, db, ctx, "CREATE TABLE gosql_swallow (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
			exec(t, db, ctx, "INSERT INTO gosql_swallow VALUES (1, 100), (2, 100)")
			var held sync.WaitGroup // each transfer's first run holds its first row
			held.Add(2)
			meet := func() error {
				held.Done()
				done := make(chan struct{})
				go func() { held.Wait(); close(done) }()
				select {
				case <-done:
					return nil
				case <-time.After(30 * time.Second):
					return errors.New("the other transfer never took its first row")
				}
			}
			var mu sync.Mutex
			var swallowed, later []error
			var runs atomic.Int32
			transfer := func(src, dst, amount int) func(context.Context, *sql.Tx) error {
				first := true
				return func(ctx context.Context, tx *sql.Tx) error {
					runs.Add(1)
					if _, err := tx.ExecContext(ctx, "UPDATE gosql_swallow SET balance = balance - ? WHERE id = ?", amount, src); err != nil {
						return err
					}
					if first {
						first = false
						if err := meet(); err != nil {
							return err
						}
					}
					_, err := tx.ExecContext(ctx, "UPDATE gosql_swallow SET balance = balance + ? WHERE id = ?", amount, dst)
					if err == nil {
						return nil
					}
					mu.Lock()
					swallowed = append(swallowed, err) // logged and ignored: the bug under test
					mu.Unlock()
					switch after {
					case "goes on":
						var b int64
						err := tx.QueryRowContext(ctx, "SELECT balance FROM gosql_swallow WHERE id = ?", src).Scan(&b)
						mu.Lock()
						later = append(later, err)
						mu.Unlock()
						return err
					case "returns its own error":
						return errors.New("transfer incomplete") // not wrapping err
					}
					return nil
				}
			}
			errs := make(chan error, 2)
			for _, tr := range [][3]int{{1, 2, 10}, {2, 1, 20}} {
				go func() {
					_, err := txgatesql.RunInTx(ctx, db, nil, txgate.RetryOptions{InitialBackoff: time.Millisecond},
						transfer(tr[0], tr[1], tr[2]))
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("RunInTx: %v", err)
				}
			}
			var e *txgate.Error
			if len(swallowed) != 1 || !errors.As(swallowed[0], &e) || e.Code != codes.Aborted || e.MySQLErrno != 1213 ||
				runs.Load() != 3 {
				t.Fatalf("%d runs; swallowed %v: want one deadlock victim, run again", runs.Load(), swallowed)
			}
			if after == "goes on" && (len(later) != 1 || later[0] != swallowed[0]) {
				t.Fatalf("the query after the deadlock returned %v, want the deadlock itself %v", later, swallowed[0])
			}
			var b1, b2 int64
			if err := db.QueryRowContext(ctx, "SELECT (SELECT balance FROM gosql_swallow WHERE id = 1), "+
				"(SELECT balance FROM gosql_swallow WHERE id = 2)").Scan(&b1, &b2); err != nil || b1 != 110 || b2 != 90 {
				t.Fatalf("balances %d %d (%v), want 110 90: each transfer applied once", b1, b2, err)
			}
		})
	}
}

// TestLiveSQLFailedTxReturnsItsFirstError: after a duplicate key in a
// sql.Tx, the next ExecContext, QueryContext and Commit return that same
// *txgate.Error (code, errno, message), and nothing is committed.
func TestLiveSQLFailedTxReturnsItsFirstError(t *testing.T) {
	db, ctx := liveDB(t)
	exec(t, db, ctx, "DROP TABLE IF EXISTS gosql_swallow1")
	exec(t, db, ctx, "CREATE TABLE gosql_swallow1 (id INT PRIMARY KEY)")
	exec(t, db, ctx, "INSERT INTO gosql_swallow1 VALUES (1)")
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO gosql_swallow1 VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	_, first := tx.ExecContext(ctx, "INSERT INTO gosql_swallow1 VALUES (1)")
	var e *txgate.Error
	if !errors.As(first, &e) || e.Code != codes.AlreadyExists || e.MySQLErrno != 1062 {
		t.Fatalf("duplicate key: %v", first)
	}
	message := first.Error()
	if _, err := tx.ExecContext(ctx, "INSERT INTO gosql_swallow1 VALUES (3)"); err != first {
		t.Fatalf("ExecContext after the failure: %v, want %v", err, first)
	}
	if _, err := tx.QueryContext(ctx, "SELECT 1"); err != first {
		t.Fatalf("QueryContext after the failure: %v, want %v", err, first)
	}
	if err := tx.Commit(); err != first || first.Error() != message {
		t.Fatalf("Commit after the failure: %v, want %v", err, message)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM gosql_swallow1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v): the failed transaction must have been rolled back", n, err)
	}
}
