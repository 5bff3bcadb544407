// Command gateway is the load benchmark's yardstick (tests/load/bench.sh):
// the plain gateway a team could write in an afternoon, serving the same
// txgate.v1.DatabaseService proto as txgate with grpc-go, database/sql and
// go-sql-driver/mysql. It is not a product: no retries, no limits, no
// metrics, coarse error mapping. Its figures say what txgate's extra
// machinery costs or saves next to the obvious alternative.
//
//	gateway --listen 127.0.0.1:PORT --mysql 127.0.0.1:3306 --user txgate \
//	        --database txgate --pool 32      # password in $TXGATE_MYSQL_PASSWORD
//
// What it does per RPC:
//   - Execute: one prepared statement per SQL text, cached for the process
//     (database/sql prepares it once per pooled connection); statements whose
//     SQL starts with SELECT, SHOW, WITH, VALUES, DESCRIBE, DESC or EXPLAIN
//     return rows, others return affected rows and the last insert id.
//   - RunTransaction: BEGIN (START TRANSACTION), the statements, COMMIT on one
//     connection: 2 + N round trips. With an idempotency key, the first
//     statement after BEGIN is INSERT INTO gateway_idempotency_keys (k) VALUES
//     (?) in the same transaction: a new key costs one round trip more (3 + N),
//     a duplicate key fails that INSERT (MySQL error 1062, after the first
//     holder of the key commits) and the call answers ALREADY_EXISTS without
//     running the statements. The original results are not replayed.
//   - StreamQuery: one prepared query; rows sent in chunks of
//     max_rows_per_chunk (default 100), columns in the first message, done on
//     the last.
//   - Transaction (bidi): Begin, statements and Commit/Rollback on one
//     database/sql Tx; a Commit's idempotency key is inserted as above just
//     before COMMIT. A stream that ends without Commit rolls back.
//   - grpc.health.v1.Health/Check: grpc-go's health server, always SERVING;
//     server reflection, as txgate has it.
//
// The pool holds at most --pool connections (open and idle alike), like
// txgate's --pool_max_size.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	pb "github.com/txgate/txgate/client/go/txgatev1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

const keyTable = "gateway_idempotency_keys"

type server struct {
	pb.UnimplementedDatabaseServiceServer
	db    *sql.DB
	stmts sync.Map // SQL text -> *sql.Stmt
	mu    sync.Mutex
}

// stmt returns the process-wide prepared statement of query, preparing it once.
func (s *server) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts.Store(query, st)
	return st, nil
}

func returnsRows(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	word := q
	if i := strings.IndexAny(q, " \t\r\n("); i >= 0 {
		word = q[:i]
	}
	switch strings.ToUpper(word) {
	case "SELECT", "SHOW", "WITH", "VALUES", "DESCRIBE", "DESC", "EXPLAIN":
		return true
	}
	return false
}

func params(vs []*pb.Value) ([]any, error) {
	out := make([]any, len(vs))
	for i, v := range vs {
		switch k := v.GetKind().(type) {
		case *pb.Value_NullValue:
			out[i] = nil
		case *pb.Value_Int64Value:
			out[i] = k.Int64Value
		case *pb.Value_Uint64Value:
			out[i] = k.Uint64Value
		case *pb.Value_DoubleValue:
			out[i] = k.DoubleValue
		case *pb.Value_StringValue:
			out[i] = k.StringValue
		case *pb.Value_BytesValue:
			out[i] = k.BytesValue
		case *pb.Value_BoolValue:
			out[i] = k.BoolValue
		case *pb.Value_DecimalValue:
			out[i] = k.DecimalValue
		case *pb.Value_JsonValue:
			out[i] = k.JsonValue
		case *pb.Value_BitValue:
			out[i] = k.BitValue
		case *pb.Value_DateValue:
			d := k.DateValue
			out[i] = fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
		case *pb.Value_DatetimeValue:
			d := k.DatetimeValue
			out[i] = fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", d.Year, d.Month, d.Day,
				d.Hour, d.Minute, d.Second, d.Microsecond)
		case *pb.Value_TimeValue:
			d := k.TimeValue
			sign := ""
			if d.Negative {
				sign = "-"
			}
			out[i] = fmt.Sprintf("%s%d:%02d:%02d.%06d", sign, d.Hours, d.Minutes, d.Seconds, d.Microseconds)
		default:
			return nil, status.Errorf(codes.InvalidArgument, "parameter %d has no value", i+1)
		}
	}
	return out, nil
}

