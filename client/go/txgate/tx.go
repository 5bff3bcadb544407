package txgate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// Tx is an interactive transaction over the bidi Transaction stream: the
// stream is the transaction. It rolls back unless committed, so
//
//	tx, err := c.Begin(ctx, txgate.TxOptions{})
//	if err != nil { ... }
//	defer tx.Rollback() // a no-op after Commit
//	... tx.Execute(...) ...
//	_, err = tx.Commit()
//
// An error ends the transaction, rolled back (txgate ends the stream):
// every later statement and Commit return that first error again (Failure).
//
// A Tx is not safe for concurrent use.
type Tx struct {
	stream   txgatev1.DatabaseService_TransactionClient
	cancel   context.CancelFunc
	readOnly bool
	tokens   *Tokens
	token    string // the commit's causality token
	state    string
	failure  error // the error that failed the transaction (State "failed")
}

// Begin opens an interactive transaction; ctx bounds its whole life.
func (c *Client) Begin(ctx context.Context, opts TxOptions) (*Tx, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.stub.Transaction(ctx)
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	tx := &Tx{stream: stream, cancel: cancel, readOnly: opts.ReadOnly, tokens: c.tokens, state: "beginning"}
	begin := &txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Begin{
		Begin: &txgatev1.Begin{Options: opts.proto(c)}}}
	if _, err := tx.exchange(begin); err != nil {
		return nil, err
	}
	tx.state = "open"
	return tx, nil
}

// InTransaction runs fn in an interactive transaction, committing if fn
// returns nil and rolling back otherwise. It runs fn once; RunInTransaction
// re-runs it when the transaction is aborted (a deadlock, ...).
func (c *Client) InTransaction(ctx context.Context, opts TxOptions, fn func(*Tx) error) error {
	tx, err := c.Begin(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	_, err = tx.Commit()
	return err
}

// RetryOptions bound RunInTransaction's re-runs; the zero value is fine.
type RetryOptions struct {
	TxOptions
	// Runs of fn at most (default 10), all within Timeout (default 60s;
	// ctx's deadline also applies).
	MaxAttempts int
	Timeout     time.Duration
	// Backoff between runs: from InitialBackoff (default 50ms), doubling up
	// to MaxBackoff (default 2s), with jitter.
	InitialBackoff, MaxBackoff time.Duration
}

// RunInTransaction runs fn in an interactive transaction and commits it,
// re-running the whole of fn in a fresh transaction when the transaction
// was aborted — as Spanner's client libraries do. It re-runs when an error
// (returned by Begin, by fn — wrapped or not — or by Commit) is:
//   - ABORTED, any reason: a deadlock (MySQL 1213) or lock wait timeout
//     (1205), the transaction lost its connection (TRANSACTION_LOST,
//     REPLAY_MISMATCH), it idled (TRANSACTION_IDLE_TIMEOUT), ... — txgate
//     rolled the whole transaction back;
//   - UNAVAILABLE with txgate's ErrorInfo (nothing applied: e.g.
//     SERVER_SHUTTING_DOWN, DATABASE_UNAVAILABLE), or any UNAVAILABLE before
//     the commit was sent (a transaction whose stream ends without a commit
//     is rolled back).
//
// Anything else is returned at once: fn's own errors, an unmet expectation
// (FAILED_PRECONDITION), and a commit whose outcome is unknown (UNKNOWN, or
// a transport UNAVAILABLE after the commit was sent: the *Error carries
// the commit's idempotency key; re-running could apply it twice). fn must
// therefore be safe to run more than once: no effects outside the
// transaction, or only idempotent ones. It returns how many times fn ran
// and the last error; when the bound is reached, the last error.
func (c *Client) RunInTransaction(ctx context.Context, opts RetryOptions, fn func(*Tx) error) (int, error) {
	return RerunAborted(ctx, opts, func(ctx context.Context) (bool, error) {
		return c.runOnce(ctx, opts.TxOptions, fn)
	})
}

// RerunAborted is RunInTransaction's loop, for transactions of another API
// (package txgatesql's RunInTx uses it for database/sql): it calls run —
// one whole transaction, begun, run and committed, in ctx bounded by
// opts.Timeout — until it succeeds, returns an error Rerunnable rejects, or
// opts' bounds are reached, with exponential backoff and jitter between
// runs (opts.TxOptions is not used). run reports whether it sent the
// commit. It returns the number of runs and the last error.
func RerunAborted(ctx context.Context, opts RetryOptions, run func(ctx context.Context) (commitSent bool, err error)) (int, error) {
	maxAttempts := opts.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 10
	}
	backoff := orDefault(opts.InitialBackoff, 50*time.Millisecond)
	maxBackoff := orDefault(opts.MaxBackoff, 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, orDefault(opts.Timeout, 60*time.Second))
	defer cancel()
	for attempt := 1; ; attempt++ {
		commitSent, err := run(ctx)
		if err == nil || attempt >= maxAttempts || ctx.Err() != nil || !Rerunnable(err, commitSent) {
			return attempt, err
		}
		pause := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return attempt, err
		case <-time.After(pause):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// runOnce runs fn in one transaction; commitSent reports whether the
// commit was sent.
func (c *Client) runOnce(ctx context.Context, opts TxOptions, fn func(*Tx) error) (commitSent bool, err error) {
	tx, err := c.Begin(ctx, opts)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	fnErr := fn(tx)
	if err := Decide(tx.Failure(), fnErr); err != nil {
		return false, err
	}
	_, err = tx.Commit()
	return true, err
}

// Decide is the error RunInTransaction (and txgatesql.RunInTx) judges a run
// by, given the transaction's own failure (Tx.Failure; nil if it has none)
// and what fn returned: the failure when it is Rerunnable — also when fn
// swallowed it and returned nil or an error of its own, since the
// transaction was rolled back whatever fn made of it, as in Spanner's
// clients — else fn's error, else the failure (fn returned nil on a failed
// transaction: nothing was committed).
func Decide(failure, fnErr error) error {
	if failure != nil && Rerunnable(failure, false) {
		return failure
	}
	if fnErr != nil {
		return fnErr
	}
	return failure
}

// Rerunnable reports whether a transaction that failed with err may be run
// again whole (RunInTransaction's rule): err wraps an *Error that is
// ABORTED, or UNAVAILABLE with txgate's ErrorInfo, or UNAVAILABLE before the
// commit was sent (commitSent false).
func Rerunnable(err error, commitSent bool) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case codes.Aborted:
		return true
	case codes.Unavailable:
		return e.Domain == ErrorDomain || !commitSent
	}
	return false
}

