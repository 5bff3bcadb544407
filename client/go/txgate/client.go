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
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// DialOptions returns the dial options every txgate channel needs: ONE
// default service config, proto/txgate/v1/service_config.json, which holds
// both round_robin load balancing (calls spread over every address the
// target resolves to) and the retry policy of grpc.health.v1.Health/Check.
// It retries no DatabaseService call (gRPC's retry policy cannot see
// whether a request carries an idempotency key); Execute and RunTransaction
// retry in code (Retryable; client/README.md, "Retries: who retries what").
//
// Do not add a grpc.WithDefaultServiceConfig of your own: grpc-go keeps only
// the last one, so it would replace this config whole (dropping the retry
// policy, or round_robin). Pass WithServiceConfig(json), which merges.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultServiceConfig(txgatev1.ServiceConfig)}
}

// ServiceConfig returns txgatev1.ServiceConfig merged with extra service
// configs (JSON, gRPC's service config format), in order: a top-level field
// of a later config replaces the earlier one's (loadBalancingConfig,
// retryThrottling, ...), except methodConfig, whose entries are added, an
// entry naming the same service and method as an earlier one replacing it.
// An error when a config is not a JSON object.
func ServiceConfig(extra ...string) (string, error) {
	merged := map[string]any{}
	if err := json.Unmarshal([]byte(txgatev1.ServiceConfig), &merged); err != nil {
		return "", fmt.Errorf("txgate: embedded service config: %w", err)
	}
	for i, e := range extra {
		var add map[string]any
		if err := json.Unmarshal([]byte(e), &add); err != nil {
			return "", fmt.Errorf("txgate: service config %d: %w", i+1, err)
		}
		for k, v := range add {
			if k != "methodConfig" {
				merged[k] = v
				continue
			}
			entries, ok := v.([]any)
			if !ok {
				return "", fmt.Errorf("txgate: service config %d: methodConfig is not a list", i+1)
			}
			for _, entry := range entries {
				merged[k] = addMethodConfig(merged[k], entry)
			}
		}
	}
	b, err := json.Marshal(merged)
	return string(b), err
}

// addMethodConfig appends entry to the methodConfig list, dropping earlier
// entries with the same name list.
func addMethodConfig(list, entry any) []any {
	name := func(e any) string {
		m, _ := e.(map[string]any)
		b, _ := json.Marshal(m["name"])
		return string(b)
	}
	old, _ := list.([]any)
	out := make([]any, 0, len(old)+1)
	for _, e := range old {
		if name(e) != name(entry) {
			out = append(out, e)
		}
	}
	return append(out, entry)
}

// WithServiceConfig is the dial option to pass to NewClient for a service
// config of one's own: the default config merged with extra
// (ServiceConfig), as one default service config that replaces
// DialOptions()'s. It panics when a config is not a JSON object (a
// programming error, like grpc.WithDefaultServiceConfig's bad JSON, which
// fails the dial).
func WithServiceConfig(extra ...string) grpc.DialOption {
	sc, err := ServiceConfig(extra...)
	if err != nil {
		panic(err)
	}
	return grpc.WithDefaultServiceConfig(sc)
}

// Client calls txgate. It is safe for concurrent use.
//
// A Client is one session for read-your-writes: it keeps the causality
// token of the latest write it saw (CausalityToken) and sends it, with its
// routing (WithRouting), on every read, stream and read-only transaction,
// so they see its writes also on a replica (README, "Reads on replicas").
// NewSession gives a session of its own over the same channel.
type Client struct {
	conn    *grpc.ClientConn
	stub    txgatev1.DatabaseServiceClient
	tokens  *Tokens
	routing txgatev1.ReadRouting
}

// NewClient opens a channel to target with DialOptions() plus opts (which
// must include transport credentials).
func NewClient(target string, opts ...grpc.DialOption) (*Client, error) {
	conn, err := grpc.NewClient(target, append(DialOptions(), opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, stub: txgatev1.NewDatabaseServiceClient(conn), tokens: &Tokens{}}, nil
}

// NewFromStub returns a Client over an existing stub (its channel should have
// been dialed with DialOptions()).
func NewFromStub(stub txgatev1.DatabaseServiceClient) *Client {
	return &Client{stub: stub, tokens: &Tokens{}}
}

// Conn returns the channel NewClient opened (nil for NewFromStub), e.g. for
// the grpc.health.v1 client.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

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
	// A CALL's further result sets, in order (ResultSet.more_results), and
	// its OUT/INOUT parameters as one row (nil when it has none).
	MoreResults   []*Result
	OutParameters *Result
}

// ColumnNames returns the columns' names.
func (r *Result) ColumnNames() []string {
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.GetName()
	}
	return names
}

