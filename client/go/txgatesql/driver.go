// Package txgatesql is a database/sql driver for txgate, registered as
// "txgate":
//
//	import _ "github.com/txgate/txgate/client/go/txgatesql"
//
//	db, err := sql.Open("txgate", "txgate://127.0.0.1:50051?tls=false")
//	var n int64
//	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE id > ?", 10).Scan(&n)
//
// The DSN is described at Config. It is built on the helper package txgate
// (github.com/txgate/txgate/client/go/txgate):
//
//   - Exec outside a transaction is txgate's Execute, exactly once: a fresh
//     idempotency key per call, re-sent with the same key when its answer was
//     lost (txgate.Retryable; client/README.md, "Retries: who retries what").
//   - Query outside a transaction is StreamQuery: rows arrive in chunks as
//     they are read (no size limit, bounded memory on both sides); it is not
//     re-sent (it may run a write and carries no key). Read the rows without
//     long pauses: txgate ends a stream its client stops reading for
//     --stream_write_timeout (30 s by default). StreamQuery streams one
//     result set; for a CALL answering several, pass the argument Unary:
//     the query then runs as Execute (exactly once, answered whole) and
//     rows.NextResultSet moves through the result sets.
//   - BeginTx opens a Transaction stream (the stream is the transaction), with
//     the isolation level and read-only mode of sql.TxOptions; Exec and Query
//     inside it are statements on that stream (a Query's result comes whole,
//     bounded by txgate's --max_result_rows/--max_result_bytes). Commit sends
//     a fresh idempotency key (none when read-only), so txgate resolves a
//     commit whose outcome was lost. A statement that fails ends the
//     transaction (txgate rolls it back): every later Exec, Query and
//     Commit on it return that same *txgate.Error (code, reason, MySQL
//     errno, message), so work never goes on, nor commits, past an error
//     the code swallowed. A transaction cannot be re-run by the driver; use
//     RunInTx (or txgate.RunInTransaction) for that.
//   - Prepare is client-side: a Stmt holds the SQL, and each execution sends
//     it with its parameters (txgate prepares and caches it server-side).
//   - Parameters are positional (?); named parameters are refused.
//
// Values bound (CheckNamedValue): nil and nil pointers as NULL, bool, every
// signed and unsigned integer type (uint64 beyond int64 too), float32/64,
// string, []byte, time.Time (its instant, in UTC: txgate's sessions run in
// UTC), txgate.Decimal (exact), time.Duration (TIME), txgate.Date,
// txgate.JSON, txgate.Bit, *txgatev1.Value, types with a basic underlying
// kind (type Cents int64), and driver.Valuer results of those.
//
// Values returned (Rows.Next; ColumnTypeScanType says which per column):
//
//	NULL                                    nil
//	TINYINT .. BIGINT, YEAR                 int64
//	... UNSIGNED                            uint64 (scans into int64 when it fits)
//	FLOAT, DOUBLE                           float64
//	DECIMAL                                 string (exact; scan into txgate.Decimal,
//	                                        string, or float64 if rounding is fine)
//	CHAR, VARCHAR, TEXT, ENUM, SET          string
//	BINARY, VARBINARY, BLOB, GEOMETRY       []byte
//	JSON                                    string
//	BIT                                     uint64
//	DATE                                    time.Time, midnight UTC
//	DATETIME, TIMESTAMP                     time.Time in UTC (microseconds)
//	TIME                                    string "[-]HHH:MM:SS[.ffffff]"
//	zero dates (0000-00-00 ...)             string, as MariaDB writes them
//
// Connection health: a driver.Conn holds no network connection of its own
// (every Conn of a Connector shares one gRPC channel, which reconnects by
// itself), so the driver returns driver.ErrBadConn only where provably
// nothing was sent: from Connect, Prepare, BeginTx, Exec, Query, Ping and
// ResetSession when the Conn or its Connector (the sql.DB) was closed,
// before anything is sent; IsValid (driver.Validator) is false then. A
// failure after a call was sent is returned as the *txgate.Error it is,
// never as ErrBadConn, since database/sql would run the statement again on
// another connection; what is safe to re-send is re-sent inside the driver
// (Exec's rule above).
package txgatesql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

// DriverName is the name the driver is registered under.
const DriverName = "txgate"