// State is "open", "committed", "rolled back" or "failed".
func (t *Tx) State() string { return t.state }

// Failure is the error that ended the transaction (State "failed"), nil
// while it has none. Once a statement (or the commit) failed, txgate has
// rolled the transaction back, and every later statement and Commit return
// this same error — an *Error with the original code, reason, MySQL errno and
// message (or, for a statement abandoned by its context, the error wrapping
// ctx.Err()) — so code that swallowed it cannot go on as if the statements
// before it still counted.
func (t *Tx) Failure() error { return t.failure }

// fail ends the transaction as failed by err, unless it already failed,
// and returns its first failure.
func (t *Tx) fail(err error) error {
	t.end("failed")
	if t.failure == nil {
		t.failure = err
	}
	return t.failure
}

// exchange sends one request and reads its one response.
func (t *Tx) exchange(req *txgatev1.TransactionRequest) (*txgatev1.TransactionResponse, error) {
	if t.state == "failed" && t.failure != nil {
		return nil, t.failure // what ended it, e.g. an ABORTED that RunInTransaction re-runs
	}
	if t.state != "beginning" && t.state != "open" {
		return nil, &Error{Code: codes.FailedPrecondition, Message: "the transaction is " + t.state,
			status: status.New(codes.FailedPrecondition, "the transaction is "+t.state)}
	}
	err := t.stream.Send(req)
	var resp *txgatev1.TransactionResponse
	if err == nil {
		resp, err = t.stream.Recv()
	} else if errors.Is(err, io.EOF) { // the stream ended: its status comes from Recv
		_, err = t.stream.Recv()
	}
	if errors.Is(err, io.EOF) {
		err = status.Error(codes.Internal, "the Transaction stream ended early")
	}
	if err != nil {
		return nil, t.fail(FromError(err))
	}
	if !matches(req, resp) {
		msg := fmt.Sprintf("unexpected response %T to %T", resp.GetOutcome(), req.GetAction())
		return nil, t.fail(FromError(status.Error(codes.Internal, msg)))
	}
	return resp, nil
}