func value(v any, dbType string) *pb.Value {
	switch x := v.(type) {
	case nil:
		return &pb.Value{Kind: &pb.Value_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
	case int64:
		return &pb.Value{Kind: &pb.Value_Int64Value{Int64Value: x}}
	case uint64:
		return &pb.Value{Kind: &pb.Value_Uint64Value{Uint64Value: x}}
	case float64:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: x}}
	case float32:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: float64(x)}}
	case time.Time:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: x.Format("2006-01-02 15:04:05.999999")}}
	case []byte:
		switch dbType {
		case "DECIMAL":
			return &pb.Value{Kind: &pb.Value_DecimalValue{DecimalValue: string(x)}}
		case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET",
			"DATE", "DATETIME", "TIMESTAMP", "TIME", "JSON":
			return &pb.Value{Kind: &pb.Value_StringValue{StringValue: string(x)}}
		}
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: append([]byte(nil), x...)}}
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: x}}
	}
	return &pb.Value{Kind: &pb.Value_StringValue{StringValue: fmt.Sprint(v)}}
}

func columns(rows *sql.Rows) ([]*pb.Column, []string, error) {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	cols := make([]*pb.Column, len(cts))
	types := make([]string, len(cts))
	for i, ct := range cts {
		nullable, _ := ct.Nullable()
		types[i] = ct.DatabaseTypeName()
		cols[i] = &pb.Column{Name: ct.Name(), Type: types[i], Nullable: nullable}
	}
	return cols, types, nil
}

// scanRow reads the current row into proto values.
func scanRow(rows *sql.Rows, types []string, dest []any, ptrs []any) (*pb.Row, error) {
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	row := &pb.Row{Values: make([]*pb.Value, len(dest))}
	for i := range dest {
		row.Values[i] = value(dest[i], types[i])
	}
	return row, nil
}

func scanTargets(n int) ([]any, []any) {
	dest := make([]any, n)
	ptrs := make([]any, n)
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	return dest, ptrs
}

// run executes one statement with st (already bound to a Tx where needed).
func run(ctx context.Context, st *sql.Stmt, query string, vs []*pb.Value) (*pb.ResultSet, error) {
	args, err := params(vs)
	if err != nil {
		return nil, err
	}
	if !returnsRows(query) {
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return nil, sqlError(err)
		}
		affected, _ := res.RowsAffected()
		last, _ := res.LastInsertId()
		return &pb.ResultSet{AffectedRows: uint64(affected), LastInsertId: uint64(last)}, nil
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, sqlError(err)
	}
	defer rows.Close()
	cols, types, err := columns(rows)
	if err != nil {
		return nil, sqlError(err)
	}
	rs := &pb.ResultSet{Columns: cols}
	dest, ptrs := scanTargets(len(cols))
	for rows.Next() {
		row, err := scanRow(rows, types, dest, ptrs)
		if err != nil {
			return nil, sqlError(err)
		}
		rs.Rows = append(rs.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, sqlError(err)
	}
	return rs, nil
}

func sqlError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205: // deadlock, lock wait timeout: no retries here
			return status.Error(codes.Aborted, me.Error())
		case 1062:
			return status.Error(codes.AlreadyExists, me.Error())
		}
		return status.Error(codes.InvalidArgument, me.Error())
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func (s *server) Execute(ctx context.Context, req *pb.ExecuteRequest) (*pb.ExecuteResponse, error) {
	if req.GetIdempotencyKey() != "" {
		rs, err := s.runTx(ctx, []*pb.Statement{{Sql: req.GetSql(), Params: req.GetParams()}}, nil, req.GetIdempotencyKey())
		if err != nil {
			return nil, err
		}
		return &pb.ExecuteResponse{Result: rs[0]}, nil
	}
	st, err := s.stmt(ctx, req.GetSql())
	if err != nil {
		return nil, sqlError(err)
	}
	rs, err := run(ctx, st, req.GetSql(), req.GetParams())
	if err != nil {
		return nil, err
	}
	return &pb.ExecuteResponse{Result: rs}, nil
}

