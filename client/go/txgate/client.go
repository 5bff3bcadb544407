// Package txgate is a thin client for txgate (txgate.v1.DatabaseService):
// typed values, errors with their MySQL detail, exactly-once RunTransaction
// retries, streamed queries and interactive transactions. The generated
// stubs are in package txgatev1 (client/generate.sh).
//
//	c, err := txgate.NewClient("127.0.0.1:50051",
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//	res, err := c.Execute(ctx, "SELECT ?", 1)
package txgate

import (
	"context"
	cryptorand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// DialOptions returns the dial options every txgate channel needs: the
// service config of proto/txgate/v1/service_config.json (it retries
// UNAVAILABLE; see client/README.md).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultServiceConfig(txgatev1.ServiceConfig)}
}

// Client calls txgate. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	stub txgatev1.DatabaseServiceClient
}

// NewClient opens a channel to target with DialOptions() plus opts (which
// must include transport credentials).
func NewClient(target string, opts ...grpc.DialOption) (*Client, error) {
	conn, err := grpc.NewClient(target, append(DialOptions(), opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, stub: txgatev1.NewDatabaseServiceClient(conn)}, nil
}

// NewFromStub returns a Client over an existing stub (its channel should have
// been dialed with DialOptions()).
func NewFromStub(stub txgatev1.DatabaseServiceClient) *Client { return &Client{stub: stub} }

// Stub returns the generated stub.
func (c *Client) Stub() txgatev1.DatabaseServiceClient { return c.stub }

// Close closes the channel NewClient opened.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Result is the result of one statement, with values converted by FromValue.
type Result struct {
	Columns      []*txgatev1.Column
	Rows         [][]any
	AffectedRows uint64
	LastInsertID uint64
	WarningCount uint32
}

// ColumnNames returns the columns' names.
func (r *Result) ColumnNames() []string {
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.GetName()
	}
	return names
}

// ResultOf converts a txgate.v1.ResultSet.
func ResultOf(rs *txgatev1.ResultSet) *Result {
	r := &Result{Columns: rs.GetColumns(), Rows: make([][]any, len(rs.GetRows())),
		AffectedRows: rs.GetAffectedRows(), LastInsertID: rs.GetLastInsertId(), WarningCount: rs.GetWarningCount()}
	for i, row := range rs.GetRows() {
		r.Rows[i] = RowValues(row)
	}
	return r
}

// Execute runs one statement in autocommit mode. The channel retries
// UNAVAILABLE; nothing else is retried. A write answered UNKNOWN
// (OutcomeUnknown) may or may not have applied: for writes that must apply
// exactly once, use RunTransaction.
func (c *Client) Execute(ctx context.Context, sql string, params ...any) (*Result, error) {
	vals, err := Values(params)
	if err != nil {
		return nil, err
	}
	resp, err := c.stub.Execute(ctx, &txgatev1.ExecuteRequest{Sql: sql, Params: vals})
	if err != nil {
		return nil, FromError(err)
	}
	return ResultOf(resp.GetResult()), nil
}

// Statement is one statement of a RunTransaction (or, with Tx.Run, of an
// interactive transaction).
type Statement struct {
	SQL    string
	Params []any
	// An optional condition on the statement's result (nil: none). When the
	// result misses it, the whole transaction is rolled back and the call
	// fails with an *Error whose ExpectationFailed() is true. Build it with
	// the Expect* methods below, or set it directly.
	Expect *txgatev1.Expectation
}

// Stmt returns a Statement.
func Stmt(sql string, params ...any) Statement { return Statement{SQL: sql, Params: params} }

func (s Statement) expect(set func(e *txgatev1.Expectation)) Statement {
	e := &txgatev1.Expectation{}
	if s.Expect != nil {
		e = proto.Clone(s.Expect).(*txgatev1.Expectation)
	}
	set(e)
	s.Expect = e
	return s
}

// ExpectAffectedRows returns s expecting exactly n affected rows. txgate
// counts the rows an UPDATE matched (CLIENT_FOUND_ROWS), changed or not.
func (s Statement) ExpectAffectedRows(n uint64) Statement {
	return s.expect(func(e *txgatev1.Expectation) { e.AffectedRows = &n })
}

// ExpectMinAffectedRows returns s expecting at least n affected rows, e.g.
// 1 for a guarded debit `... WHERE id = ? AND balance >= ?`.
func (s Statement) ExpectMinAffectedRows(n uint64) Statement {
	return s.expect(func(e *txgatev1.Expectation) { e.MinAffectedRows = &n })
}

