package txgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/google/uuid"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

// fakeStub fails RunTransaction with the given codes, then succeeds. An
// UNKNOWN carries reason COMMIT_OUTCOME_UNKNOWN (a lost commit), or
// unknownReason when set.
type fakeStub struct {
	txgatev1.DatabaseServiceClient
	codes         []codes.Code
	unknownReason string
	requests      []*txgatev1.RunTransactionRequest
	execs         []*txgatev1.ExecuteRequest
	budgets       []time.Duration
}

// Execute fails like RunTransaction; an UNAVAILABLE carries no ErrorInfo
// (the transport's: a cut connection).
func (f *fakeStub) Execute(ctx context.Context, in *txgatev1.ExecuteRequest, _ ...grpc.CallOption) (*txgatev1.ExecuteResponse, error) {
	f.execs = append(f.execs, in)
	if len(f.codes) > 0 {
		c := f.codes[0]
		f.codes = f.codes[1:]
		if c == codes.Unknown {
			st, _ := status.New(c, "fake").WithDetails(&errdetails.ErrorInfo{Reason: txgate.ReasonCommitOutcomeUnknown, Domain: "txgate.dev"})
			return nil, st.Err()
		}
		return nil, status.Error(c, "fake")
	}
	return &txgatev1.ExecuteResponse{Result: &txgatev1.ResultSet{AffectedRows: 1, LastInsertId: 9}}, nil
}

func (f *fakeStub) RunTransaction(ctx context.Context, in *txgatev1.RunTransactionRequest, _ ...grpc.CallOption) (*txgatev1.RunTransactionResponse, error) {
	f.requests = append(f.requests, in)
	dl, _ := ctx.Deadline()
	f.budgets = append(f.budgets, time.Until(dl))
	if len(f.codes) > 0 {
		c := f.codes[0]
		f.codes = f.codes[1:]
		if c == codes.Unknown {
			reason := txgate.ReasonCommitOutcomeUnknown
			if f.unknownReason != "" {
				reason = f.unknownReason
			}
			st, _ := status.New(c, "fake").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "txgate.dev"})
			return nil, st.Err()
		}
		return nil, status.Error(c, "fake")
	}
	return &txgatev1.RunTransactionResponse{Results: []*txgatev1.ResultSet{{AffectedRows: 1}}, Attempts: 1}, nil
}

var fast = txgate.RunOptions{InitialBackoff: time.Millisecond, Timeout: 10 * time.Second}

func TestRetriesUnavailableAndUnknownWithTheSameKey(t *testing.T) {
	stub := &fakeStub{codes: []codes.Code{codes.Unavailable, codes.Unknown, codes.Unavailable}}
	res, err := txgate.NewFromStub(stub).RunTransaction(context.Background(),
		[]txgate.Statement{txgate.Stmt("INSERT INTO t VALUES (?)", 1)}, fast)
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 4 || res.Results[0].AffectedRows != 1 || len(res.IdempotencyKey) != 36 {
		t.Fatalf("result %+v", res)
	}
	for i, r := range stub.requests {
		if r.GetIdempotencyKey() != res.IdempotencyKey {
			t.Errorf("call %d carried key %q, want %q", i, r.GetIdempotencyKey(), res.IdempotencyKey)
		}
		if stub.budgets[i] <= 0 || stub.budgets[i] > 10*time.Second {
			t.Errorf("call %d had budget %v", i, stub.budgets[i])
		}
	}
}

func TestEachLogicalTransactionGetsItsOwnKey(t *testing.T) {
	c := txgate.NewFromStub(&fakeStub{})
	ctx := context.Background()
	a, _ := c.RunTransaction(ctx, []txgate.Statement{txgate.Stmt("DELETE FROM t")}, txgate.RunOptions{})
	b, _ := c.RunTransaction(ctx, []txgate.Statement{txgate.Stmt("DELETE FROM t")}, txgate.RunOptions{})
	ro, _ := c.RunTransaction(ctx, []txgate.Statement{txgate.Stmt("SELECT 1")},
		txgate.RunOptions{TxOptions: txgate.TxOptions{ReadOnly: true}})
	if a.IdempotencyKey == "" || a.IdempotencyKey == b.IdempotencyKey || ro.IdempotencyKey != "" {
		t.Fatalf("keys %q %q %q", a.IdempotencyKey, b.IdempotencyKey, ro.IdempotencyKey)
	}
}

