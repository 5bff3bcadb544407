package txgate

import (
	"context"
	"errors"
	"fmt"
	"io"

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
// A Tx is not safe for concurrent use.
type Tx struct {
	stream   txgatev1.DatabaseService_TransactionClient
	cancel   context.CancelFunc
	readOnly bool
	state    string
}

// Begin opens an interactive transaction; ctx bounds its whole life.
func (c *Client) Begin(ctx context.Context, opts TxOptions) (*Tx, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.stub.Transaction(ctx)
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	tx := &Tx{stream: stream, cancel: cancel, readOnly: opts.ReadOnly, state: "beginning"}
	begin := &txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Begin{
		Begin: &txgatev1.Begin{Options: opts.proto()}}}
	if _, err := tx.exchange(begin); err != nil {
		return nil, err
	}
	tx.state = "open"
	return tx, nil
}

// InTransaction runs fn in an interactive transaction, committing if fn
// returns nil and rolling back otherwise.
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

// State is "open", "committed", "rolled back" or "failed".
func (t *Tx) State() string { return t.state }

// exchange sends one request and reads its one response.
func (t *Tx) exchange(req *txgatev1.TransactionRequest) (*txgatev1.TransactionResponse, error) {
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
		t.end("failed")
		return nil, FromError(err)
	}
	if !matches(req, resp) {
		t.end("failed")
		msg := fmt.Sprintf("unexpected response %T to %T", resp.GetOutcome(), req.GetAction())
		return nil, FromError(status.Error(codes.Internal, msg))
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
	stop := context.AfterFunc(ctx, t.cancel)
	resp, err := t.exchange(&txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Statement{
		Statement: st}})
	if !stop() && ctx.Err() != nil {
		t.end("failed")
		return nil, fmt.Errorf("txgate: statement abandoned, transaction rolled back: %w", ctx.Err())
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
	_, err := t.exchange(&txgatev1.TransactionRequest{Action: &txgatev1.TransactionRequest_Commit{
		Commit: &txgatev1.Commit{IdempotencyKey: key}}})
	if err != nil {
		return withKey(err, key)
	}
	return t.finish("committed")
}

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
