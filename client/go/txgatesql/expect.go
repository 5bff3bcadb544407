package txgatesql

import (
	"database/sql/driver"
	"errors"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// Expectation is a condition on one statement's result in a transaction,
// passed as an extra argument of Exec or Query on a *sql.Tx (it is not a
// parameter: the driver takes it out):
//
//	_, err := tx.ExecContext(ctx, "UPDATE acc SET bal = bal - ? WHERE id = ? AND bal >= ?",
//		amount, id, amount, txgatesql.ExpectMinAffectedRows(1))
//
// When the result misses it, txgate rolls the whole transaction back and
// the call fails with a *txgate.Error whose ExpectationFailed() is true
// (Expectation(), Expected(), Actual() say how); Commit then fails too.
// Outside a transaction it is refused: Execute and StreamQuery take no
// expectation (their statement has committed before its result could be
// checked; RunTransaction of the helper takes them too).
type Expectation struct{ e *txgatev1.Expectation }

// ExpectAffectedRows expects exactly n affected rows (an UPDATE counts the
// rows it matched).
func ExpectAffectedRows(n uint64) Expectation {
	return Expectation{&txgatev1.Expectation{AffectedRows: &n}}
}

// ExpectMinAffectedRows expects at least n affected rows.
func ExpectMinAffectedRows(n uint64) Expectation {
	return Expectation{&txgatev1.Expectation{MinAffectedRows: &n}}
}

// ExpectMaxAffectedRows expects at most n affected rows.
func ExpectMaxAffectedRows(n uint64) Expectation {
	return Expectation{&txgatev1.Expectation{MaxAffectedRows: &n}}
}

// ExpectRows expects exactly n rows returned.
func ExpectRows(n uint64) Expectation { return Expectation{&txgatev1.Expectation{Rows: &n}} }

// ExpectMinRows expects at least n rows returned (1: "returns a row").
func ExpectMinRows(n uint64) Expectation { return Expectation{&txgatev1.Expectation{MinRows: &n}} }

// ExpectMaxRows expects at most n rows returned.
func ExpectMaxRows(n uint64) Expectation { return Expectation{&txgatev1.Expectation{MaxRows: &n}} }

var errTwoExpectations = errors.New("txgate: more than one Expectation for one statement")

// takeExpectation records e for the statement database/sql is about to run
// on c (CheckNamedValue runs just before, on the same connection) and tells
// database/sql to drop the argument.
func (c *Conn) takeExpectation(e Expectation) error {
	if c.expect != nil {
		c.expect = nil
		return errTwoExpectations
	}
	c.expect = e.e
	return driver.ErrRemoveArgument
}

// QueryMode, passed as an extra argument of Query, chooses how a query
// outside a transaction runs (the driver takes it out of the parameters).
type QueryMode int

// Unary runs a Query outside a transaction with Execute instead of
// StreamQuery: one answer with every result set of a CALL
// (rows.NextResultSet), re-sent exactly once under Exec's rule; bounded by
// txgate's --max_result_rows/--max_result_bytes (RESULT_TOO_LARGE beyond).
// Inside a transaction a Query is always answered whole, so it changes
// nothing there.
const Unary QueryMode = 1