func TestDoesNotRetryOtherCodes(t *testing.T) {
	for _, code := range []codes.Code{codes.InvalidArgument, codes.Aborted, codes.DeadlineExceeded,
		codes.FailedPrecondition, codes.ResourceExhausted} {
		stub := &fakeStub{codes: []codes.Code{code}}
		_, err := txgate.NewFromStub(stub).RunTransaction(context.Background(),
			[]txgate.Statement{txgate.Stmt("DELETE FROM t")}, fast)
		var e *txgate.Error
		if !errors.As(err, &e) || e.Code != code || len(stub.requests) != 1 ||
			e.IdempotencyKey != stub.requests[0].GetIdempotencyKey() || status.Code(err) != code {
			t.Errorf("%v: err %v after %d calls", code, err, len(stub.requests))
		}
	}
}

// UNKNOWN is retried for a lost commit only (reason COMMIT_OUTCOME_UNKNOWN),
// never for another reason.
func TestDoesNotRetryUnknownOfAnotherReason(t *testing.T) {
	for _, reason := range []string{"MYSQL_ERROR", "INTERNAL_ERROR"} {
		stub := &fakeStub{codes: []codes.Code{codes.Unknown}, unknownReason: reason}
		_, err := txgate.NewFromStub(stub).RunTransaction(context.Background(),
			[]txgate.Statement{txgate.Stmt("DELETE FROM t")}, fast)
		if status.Code(err) != codes.Unknown || len(stub.requests) != 1 {
			t.Errorf("%s: err %v after %d calls", reason, err, len(stub.requests))
		}
	}
}