func txOptions(o *pb.TransactionOptions) *sql.TxOptions {
	if o == nil {
		return nil
	}
	t := &sql.TxOptions{ReadOnly: o.GetReadOnly()}
	switch o.GetIsolationLevel() {
	case pb.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED:
		t.Isolation = sql.LevelReadUncommitted
	case pb.IsolationLevel_ISOLATION_LEVEL_READ_COMMITTED:
		t.Isolation = sql.LevelReadCommitted
	case pb.IsolationLevel_ISOLATION_LEVEL_REPEATABLE_READ:
		t.Isolation = sql.LevelRepeatableRead
	case pb.IsolationLevel_ISOLATION_LEVEL_SERIALIZABLE:
		t.Isolation = sql.LevelSerializable
	}
	return t
}

// inTx runs one statement inside tx with the cached statement of its SQL.
func (s *server) inTx(ctx context.Context, tx *sql.Tx, query string, vs []*pb.Value) (*pb.ResultSet, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, sqlError(err)
	}
	return run(ctx, tx.StmtContext(ctx, st), query, vs)
}

func (s *server) recordKey(ctx context.Context, tx *sql.Tx, key string) error {
	_, err := s.inTx(ctx, tx, "INSERT INTO "+keyTable+" (k) VALUES (?)",
		[]*pb.Value{{Kind: &pb.Value_StringValue{StringValue: key}}})
	if status.Code(err) == codes.AlreadyExists {
		return status.Errorf(codes.AlreadyExists, "idempotency key already committed")
	}
	return err
}

