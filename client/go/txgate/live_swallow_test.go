package txgate_test

// A statement error that application code catches and swallows inside a
// transaction. The transaction is over once a statement failed (txgate
// rolled it back): every later statement and Commit return that first
// error, and RunInTransaction decides on it, re-running the whole function
// when it was an abort (deadlock 1213) — even if the function swallowed it
// and returned nil or an error of its own. The deadlocks are real: two
// transfers lock two rows in opposite order, each holding its first row
// before either asks for its second, so InnoDB kills one of them.

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/txgate/txgate/client/go/txgate"
)

// swallowStart is both accounts' balance; swallowTransfers lock the rows in
// opposite orders; swallowWant is the balances once each applied once.
const swallowStart = 100

var (
	swallowTransfers = [2][3]int{{1, 2, 10}, {2, 1, 20}}
	swallowWant      = [][]any{{int64(1), int64(swallowStart - 10 + 20)}, {int64(2), int64(swallowStart + 10 - 20)}}
)

// rendezvous returns a function that blocks until n callers called it (or
// fails after 30 s).
func rendezvous(n int) func() error {
	var wg sync.WaitGroup
	wg.Add(n)
	return func() error {
		wg.Done()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the other transfer never took its first row")
		}
	}
}

func isDeadlock(err error) bool {
	var e *txgate.Error
	return errors.As(err, &e) && e.Code == codes.Aborted && e.Reason == "MYSQL_ERROR" && e.MySQLErrno == 1213
}

func TestLiveRunInTransactionReRunsASwallowedDeadlock(t *testing.T) {
	for _, after := range []string{"returns nil", "goes on", "returns its own error"} {
		t.Run(after, func(t *testing.T) {
			c, ctx := live(t)
			must(t, c, ctx, "DROP TABLE IF EXISTS go_swallow")
			must(t, c, ctx, "CREATE TABLE go_swallow (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
			must(t, c, ctx, "INSERT INTO go_swallow VALUES (1, ?), (2, ?)", swallowStart, swallowStart)
			meet := rendezvous(2)
			var mu sync.Mutex
			var swallowed, later []error
			var runs atomic.Int32
			transfer := func(src, dst, amount int) func(*txgate.Tx) error {
				first := true
				return func(tx *txgate.Tx) error {
					runs.Add(1)
					if _, err := tx.Execute("UPDATE go_swallow SET balance = balance - ? WHERE id = ?", amount, src); err != nil {
						return err
					}
					if first {
						first = false
						if err := meet(); err != nil {
							return err
						}
					}
					_, err := tx.Execute("UPDATE go_swallow SET balance = balance + ? WHERE id = ?", amount, dst)
					if err == nil {
						return nil
					}
					mu.Lock()
					swallowed = append(swallowed, err) // logged and ignored: the bug under test
					mu.Unlock()
					switch after {
					case "goes on":
						_, err := tx.Execute("SELECT balance FROM go_swallow WHERE id = ?", src)
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
			for _, tr := range swallowTransfers {
				go func() {
					_, err := c.RunInTransaction(ctx, txgate.RetryOptions{InitialBackoff: time.Millisecond},
						transfer(tr[0], tr[1], tr[2]))
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("RunInTransaction: %v", err)
				}
			}
			if len(swallowed) != 1 || !isDeadlock(swallowed[0]) || runs.Load() != 3 {
				t.Fatalf("%d runs; swallowed %v: want one deadlock victim, run again", runs.Load(), swallowed)
			}
			if after == "goes on" && (len(later) != 1 || later[0] != swallowed[0]) {
				t.Fatalf("the statement after the deadlock returned %v, want the deadlock itself %v", later, swallowed[0])
			}
			res := must(t, c, ctx, "SELECT id, balance FROM go_swallow ORDER BY id")
			if !reflect.DeepEqual(res.Rows, swallowWant) {
				t.Fatalf("balances %v, want %v: each transfer applied once", res.Rows, swallowWant)
			}
		})
	}
}

// TestLiveFailedTxReturnsItsFirstError: after a duplicate key, the next
// statement and Commit return that *Error itself (code, reason, errno,
// message, and no idempotency key of a commit that was never sent), and
// RunInTransaction returns it for a function that swallowed it, run once.
func TestLiveFailedTxReturnsItsFirstError(t *testing.T) {
	c, ctx := live(t)
	setupTxTable(t, c, ctx)
	must(t, c, ctx, "INSERT INTO go_tx VALUES (1, 'a')")
	tx, err := c.Begin(ctx, txgate.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Execute("INSERT INTO go_tx VALUES (2, 'b')"); err != nil {
		t.Fatal(err)
	}
	_, first := tx.Execute("INSERT INTO go_tx VALUES (1, 'c')")
	var e *txgate.Error
	if !errors.As(first, &e) || e.MySQLErrno != 1062 || e.Code != codes.AlreadyExists {
		t.Fatalf("duplicate key: %v", first)
	}
	if tx.State() != "failed" || tx.Failure() != first {
		t.Fatalf("State %q, Failure %v", tx.State(), tx.Failure())
	}
	message := e.Error()
	if _, err := tx.Execute("SELECT 1"); err != first {
		t.Fatalf("statement after the failure: %v, want %v", err, first)
	}
	if _, err := tx.Commit(); err != first || e.IdempotencyKey != "" || e.Error() != message {
		t.Fatalf("Commit after the failure: %v (key %q), want %v", err, e.IdempotencyKey, first)
	}
	if n := count(t, c, ctx); n != 1 {
		t.Fatalf("%d rows: the failed transaction must have been rolled back", n)
	}

	runs, err := c.RunInTransaction(ctx, txgate.RetryOptions{}, func(tx *txgate.Tx) error {
		_, _ = tx.Execute("INSERT INTO go_tx VALUES (3, 'c')")
		if _, err := tx.Execute("INSERT INTO go_tx VALUES (1, 'd')"); err != nil {
			return nil // swallowed
		}
		return nil
	})
	if runs != 1 || !errors.As(err, &e) || e.MySQLErrno != 1062 {
		t.Fatalf("RunInTransaction: %d runs, %v; want the duplicate key, run once", runs, err)
	}
	if n := count(t, c, ctx); n != 1 {
		t.Fatalf("%d rows: nothing of the function may be committed", n)
	}
}