func init() { sql.Register(DriverName, Driver{}) }

// Driver is the "txgate" database/sql driver.
type Driver struct{}

// Open opens a Connector for dsn and one connection of it; database/sql
// uses OpenConnector instead (one gRPC channel per sql.DB).
func (Driver) Open(dsn string) (driver.Conn, error) {
	c, err := Driver{}.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := c.Connect(context.Background())
	if err != nil {
		return nil, err
	}
	conn.(*Conn).ownsConnector = true
	return conn, nil
}

// OpenConnector parses dsn (see Config) and opens its gRPC channel.
func (Driver) OpenConnector(dsn string) (driver.Connector, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.DialOptions()
	if err != nil {
		return nil, err
	}
	c, err := NewConnector(cfg.Target, opts...)
	if err != nil {
		return nil, err
	}
	c.client = c.client.WithRouting(cfg.Routing)
	return c, nil
}

// Connector makes Conns that share one txgate.Client (one gRPC channel,
// and one session for read-your-writes: the causality token of the latest
// write any of its Conns made goes with every later read of all of them).
// sql.OpenDB(connector) uses it; sql.DB.Close closes it.
type Connector struct {
	client *txgate.Client
	closed atomic.Bool
}

// NewConnector opens a gRPC channel to target with txgate.DialOptions()
// (the service config: round_robin over every address target resolves to,
// Health's retry policy) plus opts, which must include transport
// credentials:
//
//	c, err := txgatesql.NewConnector("dns:///txgate.prod:50051",
//		grpc.WithTransportCredentials(credentials.NewTLS(nil)))
//	db := sql.OpenDB(c)
func NewConnector(target string, opts ...grpc.DialOption) (*Connector, error) {
	client, err := txgate.NewClient(target, opts...)
	if err != nil {
		return nil, err
	}
	return &Connector{client: client}, nil
}

// Client returns the helper client the Connector's connections use.
func (c *Connector) Client() *txgate.Client { return c.client }

// Connect returns a Conn; it sends nothing (the channel connects lazily).
func (c *Connector) Connect(context.Context) (driver.Conn, error) {
	if c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	return &Conn{connector: c}, nil
}

// Driver returns Driver{}.
func (c *Connector) Driver() driver.Driver { return Driver{} }

// Close closes the gRPC channel (sql.DB.Close calls it).
func (c *Connector) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.client.Close()
}

// Conn is one database/sql connection: a view of the Connector's channel,
// plus the transaction open on it, if any. Like every driver.Conn it is used
// by one goroutine at a time.
type Conn struct {
	connector     *Connector
	ownsConnector bool // opened by Driver.Open: Close closes the channel
	tx            *Tx
	closed        bool
	// The Expectation argument of the statement about to run (set by
	// CheckNamedValue, taken by ExecContext/QueryContext).
	expect *txgatev1.Expectation
	unary  bool // the QueryMode argument of the statement about to run
}

// statement returns the statement to run in a transaction, with the
// pending Expectation; an error when one is pending outside a transaction.
func (c *Conn) statement(query string, args []driver.NamedValue) (txgate.Statement, error) {
	e := c.expect
	c.expect, c.unary = nil, false
	if e != nil && c.tx == nil {
		return txgate.Statement{}, errors.New("txgate: an Expectation applies only to a statement of a " +
			"transaction (Execute and StreamQuery take none)")
	}
	return txgate.Statement{SQL: query, Params: values(args), Expect: e}, nil
}

var (
	_ driver.Conn               = (*Conn)(nil)
	_ driver.ConnBeginTx        = (*Conn)(nil)
	_ driver.ConnPrepareContext = (*Conn)(nil)
	_ driver.ExecerContext      = (*Conn)(nil)
	_ driver.QueryerContext     = (*Conn)(nil)
	_ driver.NamedValueChecker  = (*Conn)(nil)
	_ driver.Pinger             = (*Conn)(nil)
	_ driver.SessionResetter    = (*Conn)(nil)
	_ driver.Validator          = (*Conn)(nil)
)

// usable returns driver.ErrBadConn when nothing can be sent: the Conn or
// its Connector was closed.
func (c *Conn) usable() error {
	if c.closed || c.connector.closed.Load() {
		return driver.ErrBadConn
	}
	return nil
}