func (s *server) runTx(ctx context.Context, stmts []*pb.Statement, o *pb.TransactionOptions, key string) ([]*pb.ResultSet, error) {
	tx, err := s.db.BeginTx(ctx, txOptions(o))
	if err != nil {
		return nil, sqlError(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if key != "" {
		if err := s.recordKey(ctx, tx, key); err != nil {
			return nil, err
		}
	}
	results := make([]*pb.ResultSet, 0, len(stmts))
	for _, st := range stmts {
		rs, err := s.inTx(ctx, tx, st.GetSql(), st.GetParams())
		if err != nil {
			return nil, err
		}
		results = append(results, rs)
	}
	if err := tx.Commit(); err != nil {
		return nil, sqlError(err)
	}
	return results, nil
}

func (s *server) RunTransaction(ctx context.Context, req *pb.RunTransactionRequest) (*pb.RunTransactionResponse, error) {
	results, err := s.runTx(ctx, req.GetStatements(), req.GetOptions(), req.GetIdempotencyKey())
	if err != nil {
		return nil, err
	}
	return &pb.RunTransactionResponse{Results: results, Attempts: 1}, nil
}

func (s *server) StreamQuery(req *pb.StreamQueryRequest, out grpc.ServerStreamingServer[pb.StreamQueryResponse]) error {
	ctx := out.Context()
	st, err := s.stmt(ctx, req.GetSql())
	if err != nil {
		return sqlError(err)
	}
	args, err := params(req.GetParams())
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return sqlError(err)
	}
	defer rows.Close()
	cols, types, err := columns(rows)
	if err != nil {
		return sqlError(err)
	}
	chunk := int(req.GetMaxRowsPerChunk())
	if chunk == 0 {
		chunk = 100
	}
	msg := &pb.StreamQueryResponse{Columns: cols}
	dest, ptrs := scanTargets(len(cols))
	for rows.Next() {
		row, err := scanRow(rows, types, dest, ptrs)
		if err != nil {
			return sqlError(err)
		}
		msg.Rows = append(msg.Rows, row)
		if len(msg.Rows) == chunk {
			if err := out.Send(msg); err != nil {
				return err
			}
			msg = &pb.StreamQueryResponse{}
		}
	}
	if err := rows.Err(); err != nil {
		return sqlError(err)
	}
	msg.Done = true
	return out.Send(msg)
}

func (s *server) Transaction(stream grpc.BidiStreamingServer[pb.TransactionRequest, pb.TransactionResponse]) error {
	ctx := stream.Context()
	var tx *sql.Tx
	defer func() {
		if tx != nil {
			tx.Rollback() //nolint:errcheck // a no-op after Commit
		}
	}()
	begin := func(o *pb.TransactionOptions) error {
		var err error
		tx, err = s.db.BeginTx(ctx, txOptions(o))
		return sqlError(err)
	}
	for first := true; ; first = false {
		req, err := stream.Recv()
		if err == io.EOF {
			return status.Error(codes.Aborted, "stream ended without commit; rolled back")
		}
		if err != nil {
			return err
		}
		var resp *pb.TransactionResponse
		switch a := req.GetAction().(type) {
		case *pb.TransactionRequest_Begin:
			if !first {
				return status.Error(codes.InvalidArgument, "begin must be the first message")
			}
			if err := begin(a.Begin.GetOptions()); err != nil {
				return err
			}
			resp = &pb.TransactionResponse{Outcome: &pb.TransactionResponse_Begun{Begun: &pb.Begun{}}}
		case *pb.TransactionRequest_Statement:
			if tx == nil {
				if err := begin(nil); err != nil {
					return err
				}
			}
			rs, err := s.inTx(ctx, tx, a.Statement.GetSql(), a.Statement.GetParams())
			if err != nil {
				return err
			}
			resp = &pb.TransactionResponse{Outcome: &pb.TransactionResponse_Result{Result: rs}}
		case *pb.TransactionRequest_Commit:
			if tx != nil {
				if key := a.Commit.GetIdempotencyKey(); key != "" {
					if err := s.recordKey(ctx, tx, key); err != nil {
						return err
					}
				}
				if err := tx.Commit(); err != nil {
					return sqlError(err)
				}
				tx = nil
			}
			return stream.Send(&pb.TransactionResponse{Outcome: &pb.TransactionResponse_Committed{Committed: &pb.Committed{}}})
		case *pb.TransactionRequest_Rollback:
			if tx != nil {
				if err := tx.Rollback(); err != nil {
					return sqlError(err)
				}
				tx = nil
			}
			return stream.Send(&pb.TransactionResponse{Outcome: &pb.TransactionResponse_RolledBack{RolledBack: &pb.RolledBack{}}})
		default:
			return status.Error(codes.InvalidArgument, "empty transaction message")
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:50061", "gRPC listen address")
	addr := flag.String("mysql", "127.0.0.1:3306", "MariaDB host:port")
	user := flag.String("user", "txgate", "MariaDB user (password in $TXGATE_MYSQL_PASSWORD)")
	database := flag.String("database", "txgate", "database")
	pool := flag.Int("pool", 32, "most connections open at once (txgate's --pool_max_size)")
	flag.Parse()

	cfg := mysql.NewConfig()
	cfg.User = *user
	cfg.Passwd = os.Getenv("TXGATE_MYSQL_PASSWORD")
	cfg.Net = "tcp"
	cfg.Addr = *addr
	cfg.DBName = *database
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		log.Fatalf("gateway: %v", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(*pool)
	db.SetMaxIdleConns(*pool)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+keyTable+
		" (k VARCHAR(255) NOT NULL PRIMARY KEY, created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB")
	cancel()
	if err != nil {
		log.Fatalf("gateway: creating %s: %v", keyTable, err)
	}

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("gateway: %v", err)
	}
	g := grpc.NewServer()
	pb.RegisterDatabaseServiceServer(g, &server{db: db})
	healthpb.RegisterHealthServer(g, health.NewServer()) // answers SERVING for ""
	reflection.Register(g)                               // as txgate: ghz and grpcurl need no .proto
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		g.GracefulStop()
	}()
	log.Printf("gateway: serving on %s (pool %d)", lis.Addr(), *pool)
	if err := g.Serve(lis); err != nil {
		log.Fatalf("gateway: %v", err)
	}
	db.Close()
}
