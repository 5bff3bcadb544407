package txgate_test

// Two live txgate instances behind one target name (a manual resolver
// returning both addresses): the default service config's round_robin
// spreads calls over both, and its retry policy (grpc.health.v1.Health/Check
// on UNAVAILABLE) is still in force next to it — one merged config. The
// second txgate is started here (TXGATE_BUILD_DIR/txgate-server against the
// test MariaDB); the first is TXGATE_ADDR, reached through a toxiproxy to
// cut a call in flight. tests/clients/run.sh sets all of it.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/stats"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

// startSecondTxgate starts another txgate-server against the test MariaDB
// and returns its address once its health says SERVING; it is stopped
// (SIGTERM, waited for) when the test ends.
func startSecondTxgate(t *testing.T) string {
	t.Helper()
	build, dbDir, mysqlPort := os.Getenv("TXGATE_BUILD_DIR"), os.Getenv("TXGATE_TEST_DB_DIR"),
		os.Getenv("TXGATE_TEST_MYSQL_PORT")
	if build == "" || dbDir == "" || mysqlPort == "" {
		t.Skip("TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR or TXGATE_TEST_MYSQL_PORT not set")
	}
	password, err := os.ReadFile(filepath.Join(dbDir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	logDir := os.Getenv("TXGATE_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	log, err := os.Create(filepath.Join(logDir, "txgate-go-second.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(build, "txgate-server"), "--listen="+addr, "--mysql_port="+mysqlPort,
		"--mysql_user=txgate", "--mysql_database=txgate")
	cmd.Env = append(os.Environ(), "TXGATE_MYSQL_PASSWORD="+strings.TrimSpace(string(password)))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		log.Close()
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	serving := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}
	if !eventually(30*time.Second, serving) {
		t.Fatalf("the second txgate on %s never served (log: %s)", addr, log.Name())
	}
	return addr
}

// attempts records, per call (tagged by callID in its context), the
// address each attempt was sent to and whether it was a transparent retry.
type attempts struct {
	mu    sync.Mutex
	calls map[string][]string
}

type callIDKey struct{}
type attemptKey struct{}

func (a *attempts) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	id, _ := ctx.Value(callIDKey{}).(string)
	return context.WithValue(ctx, attemptKey{}, id)
}

func (a *attempts) HandleRPC(ctx context.Context, s stats.RPCStats) {
	id, _ := ctx.Value(attemptKey{}).(string)
	if id == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch s := s.(type) {
	case *stats.Begin:
		kind := "attempt"
		if s.IsTransparentRetryAttempt {
			kind = "transparent"
		}
		a.calls[id] = append(a.calls[id], kind)
	case *stats.OutHeader:
		a.calls[id] = append(a.calls[id], "to "+s.RemoteAddr.String())
	}
}

func (a *attempts) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (a *attempts) HandleConn(context.Context, stats.ConnStats)                       {}

func (a *attempts) of(id string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls[id]...)
}

