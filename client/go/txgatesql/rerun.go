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
func RunInTx(ctx context.Context, db *sql.DB, txOpts *sql.TxOptions, opts txgate.RetryOptions,
	fn func(ctx context.Context, tx *sql.Tx) error) (int, error) {
	return txgate.RerunAborted(ctx, opts, func(ctx context.Context) (bool, error) {
		tx, err := db.BeginTx(ctx, txOpts)
		if err != nil {
			return false, err
		}
		if err := fn(ctx, tx); err != nil {
			_ = tx.Rollback()
			return false, err
		}
		return true, tx.Commit()
	})
}