// RowMap returns row i keyed by column name (positional access stays:
// r.Rows[i][j]). When several columns share a name (SELECT a.id, b.id), the
// first of them is kept: alias the others to see them by name.
func (r *Result) RowMap(i int) map[string]any { return rowMap(r.Columns, r.Rows[i]) }

// RowMaps returns every row keyed by column name (see RowMap).
func (r *Result) RowMaps() []map[string]any {
	out := make([]map[string]any, len(r.Rows))
	for i := range r.Rows {
		out[i] = r.RowMap(i)
	}
	return out
}

func rowMap(cols []*txgatev1.Column, row []any) map[string]any {
	m := make(map[string]any, len(cols))
	for j, c := range cols {
		if _, dup := m[c.GetName()]; !dup && j < len(row) {
			m[c.GetName()] = row[j]
		}
	}
	return m
}

// ResultOf converts a txgate.v1.ResultSet.
func ResultOf(rs *txgatev1.ResultSet) *Result {
	r := &Result{Columns: rs.GetColumns(), Rows: make([][]any, len(rs.GetRows())),
		AffectedRows: rs.GetAffectedRows(), LastInsertID: rs.GetLastInsertId(), WarningCount: rs.GetWarningCount()}
	for i, row := range rs.GetRows() {
		r.Rows[i] = RowValues(row)
	}
	for _, more := range rs.GetMoreResults() {
		r.MoreResults = append(r.MoreResults, ResultOf(more))
	}
	if out := rs.GetOutParameters(); out != nil {
		r.OutParameters = ResultOf(out)
	}
	return r
}

// ExecOptions configure Execute (ExecuteWith); the zero value is fine.
type ExecOptions struct {
	// The key naming this call; a fresh UUIDv4 when empty, unless NoKey.
	IdempotencyKey string
	// Send no key: then only txgate's own UNAVAILABLE (nothing applied) is
	// retried.
	NoKey bool
	// Bound of all attempts together (default 30s; ctx's deadline also applies).
	Timeout time.Duration
	// Backoff between attempts: from InitialBackoff (default 50ms), doubling
	// up to MaxBackoff (default 2s), with jitter.
	InitialBackoff, MaxBackoff time.Duration
	// Where the statement may run if it is a read (unspecified: the
	// client's routing).
	Routing txgatev1.ReadRouting
}

// ExecResult is Execute's result and how it was obtained.
type ExecResult struct {
	*Result
	Calls          int    // Execute calls this client made (1 without a retry)
	IdempotencyKey string // the key every call carried ("" with NoKey)
}

// Execute runs one statement in autocommit mode, exactly once, with the
// default ExecOptions (see ExecuteWith).
func (c *Client) Execute(ctx context.Context, sql string, params ...any) (*Result, error) {
	res, err := c.ExecuteWith(ctx, ExecOptions{}, sql, params...)
	if err != nil {
		return nil, err
	}
	return res.Result, nil
}

// ExecuteWith runs one statement in autocommit mode, exactly once: a fresh
// idempotency key (UUIDv4) names the call unless opts give one, and every
// attempt carries it, so a write whose answer was lost (UNAVAILABLE from a
// cut connection, UNKNOWN / COMMIT_OUTCOME_UNKNOWN) is re-sent safely:
// txgate answers a re-sent write that did apply with its stored answer
// (AffectedRows, LastInsertID, ...) instead of running it again. txgate
// ignores the key of a plain read. A returned *Error carries the key.
// The request carries the client's read options (routing, the latest
// write's causality token), which txgate follows for a read and ignores for
// a write, whose token the client keeps.
func (c *Client) ExecuteWith(ctx context.Context, opts ExecOptions, sql string, params ...any) (*ExecResult, error) {
	vals, err := Values(params)
	if err != nil {
		return nil, err
	}
	key := opts.IdempotencyKey
	if opts.NoKey {
		key = ""
	} else if key == "" {
		key = NewIdempotencyKey()
	}
	req := &txgatev1.ExecuteRequest{Sql: sql, Params: vals, IdempotencyKey: key,
		Read: c.readOptions(opts.Routing)}
	var resp *txgatev1.ExecuteResponse
	calls, err := withRetries(ctx, key, key != "", opts.Timeout, opts.InitialBackoff, opts.MaxBackoff,
		func(ctx context.Context) (err error) {
			resp, err = c.stub.Execute(ctx, req)
			return err
		})
	if err != nil {
		return nil, err
	}
	c.tokens.Observe(resp.GetCausalityToken())
	return &ExecResult{Result: ResultOf(resp.GetResult()), Calls: calls, IdempotencyKey: key}, nil
}