// ExpectMaxAffectedRows returns s expecting at most n affected rows.
func (s Statement) ExpectMaxAffectedRows(n uint64) Statement {
	return s.expect(func(e *txgatev1.Expectation) { e.MaxAffectedRows = &n })
}

// ExpectRows returns s expecting exactly n rows returned (0: none).
func (s Statement) ExpectRows(n uint64) Statement {
	return s.expect(func(e *txgatev1.Expectation) { e.Rows = &n })
}

// ExpectMinRows returns s expecting at least n rows returned; 1 means
// "returns a row", e.g. a `SELECT ... FOR UPDATE` guard.
func (s Statement) ExpectMinRows(n uint64) Statement {
	return s.expect(func(e *txgatev1.Expectation) { e.MinRows = &n })
}

// ExpectMaxRows returns s expecting at most n rows returned.
func (s Statement) ExpectMaxRows(n uint64) Statement {
	return s.expect(func(e *txgatev1.Expectation) { e.MaxRows = &n })
}

func (s Statement) proto() (*txgatev1.Statement, error) {
	vals, err := Values(s.Params)
	if err != nil {
		return nil, err
	}
	return &txgatev1.Statement{Sql: s.SQL, Params: vals, Expect: s.Expect}, nil
}

// TxOptions are a transaction's isolation level and access mode.
type TxOptions struct {
	Isolation txgatev1.IsolationLevel
	ReadOnly  bool
}

func (o TxOptions) proto() *txgatev1.TransactionOptions {
	return &txgatev1.TransactionOptions{IsolationLevel: o.Isolation, ReadOnly: o.ReadOnly}
}

// RunOptions configure RunTransaction; the zero value is fine.
type RunOptions struct {
	TxOptions
	// The key naming this logical transaction; a fresh UUIDv4 when empty
	// (none for read-only transactions, which are safe to re-run).
	IdempotencyKey string
	// Bound of all attempts together (default 30s; ctx's deadline also applies).
	Timeout time.Duration
	// Backoff between attempts: from InitialBackoff (default 50ms), doubling
	// up to MaxBackoff (default 2s), with jitter.
	InitialBackoff, MaxBackoff time.Duration
}

// TransactionResult holds a RunTransaction's results, one per statement.
type TransactionResult struct {
	Results        []*Result
	Attempts       uint32 // times the server started the transaction (last call)
	Calls          int    // RunTransaction calls this client made
	IdempotencyKey string // the key every call carried
}

// RunTransaction runs the statements as one transaction, all or nothing,
// exactly once: every call carries the same idempotency key, so it retries
// UNAVAILABLE and UNKNOWN (outcome unknown) safely, a transaction that did
// commit answering its stored response. Retries back off with jitter within
// opts.Timeout. A returned *Error carries the key, to retry with later.
func (c *Client) RunTransaction(ctx context.Context, stmts []Statement, opts RunOptions) (*TransactionResult, error) {
	key := opts.IdempotencyKey
	if key == "" && !opts.ReadOnly {
		key = NewIdempotencyKey()
	}
	req := &txgatev1.RunTransactionRequest{Options: opts.TxOptions.proto(), IdempotencyKey: key}
	for i, s := range stmts {
		st, err := s.proto()
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		req.Statements = append(req.Statements, st)
	}
	timeout := orDefault(opts.Timeout, 30*time.Second)
	backoff := orDefault(opts.InitialBackoff, 50*time.Millisecond)
	maxBackoff := orDefault(opts.MaxBackoff, 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	for calls := 1; ; calls++ {
		resp, err := c.stub.RunTransaction(ctx, req)
		if err == nil {
			out := &TransactionResult{Attempts: resp.GetAttempts(), Calls: calls, IdempotencyKey: key}
			for _, rs := range resp.GetResults() {
				out.Results = append(out.Results, ResultOf(rs))
			}
			return out, nil
		}
		e := withKey(err, key)
		// UNAVAILABLE: nothing was applied. UNKNOWN is retried only for a
		// commit whose outcome was lost (reason COMMIT_OUTCOME_UNKNOWN), which
		// the key makes safe; anything else is final.
		retryable := e.Code == codes.Unavailable ||
			(e.Code == codes.Unknown && e.Reason == ReasonCommitOutcomeUnknown && (key != "" || opts.ReadOnly))
		if !retryable {
			return nil, e
		}
		pause := backoff/2 + rand.N(backoff/2+1)
		if time.Until(deadline) <= pause {
			return nil, e
		}
		select {
		case <-ctx.Done():
			return nil, e
		case <-time.After(pause):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// NewIdempotencyKey returns a random UUIDv4.
func NewIdempotencyKey() string {
	var b [16]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
