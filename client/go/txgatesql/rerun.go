package txgatesql

import (
	"context"
	"database/sql"

	"github.com/txgate/txgate/client/go/txgate"
)

// RunInTx runs fn in a database/sql transaction of db and commits it,
// re-running the whole of fn in a fresh transaction when the transaction
// was aborted (a deadlock, a lost or idle transaction, ...), with bounded
// exponential backoff — the helper's RunInTransaction for database/sql
// (txgate.Rerunnable says which errors; opts bounds the runs; its
// TxOptions are not used: txOpts are BeginTx's). fn must be safe to run
// more than once and must not commit or roll back tx itself. It returns how
// many times fn ran and the last error.
//
// As the helper's, it judges a run by the transaction's own first failure
// (txgate.Decide): a statement that failed ended the transaction, and every
// later statement and Commit on tx return that same *txgate.Error, so a fn
// that swallowed an ABORTED (a deadlock) and returned nil, or an error of
// its own, is still re-run.
func RunInTx(ctx context.Context, db *sql.DB, txOpts *sql.TxOptions, opts txgate.RetryOptions,
	fn func(ctx context.Context, tx *sql.Tx) error) (int, error) {
	return txgate.RerunAborted(ctx, opts, func(ctx context.Context) (bool, error) {
		began := &begunTx{}
		tx, err := db.BeginTx(context.WithValue(ctx, begunTxKey{}, began), txOpts)
		if err != nil {
			return false, err
		}
		fnErr := fn(ctx, tx)
		var failure error
		if began.tx != nil { // a txgatesql transaction (db may use another driver)
			failure = began.tx.tx.Failure()
		}
		if err := txgate.Decide(failure, fnErr); err != nil {
			_ = tx.Rollback()
			return false, err
		}
		return true, tx.Commit()
	})
}

// begunTxKey is the context key under which RunInTx asks BeginTx for the
// driver's Tx it opens (database/sql hands BeginTx the caller's context).
type begunTxKey struct{}

type begunTx struct{ tx *Tx }