func TestGivesUpAtTheOverallDeadline(t *testing.T) {
	stub := &fakeStub{codes: make([]codes.Code, 1000)}
	for i := range stub.codes {
		stub.codes[i] = codes.Unavailable
	}
	start := time.Now()
	_, err := txgate.NewFromStub(stub).RunTransaction(context.Background(),
		[]txgate.Statement{txgate.Stmt("DELETE FROM t")},
		txgate.RunOptions{Timeout: 300 * time.Millisecond, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if status.Code(err) != codes.Unavailable || time.Since(start) > time.Second || len(stub.requests) < 3 {
		t.Fatalf("err %v after %v and %d calls", err, time.Since(start), len(stub.requests))
	}
}

// flakyServer answers the first `failures` Execute calls with `code` (with
// txgate's ErrorInfo unless bare). With hold, every call waits instead until
// its context is done (the client cancelled it).
type flakyServer struct {
	txgatev1.UnimplementedDatabaseServiceServer
	code     codes.Code
	failures int32
	bare     bool
	hold     chan struct{} // closed when a held call has started
	calls    atomic.Int32
}

func (f *flakyServer) Execute(ctx context.Context, _ *txgatev1.ExecuteRequest) (*txgatev1.ExecuteResponse, error) {
	n := f.calls.Add(1)
	if f.hold != nil {
		if n == 1 {
			close(f.hold)
		}
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if n <= f.failures && f.bare {
		return nil, status.Error(f.code, "Cancelled")
	}
	if n <= f.failures {
		reason := "DATABASE_UNAVAILABLE"
		if f.code == codes.Unknown {
			reason = txgate.ReasonCommitOutcomeUnknown
		}
		st, _ := status.New(f.code, "flaky").WithDetails(&errdetails.ErrorInfo{Reason: reason,
			Domain: txgate.ErrorDomain, Metadata: map[string]string{"mysql_errno": "2013", "mysql_sqlstate": "HY000"}})
		return nil, st.Err()
	}
	return &txgatev1.ExecuteResponse{Result: &txgatev1.ResultSet{AffectedRows: 7}}, nil
}

func startFake(t *testing.T, f *flakyServer) *txgate.Client {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	txgatev1.RegisterDatabaseServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := txgate.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// txgate's own UNAVAILABLE says nothing was applied: retried, with or
// without a key.
func TestExecuteRetriesTxgatesUnavailable(t *testing.T) {
	for _, noKey := range []bool{false, true} {
		f := &flakyServer{code: codes.Unavailable, failures: 2}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := startFake(t, f).ExecuteWith(ctx, txgate.ExecOptions{NoKey: noKey, InitialBackoff: time.Millisecond},
			"UPDATE t SET a = 1")
		if err != nil || res.AffectedRows != 7 || f.calls.Load() != 3 || res.Calls != 3 {
			t.Fatalf("no key %v: res %v err %v calls %d", noKey, res, err, f.calls.Load())
		}
	}
}

func TestExecuteNeverRetriesUnknownWithoutAKey(t *testing.T) {
	f := &flakyServer{code: codes.Unknown, failures: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := startFake(t, f).ExecuteWith(ctx, txgate.ExecOptions{NoKey: true}, "UPDATE t SET a = 1")
	var e *txgate.Error
	if !errors.As(err, &e) || f.calls.Load() != 1 {
		t.Fatalf("err %v calls %d", err, f.calls.Load())
	}
	if !e.OutcomeUnknown() || e.Reason != txgate.ReasonCommitOutcomeUnknown || e.Domain != "txgate.dev" ||
		e.MySQLErrno != 2013 || e.SQLState != "HY000" {
		t.Fatalf("error %+v", e)
	}
}

// A cut connection (UNAVAILABLE without txgate's ErrorInfo) and a lost
// commit are re-sent with the one fresh key the call carries.
func TestExecuteRetriesALostAnswerWithTheSameFreshKey(t *testing.T) {
	stub := &fakeStub{codes: []codes.Code{codes.Unavailable, codes.Unknown, codes.Unavailable}}
	c := txgate.NewFromStub(stub)
	res, err := c.ExecuteWith(context.Background(), txgate.ExecOptions{InitialBackoff: time.Millisecond},
		"INSERT INTO t VALUES (?)", 1)
	if err != nil || res.Calls != 4 || res.AffectedRows != 1 || res.LastInsertID != 9 {
		t.Fatalf("res %+v err %v", res, err)
	}
	if u, err := uuid.Parse(res.IdempotencyKey); err != nil || u.Version() != 4 {
		t.Fatalf("key %q is no UUIDv4: %v", res.IdempotencyKey, err)
	}
	for i, r := range stub.execs {
		if r.GetIdempotencyKey() != res.IdempotencyKey {
			t.Errorf("call %d carried key %q, want %q", i, r.GetIdempotencyKey(), res.IdempotencyKey)
		}
	}
	other, err := c.ExecuteWith(context.Background(), txgate.ExecOptions{}, "INSERT INTO t VALUES (?)", 1)
	if err != nil || other.IdempotencyKey == res.IdempotencyKey {
		t.Fatalf("second call: key %q, err %v", other.IdempotencyKey, err)
	}
}

func TestWithoutAKeyACutConnectionIsNotRetried(t *testing.T) {
	stub := &fakeStub{codes: []codes.Code{codes.Unavailable}}
	_, err := txgate.NewFromStub(stub).ExecuteWith(context.Background(), txgate.ExecOptions{NoKey: true},
		"INSERT INTO t VALUES (1)")
	if status.Code(err) != codes.Unavailable || len(stub.execs) != 1 || stub.execs[0].GetIdempotencyKey() != "" {
		t.Fatalf("err %v after %d calls", err, len(stub.execs))
	}
}

func TestAReadOnlyTransactionIsRetriedWithoutAKey(t *testing.T) {
	stub := &fakeStub{codes: []codes.Code{codes.Unavailable}}
	res, err := txgate.NewFromStub(stub).RunTransaction(context.Background(),
		[]txgate.Statement{txgate.Stmt("SELECT 1")},
		txgate.RunOptions{TxOptions: txgate.TxOptions{ReadOnly: true}, InitialBackoff: time.Millisecond})
	if err != nil || res.Calls != 2 || res.IdempotencyKey != "" {
		t.Fatalf("res %+v err %v", res, err)
	}
}

// gRPC's server cancels a call it accepted as a drain starts but had not
// handed to txgate yet: CANCELLED without txgate's ErrorInfo, nothing ran. A
// keyed write or a read-only transaction is re-sent with its key.
func TestAServerSentCancelledIsRetriedWithTheKey(t *testing.T) {
	stub := &fakeStub{codes: []codes.Code{codes.Canceled, codes.Canceled}}
	c := txgate.NewFromStub(stub)
	res, err := c.ExecuteWith(context.Background(), txgate.ExecOptions{InitialBackoff: time.Millisecond},
		"INSERT INTO t VALUES (1)")
	if err != nil || res.Calls != 3 || res.IdempotencyKey == "" {
		t.Fatalf("res %+v err %v", res, err)
	}
	for i, r := range stub.execs {
		if r.GetIdempotencyKey() != res.IdempotencyKey {
			t.Errorf("call %d carried key %q, want %q", i, r.GetIdempotencyKey(), res.IdempotencyKey)
		}
	}
	stub.codes = []codes.Code{codes.Canceled}
	tx, err := c.RunTransaction(context.Background(), []txgate.Statement{txgate.Stmt("INSERT INTO t VALUES (1)")}, fast)
	if err != nil || tx.Calls != 2 {
		t.Fatalf("RunTransaction: res %+v err %v", tx, err)
	}
	stub.codes = []codes.Code{codes.Canceled}
	ro, err := c.RunTransaction(context.Background(), []txgate.Statement{txgate.Stmt("SELECT 1")},
		txgate.RunOptions{TxOptions: txgate.TxOptions{ReadOnly: true}, InitialBackoff: time.Millisecond})
	if err != nil || ro.Calls != 2 || ro.IdempotencyKey != "" {
		t.Fatalf("read-only: res %+v err %v", ro, err)
	}
}

func TestWithoutAKeyAServerSentCancelledIsNotRetried(t *testing.T) {
	stub := &fakeStub{codes: []codes.Code{codes.Canceled}}
	_, err := txgate.NewFromStub(stub).ExecuteWith(context.Background(), txgate.ExecOptions{NoKey: true},
		"INSERT INTO t VALUES (1)")
	if status.Code(err) != codes.Canceled || len(stub.execs) != 1 {
		t.Fatalf("err %v after %d calls", err, len(stub.execs))
	}
}

// Over a real connection: a bare CANCELLED from the server is re-sent for a
// keyed call only.
func TestExecuteReSendsAKeyedCallTheServerCancelled(t *testing.T) {
	for _, noKey := range []bool{false, true} {
		f := &flakyServer{code: codes.Canceled, failures: 2, bare: true}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := startFake(t, f).ExecuteWith(ctx, txgate.ExecOptions{NoKey: noKey, InitialBackoff: time.Millisecond},
			"UPDATE t SET a = 1")
		if noKey && (status.Code(err) != codes.Canceled || f.calls.Load() != 1) {
			t.Fatalf("no key: err %v after %d calls", err, f.calls.Load())
		}
		if !noKey && (err != nil || res.AffectedRows != 7 || res.Calls != 3 || f.calls.Load() != 3) {
			t.Fatalf("keyed: res %v err %v calls %d", res, err, f.calls.Load())
		}
	}
}

// A call the application cancelled (its context) or whose ClientConn it
// closed is never re-sent, keyed or not.
func TestACallTheApplicationCancelledIsNotRetried(t *testing.T) {
	f := &flakyServer{hold: make(chan struct{})}
	c := startFake(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.hold
		cancel()
	}()
	_, err := c.ExecuteWith(ctx, txgate.ExecOptions{InitialBackoff: time.Millisecond}, "UPDATE t SET a = 1")
	if status.Code(err) != codes.Canceled || f.calls.Load() != 1 {
		t.Fatalf("cancelled context: err %v after %d calls", err, f.calls.Load())
	}
	c.Close()
	start := time.Now()
	_, err = c.ExecuteWith(context.Background(), txgate.ExecOptions{InitialBackoff: time.Millisecond}, "UPDATE t SET a = 1")
	var e *txgate.Error
	if !errors.As(err, &e) || e.Code != codes.Canceled || txgate.Retryable(e, true) || f.calls.Load() != 1 {
		t.Fatalf("closed client: err %v after %v", err, time.Since(start))
	}
}

func TestACancelledWithTxgatesErrorInfoIsNotRetried(t *testing.T) {
	st, _ := status.New(codes.Canceled, "cancelled").WithDetails(&errdetails.ErrorInfo{Reason: "CANCELLED", Domain: txgate.ErrorDomain})
	if txgate.Retryable(txgate.FromError(st.Err()), true) {
		t.Fatal("txgate's CANCELLED is final")
	}
	if !txgate.Retryable(txgate.FromError(status.Error(codes.Canceled, "Cancelled")), true) ||
		txgate.Retryable(txgate.FromError(status.Error(codes.Canceled, "Cancelled")), false) {
		t.Fatal("a bare CANCELLED is the transport's: retried when safe only")
	}
}

// gRPC's retry policy cannot see a request's idempotency key, so the
// shipped service config may retry no DatabaseService method.
func TestTheServiceConfigRetriesNoDatabaseCall(t *testing.T) {
	var config struct {
		MethodConfig []struct {
			Name []struct {
				Service string `json:"service"`
			} `json:"name"`
			RetryPolicy   json.RawMessage `json:"retryPolicy"`
			HedgingPolicy json.RawMessage `json:"hedgingPolicy"`
		} `json:"methodConfig"`
	}
	if err := json.Unmarshal([]byte(txgatev1.ServiceConfig), &config); err != nil {
		t.Fatal(err)
	}
	for _, mc := range config.MethodConfig {
		if mc.RetryPolicy == nil && mc.HedgingPolicy == nil {
			continue
		}
		for _, n := range mc.Name {
			if n.Service == "txgate.v1.DatabaseService" {
				t.Errorf("the service config retries %s", n.Service)
			}
		}
	}
}