// Retryable reports whether a request that failed with e may be sent
// again. safe: the request is safe to repeat whatever happened to it (it
// carries an idempotency key, or it is a read-only transaction). txgate's
// own UNAVAILABLE (its ErrorInfo, domain txgate.dev) says nothing of the
// call was applied: any request may be re-sent. An UNAVAILABLE without it
// comes from the transport (a cut connection, a proxy): the request may
// have been applied with its answer lost, so only a safe one is re-sent;
// so is an UNKNOWN with reason COMMIT_OUTCOME_UNKNOWN (a lost commit, which
// the key resolves), and a CANCELLED without txgate's ErrorInfo that the
// caller did not cause: gRPC's server cancels a call it accepted as a drain
// starts, before txgate saw it (README, "Shutdown"). e must not come from
// a call whose context was done (Execute and RunTransaction never retry
// one); a CANCELLED of a closed ClientConn is not retried. Nothing else is.
func Retryable(e *Error, safe bool) bool {
	if e.Code == codes.Unavailable && e.Domain == ErrorDomain {
		return true
	}
	if !safe {
		return false
	}
	return e.Code == codes.Unavailable || (e.Code == codes.Unknown && e.Reason == ReasonCommitOutcomeUnknown) ||
		(e.Code == codes.Canceled && e.Domain != ErrorDomain && e.Message != connClosing)
}

// connClosing is the message of grpc-go's CANCELLED for a call on a
// ClientConn the application closed (grpc.ErrClientConnClosing, deprecated
// as a value to compare with; its text is what identifies it).
const connClosing = "grpc: the client connection is closing"

// withRetries runs call until it succeeds or Retryable says no, with
// exponential backoff and jitter, all within timeout (default 30s). It
// returns the number of calls and the last error as an *Error with key.
func withRetries(ctx context.Context, key string, safe bool, timeout, backoff, maxBackoff time.Duration,
	call func(ctx context.Context) error) (int, error) {
	timeout = orDefault(timeout, 30*time.Second)
	backoff = orDefault(backoff, 50*time.Millisecond)
	maxBackoff = orDefault(maxBackoff, 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	for calls := 1; ; calls++ {
		err := call(ctx)
		if err == nil {
			return calls, nil
		}
		e := withKey(err, key)
		// A call whose context is done (the caller's cancel or deadline, or
		// the overall timeout) is never re-sent: its CANCELLED is the
		// caller's own.
		if ctx.Err() != nil || !Retryable(e, safe) {
			return calls, e
		}
		pause := backoff/2 + rand.N(backoff/2+1)
		if time.Until(deadline) <= pause {
			return calls, e
		}
		select {
		case <-ctx.Done():
			return calls, e
		case <-time.After(pause):
		}
		backoff = min(2*backoff, maxBackoff)
	}
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

// TxOptions are a transaction's isolation level and access mode, and where
// a read-only one may run (Routing unspecified: the client's).
type TxOptions struct {
	Isolation txgatev1.IsolationLevel
	ReadOnly  bool
	Routing   txgatev1.ReadRouting
}

// proto: a read-only transaction carries c's read options.
func (o TxOptions) proto(c *Client) *txgatev1.TransactionOptions {
	p := &txgatev1.TransactionOptions{IsolationLevel: o.Isolation, ReadOnly: o.ReadOnly}
	if o.ReadOnly {
		p.Read = c.readOptions(o.Routing)
	}
	return p
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
// commit answering its stored response (Retryable). Retries back off with
// jitter within opts.Timeout. A returned *Error carries the key, to retry
// with later.
func (c *Client) RunTransaction(ctx context.Context, stmts []Statement, opts RunOptions) (*TransactionResult, error) {
	key := opts.IdempotencyKey
	if key == "" && !opts.ReadOnly {
		key = NewIdempotencyKey()
	}
	req := &txgatev1.RunTransactionRequest{Options: opts.TxOptions.proto(c), IdempotencyKey: key}
	for i, s := range stmts {
		st, err := s.proto()
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		req.Statements = append(req.Statements, st)
	}
	var resp *txgatev1.RunTransactionResponse
	calls, err := withRetries(ctx, key, key != "" || opts.ReadOnly, opts.Timeout, opts.InitialBackoff,
		opts.MaxBackoff, func(ctx context.Context) (err error) {
			resp, err = c.stub.RunTransaction(ctx, req)
			return err
		})
	if err != nil {
		return nil, err
	}
	c.tokens.Observe(resp.GetCausalityToken())
	out := &TransactionResult{Attempts: resp.GetAttempts(), Calls: calls, IdempotencyKey: key}
	for _, rs := range resp.GetResults() {
		out.Results = append(out.Results, ResultOf(rs))
	}
	return out, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// NewIdempotencyKey returns a random UUIDv4 (github.com/google/uuid).
func NewIdempotencyKey() string { return uuid.NewString() }