// twoTxgates returns a client whose target resolves to both addresses.
func twoTxgates(t *testing.T, addrs []string, rec *attempts, opts ...grpc.DialOption) *txgate.Client {
	t.Helper()
	r := manual.NewBuilderWithScheme("txgatetest")
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(r), grpc.WithStatsHandler(rec)}, opts...)
	c, err := txgate.NewClient("txgatetest:///two-txgates", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLiveRoundRobinOverTwoTxgates(t *testing.T) {
	first := os.Getenv("TXGATE_ADDR")
	if first == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	second := startSecondTxgate(t)
	rec := &attempts{calls: map[string][]string{}}
	c := twoTxgates(t, []string{first, second}, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func() string {
		var p peer.Peer
		if _, err := c.Stub().Execute(ctx, &txgatev1.ExecuteRequest{Sql: "SELECT 1"}, grpc.Peer(&p)); err != nil {
			t.Fatal(err)
		}
		return p.Addr.String()
	}
	// round_robin picks among READY backends only, and one may become READY
	// later than the other (a txgate has been seen to take over 50 ms to send
	// its HTTP/2 preface): wait until each has served a call.
	start, served := time.Now(), map[string]int{}
	if !eventually(10*time.Second, func() bool { served[call()]++; return len(served) == 2 }) {
		t.Fatalf("calls reached only %v", served)
	}
	t.Logf("both txgates READY after %v (%v)", time.Since(start), served)
	// Then it alternates between them.
	served = map[string]int{}
	const calls = 40
	for range calls {
		served[call()]++
	}
	if served[first] < calls/2-1 || served[second] < calls/2-1 {
		t.Fatalf("calls per txgate: %v", served)
	}
	t.Logf("calls per txgate: %v", served)
}

// healthCallCutInFlight sends two Health/Check calls at once over a client
// whose target resolves to a proxy of the first txgate (whose answers are
// dropped) and to the second txgate. round_robin sends one to each: the one
// to the second answers; the one held at the proxy is cut (its connection
// closed after the request was sent: UNAVAILABLE, not a transparent
// retry). It returns that call's error and its attempts.
func healthCallCutInFlight(t *testing.T, second string, opts ...grpc.DialOption) (error, []string) {
	t.Helper()
	proxy := newTxgateProxy(t, os.Getenv("TXGATE_ADDR"))
	rec := &attempts{calls: map[string][]string{}}
	c := twoTxgates(t, []string{proxy.listen, second}, rec, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Both backends READY (each has served a call) before answers are dropped.
	served := map[string]bool{}
	if !eventually(10*time.Second, func() bool {
		var p peer.Peer
		if _, err := c.Stub().Execute(ctx, &txgatev1.ExecuteRequest{Sql: "SELECT 1"}, grpc.Peer(&p)); err != nil {
			t.Fatal(err)
		}
		served[p.Addr.String()] = true
		return len(served) == 2
	}) {
		t.Fatalf("calls reached only %v", served)
	}
	proxy.dropAnswers()
	health := healthpb.NewHealthClient(c.Conn())
	errs := make(map[string]chan error)
	for _, id := range []string{"a", "b"} {
		errs[id] = make(chan error, 1)
		go func() {
			_, err := health.Check(context.WithValue(ctx, callIDKey{}, id), &healthpb.HealthCheckRequest{})
			errs[id] <- err
		}()
	}
	held := ""
	if !eventually(10*time.Second, func() bool {
		for _, id := range []string{"a", "b"} {
			if got := rec.of(id); len(got) == 2 && got[1] == "to "+proxy.listen {
				held = id
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no call held at the proxy: a %v, b %v", rec.of("a"), rec.of("b"))
	}
	other := map[string]string{"a": "b", "b": "a"}[held]
	if err := <-errs[other]; err != nil {
		t.Fatalf("the call to the second txgate: %v", err)
	}
	proxy.cutAndHeal()
	return <-errs[held], rec.of(held)
}

// The default service config: round_robin spreads the calls, and the
// retry policy re-sends the cut Health/Check (a second attempt, not a
// transparent one), which succeeds.
func TestLiveRetryPolicyStillInForceWithRoundRobin(t *testing.T) {
	if os.Getenv("TXGATE_ADDR") == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	second := startSecondTxgate(t)
	for _, tc := range []struct {
		name string
		opts []grpc.DialOption
	}{
		{"default", nil},
		// A config of one's own, merged: the retry policy stays.
		{"WithServiceConfig", []grpc.DialOption{txgate.WithServiceConfig(
			`{"loadBalancingConfig": [{"round_robin": {}}], "retryThrottling": {"maxTokens": 20, "tokenRatio": 0.2}}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, got := healthCallCutInFlight(t, second, tc.opts...)
			if err != nil || len(got) != 4 || got[0] != "attempt" || got[2] != "attempt" {
				t.Fatalf("Health/Check: %v, attempts %v: want a cut attempt re-sent by the retry policy", err, got)
			}
			t.Logf("attempts: %v", got)
		})
	}
	// The bug this guards against: a second grpc.WithDefaultServiceConfig
	// replaces the default one whole, and the cut call is not re-sent.
	t.Run("replaced", func(t *testing.T) {
		err, got := healthCallCutInFlight(t, second,
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
		if err == nil || len(got) != 2 {
			t.Fatalf("without the retry policy: %v, attempts %v: want the cut call to fail", err, got)
		}
	})
}

func TestServiceConfigMerges(t *testing.T) {
	sc, err := txgate.ServiceConfig(`{"loadBalancingConfig": [{"pick_first": {}}],
		"methodConfig": [{"name": [{"service": "grpc.health.v1.Health", "method": "Check"}], "timeout": "1s"},
		                 {"name": [{"service": "txgate.v1.DatabaseService"}], "timeout": "5s"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"pick_first"`, `"retryThrottling"`, `"timeout":"5s"`, `"timeout":"1s"`} {
		if !strings.Contains(sc, want) {
			t.Errorf("merged config %s lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "round_robin") || strings.Contains(sc, "retryPolicy") {
		t.Errorf("merged config %s kept what the later one replaced", sc)
	}
	if sc, _ := txgate.ServiceConfig(); !strings.Contains(sc, "round_robin") || !strings.Contains(sc, "retryPolicy") {
		t.Errorf("default config %s", sc)
	}
	if _, err := txgate.ServiceConfig(`[]`); err == nil {
		t.Error("a JSON list accepted")
	}
}