func matches(req *txgatev1.TransactionRequest, resp *txgatev1.TransactionResponse) bool {
	switch req.GetAction().(type) {
	case *txgatev1.TransactionRequest_Begin:
		return resp.GetBegun() != nil
	case *txgatev1.TransactionRequest_Statement:
		return resp.GetResult() != nil
	case *txgatev1.TransactionRequest_Commit:
		return resp.GetCommitted() != nil
	case *txgatev1.TransactionRequest_Rollback:
		return resp.GetRolledBack() != nil
	}
	return false
}

func (t *Tx) end(state string) {
	t.state = state
	t.cancel()
}

// finish half-closes the stream and reads its final status.
func (t *Tx) finish(state string) error {
	t.state = state
	_ = t.stream.CloseSend()
	_, err := t.stream.Recv()
	t.cancel()
	if err != nil && !errors.Is(err, io.EOF) {
		return FromError(err)
	}
	return nil
}

// Execute runs one statement inside the transaction.
func (t *Tx) Execute(sql string, params ...any) (*Result, error) {
	return t.RunContext(context.Background(), Stmt(sql, params...))
}

// ExecuteContext is Execute bounded by ctx as well as by Begin's context.
func (t *Tx) ExecuteContext(ctx context.Context, sql string, params ...any) (*Result, error) {
	return t.RunContext(ctx, Stmt(sql, params...))
}

// Run runs one Statement inside the transaction; unlike Execute it can
// carry an expectation. An unmet one ends the transaction, rolled back
// (State "failed"), with an *Error whose ExpectationFailed() is true.
func (t *Tx) Run(s Statement) (*Result, error) { return t.RunContext(context.Background(), s) }

// RunContext is Run bounded by ctx as well as by Begin's context. The
// stream is the transaction, so a statement cannot be abandoned alone:
// when ctx is done before the answer arrives, the stream is cancelled —
// txgate kills the statement and rolls the whole transaction back — and the
// error (State "failed") wraps ctx.Err() (errors.Is(err,
// context.DeadlineExceeded) holds).
func (t *Tx) RunContext(ctx context.Context, s Statement) (*Result, error) {
	st, err := s.proto()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nothing sent: the transaction goes on
	}
	failedBefore := t.failure != nil
	stop := context.AfterFunc(ctx, t.cancel)
	resp, err := t.exchange(&txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Statement{
		Statement: st}})
	if !stop() && ctx.Err() != nil {
		if !failedBefore { // the cancelled stream's own error (CANCELLED) is not the cause
			t.failure = nil
		}
		return nil, t.fail(fmt.Errorf("txgate: statement abandoned, transaction rolled back: %w", ctx.Err()))
	}
	if err != nil {
		return nil, err
	}
	return ResultOf(resp.GetResult()), nil
}

// Commit commits with a fresh idempotency key (none for a read-only
// transaction), which lets txgate resolve a commit whose outcome was lost.
// It returns the key.
func (t *Tx) Commit() (string, error) {
	key := ""
	if !t.readOnly {
		key = NewIdempotencyKey()
	}
	return key, t.CommitWithKey(key)
}

// CommitWithKey commits with the given idempotency key ("" for none).
func (t *Tx) CommitWithKey(key string) error {
	if t.state == "failed" && t.failure != nil {
		return t.failure // nothing sent: the transaction's first error, unchanged
	}
	resp, err := t.exchange(&txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Commit{
		Commit: &txgatev1.Commit{IdempotencyKey: key}}})
	if err != nil {
		return withKey(err, key)
	}
	t.token = resp.GetCommitted().GetCausalityToken()
	t.tokens.Observe(t.token)
	return t.finish("committed")
}

// CausalityToken is the commit's causality token ("" before the commit,
// and for a transaction that wrote nothing); the Client keeps it too.
func (t *Tx) CausalityToken() string { return t.token }

// Rollback rolls back; a no-op once the transaction has ended, so it can be
// deferred right after Begin.
func (t *Tx) Rollback() error {
	if t.state != "open" {
		t.cancel()
		return nil
	}
	if _, err := t.exchange(&txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Rollback{
		Rollback: &txgatev1.Rollback{}}}); err != nil {
		return err
	}
	return t.finish("rolled back")
}
