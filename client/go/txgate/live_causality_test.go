package txgate_test

// Read-your-writes tokens (README, "Reads on replicas") against a live
// txgate: a Client keeps the latest write's causality token and sends it,
// with its routing, on every read, stream and read-only transaction; an
// interceptor records the requests that went out.

import (
	"context"
	"errors"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

var tokenShape = regexp.MustCompile(`^g1:\d+-\d+-\d+(,\d+-\d+-\d+)*$`)

// recorder keeps every request message a channel sends, by method.
type recorder struct {
	mu   sync.Mutex
	sent []proto.Message
}

func (r *recorder) keep(m any) {
	if pm, ok := m.(proto.Message); ok {
		r.mu.Lock()
		r.sent = append(r.sent, proto.Clone(pm))
		r.mu.Unlock()
	}
}

type recordingStream struct {
	grpc.ClientStream
	r *recorder
}

func (s recordingStream) SendMsg(m any) error {
	s.r.keep(m)
	return s.ClientStream.SendMsg(m)
}

// last returns the latest sent message of type T.
func last[T proto.Message](t *testing.T, r *recorder) T {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sent) - 1; i >= 0; i-- {
		if m, ok := r.sent[i].(T); ok {
			return m
		}
	}
	var zero T
	t.Fatalf("no %T was sent", zero)
	return zero
}

func recordedClient(t *testing.T) (*txgate.Client, *recorder, context.Context) {
	t.Helper()
	addr := os.Getenv("TXGATE_ADDR")
	if addr == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	r := &recorder{}
	c, err := txgate.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
			cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			r.keep(req)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn,
			method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return recordingStream{s, r}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	must(t, c, ctx, "CREATE TABLE IF NOT EXISTS go_causal (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
	c.Tokens().Clear()
	return c, r, ctx
}

func TestLiveAWriteTokenIsKeptAndSentWithTheNextReads(t *testing.T) {
	c, r, ctx := recordedClient(t)
	must(t, c, ctx, "SELECT 1")
	if got := last[*txgatev1.ExecuteRequest](t, r).GetRead().GetCausalityToken(); got != "" {
		t.Fatalf("a token before any write: %q", got)
	}
	must(t, c, ctx, "INSERT INTO go_causal (v) VALUES (?)", 1)
	token := c.CausalityToken()
	if !tokenShape.MatchString(token) {
		t.Fatalf("token after a write: %q", token)
	}
	must(t, c, ctx, "SELECT COUNT(*) FROM go_causal")
	if got := last[*txgatev1.ExecuteRequest](t, r).GetRead().GetCausalityToken(); got != token {
		t.Fatalf("Execute sent token %q, want %q", got, token)
	}
	if _, err := c.RunTransaction(ctx, []txgate.Statement{txgate.Stmt("SELECT 1")},
		txgate.RunOptions{TxOptions: txgate.TxOptions{ReadOnly: true}}); err != nil {
		t.Fatal(err)
	}
	if got := last[*txgatev1.RunTransactionRequest](t, r).GetOptions().GetRead().GetCausalityToken(); got != token {
		t.Fatalf("RunTransaction sent token %q, want %q", got, token)
	}
	rows, err := c.StreamQuery(ctx, "SELECT v FROM go_causal", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := last[*txgatev1.StreamQueryRequest](t, r).GetRead().GetCausalityToken(); got != token {
		t.Fatalf("StreamQuery sent token %q, want %q", got, token)
	}
	err = c.InTransaction(ctx, txgate.TxOptions{ReadOnly: true}, func(tx *txgate.Tx) error {
		_, err := tx.Execute("SELECT 1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var begin *txgatev1.Begin
	r.mu.Lock()
	for _, m := range r.sent {
		if req, ok := m.(*txgatev1.TransactionRequest); ok && req.GetBegin() != nil {
			begin = req.GetBegin()
		}
	}
	r.mu.Unlock()
	if got := begin.GetOptions().GetRead().GetCausalityToken(); got != token {
		t.Fatalf("Begin sent token %q, want %q", got, token)
	}
	if c.CausalityToken() != token {
		t.Fatalf("reads changed the token to %q", c.CausalityToken())
	}
}

func TestLiveEveryKindOfWriteMovesTheTokenOn(t *testing.T) {
	c, _, ctx := recordedClient(t)
	must(t, c, ctx, "INSERT INTO go_causal (v) VALUES (2)")
	first := c.CausalityToken()
	if _, err := c.RunTransaction(ctx, []txgate.Statement{txgate.Stmt("INSERT INTO go_causal (v) VALUES (3)")},
		txgate.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	second := c.CausalityToken()
	tx, err := c.Begin(ctx, txgate.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Execute("INSERT INTO go_causal (v) VALUES (4)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	third := c.CausalityToken()
	if third != tx.CausalityToken() || !tokenShape.MatchString(third) {
		t.Fatalf("commit token %q, client's %q", tx.CausalityToken(), third)
	}
	if first == second || second == third || first == "" || second == "" {
		t.Fatalf("tokens did not move on: %q %q %q", first, second, third)
	}
	// A rolled-back transaction leaves it; so does another session's write.
	tx, err = c.Begin(ctx, txgate.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Execute("INSERT INTO go_causal (v) VALUES (5)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	other := c.NewSession()
	must(t, other, ctx, "INSERT INTO go_causal (v) VALUES (6)")
	if c.CausalityToken() != third || other.CausalityToken() == third {
		t.Fatalf("client %q, other session %q, want %q and another", c.CausalityToken(), other.CausalityToken(), third)
	}
}

func TestLiveRoutingPerClientAndPerCall(t *testing.T) {
	c, r, ctx := recordedClient(t)
	if c.Routing() != txgatev1.ReadRouting_READ_ROUTING_UNSPECIFIED {
		t.Fatalf("default routing %v", c.Routing())
	}
	replica := c.WithRouting(txgatev1.ReadRouting_READ_ROUTING_REPLICA)
	must(t, replica, ctx, "SELECT 1")
	if got := last[*txgatev1.ExecuteRequest](t, r).GetRead().GetRouting(); got != txgatev1.ReadRouting_READ_ROUTING_REPLICA {
		t.Fatalf("routing %v", got)
	}
	if _, err := replica.ExecuteWith(ctx, txgate.ExecOptions{Routing: txgatev1.ReadRouting_READ_ROUTING_PRIMARY}, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if got := last[*txgatev1.ExecuteRequest](t, r).GetRead().GetRouting(); got != txgatev1.ReadRouting_READ_ROUTING_PRIMARY {
		t.Fatalf("per-call routing %v", got)
	}
	// WithRouting is the same session: its writes move c's token.
	must(t, replica, ctx, "INSERT INTO go_causal (v) VALUES (7)")
	if c.CausalityToken() != replica.CausalityToken() || c.CausalityToken() == "" {
		t.Fatalf("tokens %q and %q", c.CausalityToken(), replica.CausalityToken())
	}
	if _, err := txgate.ParseRouting("nearest"); err == nil {
		t.Fatal("ParseRouting took nearest")
	}
}

func TestLiveABadTokenIsRefusedByTxgate(t *testing.T) {
	c, _, ctx := recordedClient(t)
	c.Tokens().Observe("g1:0-1") // not one txgate hands out
	_, err := c.Execute(ctx, "SELECT 1")
	var e *txgate.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || e.Reason != "CAUSALITY_TOKEN_INVALID" {
		t.Fatalf("got %v", err)
	}
}