// Prepare returns a client-side prepared statement (see Stmt).
func (c *Conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext returns a client-side prepared statement; it sends nothing.
func (c *Conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	return &Stmt{conn: c, query: query, numInput: countPlaceholders(query)}, nil
}

// Close ends the Conn; an open transaction is rolled back.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	if c.tx != nil {
		err = c.tx.Rollback()
	}
	if c.ownsConnector {
		if cerr := c.connector.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Begin is BeginTx with the default options.
func (c *Conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx opens a Transaction stream; ctx bounds the whole transaction (as
// database/sql requires: when it is done, the transaction rolls back).
// Isolation levels: default (the server's, REPEATABLE READ unless
// configured), READ UNCOMMITTED, READ COMMITTED, REPEATABLE READ,
// SERIALIZABLE; the others of database/sql (WriteCommitted, Snapshot,
// Linearizable) are refused before anything is sent.
func (c *Conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if c.tx != nil {
		return nil, errors.New("txgate: a transaction is already open on this connection")
	}
	level, err := isolation(sql.IsolationLevel(opts.Isolation))
	if err != nil {
		return nil, err
	}
	t, err := c.connector.client.Begin(ctx, txgate.TxOptions{Isolation: level, ReadOnly: opts.ReadOnly})
	if err != nil {
		return nil, err
	}
	c.tx = &Tx{conn: c, tx: t}
	if began, ok := ctx.Value(begunTxKey{}).(*begunTx); ok {
		began.tx = c.tx
	}
	return c.tx, nil
}

// ExecContext runs one statement: in the open transaction, or exactly once
// in autocommit mode (see the package comment).
func (c *Conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	st, err := c.statement(query, args)
	if err != nil {
		return nil, err
	}
	var res *txgate.Result
	if c.tx != nil {
		res, err = c.tx.tx.RunContext(ctx, st)
	} else {
		res, err = c.connector.client.Execute(ctx, query, st.Params...)
	}
	if err != nil {
		return nil, err
	}
	return result{affected: res.AffectedRows, lastID: res.LastInsertID}, nil
}

// QueryContext runs one query: as a statement of the open transaction, or
// as a StreamQuery (see the package comment). A StreamQuery's first chunk
// is awaited here, so an error of the statement is returned by Query
// itself, not by the first Next.
func (c *Conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	unary := c.unary
	st, err := c.statement(query, args)
	if err != nil {
		return nil, err
	}
	if c.tx != nil || unary {
		var res *txgate.Result
		if c.tx != nil {
			res, err = c.tx.tx.RunContext(ctx, st)
		} else {
			res, err = c.connector.client.Execute(ctx, query, st.Params...)
		}
		if err != nil {
			return nil, err
		}
		return &Rows{columns: res.Columns, buffered: res.Rows, more: res.MoreResults}, nil
	}
	stream, err := c.connector.client.StreamQuery(ctx, query, st.Params, 0)
	if err != nil {
		return nil, err
	}
	r := &Rows{stream: stream}
	r.peeked = stream.Next()
	if !r.peeked {
		if err := stream.Err(); err != nil {
			return nil, err
		}
	}
	r.columns = stream.Columns()
	return r, nil
}

// Ping runs `SELECT 1` through txgate (so it checks txgate, its pool and
// the database, and the token).
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	_, err := c.connector.client.ExecuteWith(ctx, txgate.ExecOptions{NoKey: true}, "SELECT 1")
	return err
}

// ResetSession is called before a Conn is reused; nothing to reset (txgate
// resets the MariaDB session of every call). ErrBadConn when the Conn can
// send nothing any more.
func (c *Conn) ResetSession(context.Context) error { return c.usable() }

// IsValid reports whether the Conn can be reused (driver.Validator).
func (c *Conn) IsValid() bool { return c.usable() == nil }

// CheckNamedValue accepts the parameter types the package comment lists
// (driver.NamedValueChecker), converting driver.Valuers and named basic
// types; named parameters are refused.
func (c *Conn) CheckNamedValue(nv *driver.NamedValue) error {
	if nv.Ordinal == 1 {
		c.expect, c.unary = nil, false // a new statement's arguments
	}
	if e, ok := nv.Value.(Expectation); ok {
		return c.takeExpectation(e)
	}
	if m, ok := nv.Value.(QueryMode); ok {
		c.unary = m == Unary
		return driver.ErrRemoveArgument
	}
	if nv.Name != "" {
		c.expect = nil // database/sql gives up on the statement
		return fmt.Errorf("txgate: named parameter %q: txgate takes positional ? parameters only", nv.Name)
	}
	v, err := param(nv.Value, 0)
	if err != nil {
		c.expect = nil
		return err
	}
	nv.Value = v
	return nil
}

func values(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

type result struct {
	affected, lastID uint64
}

// LastInsertId is the AUTO_INCREMENT value the statement itself generated
// (0 when none); an error when it exceeds int64.
func (r result) LastInsertId() (int64, error) {
	if r.lastID > 1<<63-1 {
		return 0, fmt.Errorf("txgate: last insert id %d does not fit int64", r.lastID)
	}
	return int64(r.lastID), nil
}

// RowsAffected counts rows inserted, deleted or matched by an UPDATE
// (txgate's sessions use CLIENT_FOUND_ROWS).
func (r result) RowsAffected() (int64, error) {
	if r.affected > 1<<63-1 {
		return 0, fmt.Errorf("txgate: affected rows %d does not fit int64", r.affected)
	}
	return int64(r.affected), nil
}

// Tx is a transaction (a Transaction stream).
type Tx struct {
	conn *Conn
	tx   *txgate.Tx
}

// Helper returns the helper's transaction, e.g. to Run a statement with an
// expectation (txgate.Stmt(...).ExpectMinAffectedRows(1)).
func (t *Tx) Helper() *txgate.Tx { return t.tx }

// Commit commits with a fresh idempotency key (none when read-only).
func (t *Tx) Commit() error {
	t.conn.tx = nil
	_, err := t.tx.Commit()
	return err
}

// Rollback rolls back; a no-op when the transaction has already ended.
func (t *Tx) Rollback() error {
	t.conn.tx = nil
	return t.tx.Rollback()
}

// Stmt is a client-side prepared statement: the SQL, sent with its
// parameters at each execution.
type Stmt struct {
	conn     *Conn
	query    string
	numInput int
}

var (
	_ driver.StmtExecContext   = (*Stmt)(nil)
	_ driver.StmtQueryContext  = (*Stmt)(nil)
	_ driver.NamedValueChecker = (*Stmt)(nil)
)

// NumInput is the number of ? placeholders outside string literals,
// quoted identifiers and comments, or -1 when the SQL holds a backslash in
// a string literal (whose meaning depends on sql_mode's
// NO_BACKSLASH_ESCAPES): then database/sql does not check the count, and
// txgate answers a wrong one with INVALID_ARGUMENT.
func (s *Stmt) NumInput() int { return s.numInput }

// Close does nothing (nothing is held server-side).
func (s *Stmt) Close() error { return nil }

// CheckNamedValue is the Conn's.
func (s *Stmt) CheckNamedValue(nv *driver.NamedValue) error { return s.conn.CheckNamedValue(nv) }

// Exec is ExecContext with positional arguments.
func (s *Stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

// Query is QueryContext with positional arguments.
func (s *Stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

// ExecContext is the Conn's ExecContext of the statement.
func (s *Stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.ExecContext(ctx, s.query, args)
}

// QueryContext is the Conn's QueryContext of the statement.
func (s *Stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.QueryContext(ctx, s.query, args)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

func isolation(l sql.IsolationLevel) (txgatev1.IsolationLevel, error) {
	switch l {
	case sql.LevelDefault:
		return txgatev1.IsolationLevel_ISOLATION_LEVEL_UNSPECIFIED, nil
	case sql.LevelReadUncommitted:
		return txgatev1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED, nil
	case sql.LevelReadCommitted:
		return txgatev1.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED, nil
	case sql.LevelRepeatableRead:
		return txgatev1.IsolationLevel_ISOLATION_LEVEL_REPEATABLE_READ, nil
	case sql.LevelSerializable:
		return txgatev1.IsolationLevel_ISOLATION_LEVEL_SERIALIZABLE, nil
	}
	return 0, fmt.Errorf("txgate: isolation level %s is not supported by MariaDB "+
		"(supported: Default, ReadUncommitted, ReadCommitted, RepeatableRead, Serializable)", l)
}
