// Command failover drives txgate through a primary's crash and a planned
// switchover on a replicated cluster (tests/support/cluster.sh) with a bank
// workload of keyed transfers, then checks the new primary: the total
// balance is unchanged, no transfer is applied twice, every acknowledged
// transfer is there, and callers whose deadline outlasts the failover saw
// no error. tests/replication/run.sh builds and runs it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	txgatev1 "github.com/txgate/txgate/client/go/txgatev1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

type config struct {
	txgate, metrics, cluster, repo     string
	patient, impatient, accounts       int
	initial                            int64
	patientDeadline, impatientDeadline time.Duration
	warmup, detect, settle, tail       time.Duration
	budget                             time.Duration
	async                              bool
}

// attempt is one RPC of a transfer, as its caller saw it.
type attempt struct {
	patient    bool
	start, end time.Time
	code       codes.Code
	reason     string
}

type recorder struct {
	mu       sync.Mutex
	attempts []attempt
	acked    map[string]time.Time
	requests map[string]*txgatev1.RunTransactionRequest
	failed   map[string]string
}

func (r *recorder) add(a attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
}

func i64(v int64) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_Int64Value{Int64Value: v}}
}
func str(v string) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_StringValue{StringValue: v}}
}
func u64(v uint64) *uint64 { return &v }

func transfer(id string, from, to int, amount int64) *txgatev1.RunTransactionRequest {
	debit := &txgatev1.Statement{Sql: "UPDATE bank_accounts SET balance = balance - ? WHERE id = ? AND balance >= ?",
		Params: []*txgatev1.Value{i64(amount), i64(int64(from)), i64(amount)},
		Expect: &txgatev1.Expectation{MinAffectedRows: u64(1)}}
	credit := &txgatev1.Statement{Sql: "UPDATE bank_accounts SET balance = balance + ? WHERE id = ?",
		Params: []*txgatev1.Value{i64(amount), i64(int64(to))},
		Expect: &txgatev1.Expectation{AffectedRows: u64(1)}}
	ledger := &txgatev1.Statement{Sql: "INSERT INTO bank_ledger (transfer_id, amount) VALUES (?, ?)",
		Params: []*txgatev1.Value{str(id), i64(amount)}}
	first, second := debit, credit
	if to < from {
		first, second = credit, debit
	}
	return &txgatev1.RunTransactionRequest{Statements: []*txgatev1.Statement{first, second, ledger}, IdempotencyKey: id}
}

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func retryable(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.Unknown || c == codes.DeadlineExceeded
}

// writer sends transfers one after another until ctx ends; each is retried
// with its key, as a real client would, within the budget.
func writer(ctx context.Context, cfg config, client txgatev1.DatabaseServiceClient, rec *recorder, name string, patient bool) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(name))))
	deadline := cfg.impatientDeadline
	if patient {
		deadline = cfg.patientDeadline
	}
	for n := 0; ctx.Err() == nil; n++ {
		id := fmt.Sprintf("%s-%d", name, n)
		from := 1 + rng.IntN(cfg.accounts)
		to := 1 + (from+rng.IntN(cfg.accounts-1))%cfg.accounts
		req := transfer(id, from, to, 1+rng.Int64N(20))
		start := time.Now()
		backoff := 50 * time.Millisecond
		for {
			actx, cancel := context.WithTimeout(context.Background(), deadline)
			a := attempt{patient: patient, start: time.Now()}
			_, err := client.RunTransaction(actx, req)
			cancel()
			a.end = time.Now()
			a.code = status.Code(err)
			if err != nil {
				a.reason = reason(err)
			}
			rec.add(a)
			if err == nil {
				rec.mu.Lock()
				rec.acked[id] = a.end
				rec.requests[id] = req
				rec.mu.Unlock()
				break
			}
			if !retryable(a.code) || time.Since(start) > cfg.budget {
				rec.mu.Lock()
				rec.failed[id] = fmt.Sprintf("%s %s: %s", a.code, a.reason, status.Convert(err).Message())
				rec.mu.Unlock()
				break
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
		time.Sleep(time.Duration(10+rng.IntN(20)) * time.Millisecond)
	}
}

func harness(cfg config, args ...string) (string, error) {
	full := append([]string{cfg.repo + "/tests/support/cluster.sh", args[0], cfg.cluster}, args[1:]...)
	out, err := exec.Command("bash", full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cluster.sh %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func must(s string, err error) string {
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(2)
	}
	return s
}

// metric reads one sample of txgate's /metrics (0 when absent).
func metric(cfg config, name string) float64 {
	if cfg.metrics == "" {
		return 0
	}
	resp, err := http.Get("http://" + cfg.metrics + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

type window struct {
	name     string
	from, to time.Time
	// When the new primary was in place (the harness returned); with the
	// monitor's check interval and a margin, a call whose deadline ends
	// before resolved+slack had a deadline shorter than the failover.
	resolved time.Time
}

const slack = 2 * time.Second

func main() {
	var cfg config
	flag.StringVar(&cfg.txgate, "txgate", "", "txgate host:port")
	flag.StringVar(&cfg.metrics, "metrics", "", "txgate's metrics host:port")
	flag.StringVar(&cfg.cluster, "cluster", "", "tests/support/cluster.sh DIR")
	flag.StringVar(&cfg.repo, "repo", "", "repository root")
	flag.IntVar(&cfg.patient, "patient_writers", 6, "writers whose deadline outlasts the failover")
	flag.IntVar(&cfg.impatient, "impatient_writers", 2, "writers with a deadline shorter than the failover")
	flag.DurationVar(&cfg.patientDeadline, "patient_deadline", 15*time.Second, "")
	flag.DurationVar(&cfg.impatientDeadline, "impatient_deadline", time.Second, "")
	flag.IntVar(&cfg.accounts, "accounts", 10, "")
	flag.Int64Var(&cfg.initial, "initial", 1000, "")
	flag.DurationVar(&cfg.warmup, "warmup", 4*time.Second, "workload before the kill")
	flag.DurationVar(&cfg.detect, "detect", 2*time.Second, "from the kill to the promotion (an operator's or a tool's detection)")
	flag.DurationVar(&cfg.settle, "settle", 4*time.Second, "workload between the promotion and the switchover")
	flag.DurationVar(&cfg.tail, "tail", 3*time.Second, "workload after the switchover")
	flag.DurationVar(&cfg.budget, "budget", 60*time.Second, "a transfer's retries with its key stop after this")
	flag.BoolVar(&cfg.async, "async", false, "the cluster replicates asynchronously: acknowledged transfers lost with the old primary are reported (not a failure) and re-sent with their key, which must apply each once")
	flag.Parse()

	conn, err := grpc.NewClient(cfg.txgate, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(txgatev1.ServiceConfig))
	must("", err)
	client := txgatev1.NewDatabaseServiceClient(conn)
	setup := []string{
		"DROP TABLE IF EXISTS bank_ledger", "DROP TABLE IF EXISTS bank_accounts",
		"CREATE TABLE bank_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
		// Not unique: a transfer applied twice shows as two rows.
		"CREATE TABLE bank_ledger (seq BIGINT AUTO_INCREMENT PRIMARY KEY, transfer_id VARCHAR(64) NOT NULL, amount BIGINT NOT NULL, KEY (transfer_id)) ENGINE=InnoDB",
	}
	for i := 1; i <= cfg.accounts; i++ {
		setup = append(setup, fmt.Sprintf("INSERT INTO bank_accounts VALUES (%d, %d)", i, cfg.initial))
	}
	for _, s := range setup {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Execute(ctx, &txgatev1.ExecuteRequest{Sql: s})
		cancel()
		must("", err)
	}

	rec := &recorder{acked: map[string]time.Time{}, failed: map[string]string{},
		requests: map[string]*txgatev1.RunTransactionRequest{}}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < cfg.patient+cfg.impatient; i++ {
		patient := i < cfg.patient
		name := fmt.Sprintf("p%d", i)
		if !patient {
			name = fmt.Sprintf("i%d", i)
		}
		wg.Add(1)
		go func() { defer wg.Done(); writer(ctx, cfg, client, rec, name, patient) }()
	}
	bufferedBefore := metric(cfg, "txgate_failover_buffered_calls_total")
	// Readiness, every 100 ms: NOT_SERVING while no primary answers.
	health := healthpb.NewHealthClient(conn)
	var notServing time.Duration
	var healthMu sync.Mutex
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		for ctx.Err() == nil {
			hctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
			cancel()
			if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				healthMu.Lock()
				notServing += 100 * time.Millisecond
				healthMu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	time.Sleep(cfg.warmup)
	oldPrimary := must(harness(cfg, "primary"))
	must(harness(cfg, "kill-primary"))
	tKill := time.Now() // the primary is gone (kill-primary waits for its exit)
	time.Sleep(cfg.detect)
	newPrimary := must(harness(cfg, "newest"))
	must(harness(cfg, "promote", newPrimary))
	tPromoted := time.Now()
	time.Sleep(cfg.settle)
	bufferedFailover := metric(cfg, "txgate_failover_buffered_calls_total") - bufferedBefore
	target := must(harness(cfg, "newest"))
	tSwitch := time.Now()
	must(harness(cfg, "switchover", target))
	tSwitched := time.Now()
	time.Sleep(cfg.tail)
	stop()
	wg.Wait()
	<-healthDone
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	finalHealth, herr := health.Check(hctx, &healthpb.HealthCheckRequest{})
	hcancel()
	bufferedSwitch := metric(cfg, "txgate_failover_buffered_calls_total") - bufferedBefore - bufferedFailover

	bad := []string{}
	// The truth, on the primary now.
	primary := must(harness(cfg, "primary"))
	sql := func(q string) string { return must(harness(cfg, "sql", primary, q)) }
	total, _ := strconv.ParseInt(sql("SELECT SUM(balance) FROM txgate.bank_accounts"), 10, 64)
	dups := sql("SELECT transfer_id, COUNT(*) FROM txgate.bank_ledger GROUP BY transfer_id HAVING COUNT(*) > 1")
	present := map[string]bool{}
	for _, id := range strings.Fields(sql("SELECT transfer_id FROM txgate.bank_ledger")) {
		present[id] = true
	}
	var missing []string
	for id := range rec.acked {
		if !present[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 && !cfg.async {
		fmt.Printf("  %d acknowledged transfers missing before the re-send: %v\n", len(missing), missing[:min(5, len(missing))])
	}
	// Clients that re-send every acknowledged transfer, with its key, after
	// it all: one on the new primary gets its stored answer (not run again);
	// one lost with the old primary (asynchronous replication) runs now,
	// once. Then nothing may be missing or doubled.
	resendErrors := 0
	for id, req := range rec.requests {
		rctx, cancel := context.WithTimeout(context.Background(), cfg.patientDeadline)
		_, err := client.RunTransaction(rctx, req)
		cancel()
		if err != nil {
			resendErrors++
			fmt.Printf("  re-send of %s: %v\n", id, err)
		}
	}
	lostThenRerun := len(missing)
	present = map[string]bool{}
	for _, id := range strings.Fields(sql("SELECT transfer_id FROM txgate.bank_ledger")) {
		present[id] = true
	}
	missing = missing[:0]
	for id := range rec.acked {
		if !present[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	total, _ = strconv.ParseInt(sql("SELECT SUM(balance) FROM txgate.bank_accounts"), 10, 64)
	dups = sql("SELECT transfer_id, COUNT(*) FROM txgate.bank_ledger GROUP BY transfer_id HAVING COUNT(*) > 1")
	fmt.Printf("  every acknowledged transfer re-sent with its key: %d errors; lost with the old primary and run again by the re-send: %d\n",
		resendErrors, lostThenRerun)
	if resendErrors > 0 {
		bad = append(bad, fmt.Sprintf("%d re-sends failed", resendErrors))
	}
	if lostThenRerun > 0 && !cfg.async {
		bad = append(bad, fmt.Sprintf("%d acknowledged transfers were missing on the new primary under semi-synchronous replication", lostThenRerun))
	}
	unacked := 0
	for id := range present {
		if _, ok := rec.acked[id]; !ok {
			unacked++
		}
	}

	windows := []window{
		{"failover", tKill, tPromoted.Add(cfg.settle), tPromoted},
		{"switchover", tSwitch, tSwitched.Add(cfg.tail), tSwitched},
	}
	firstOK := time.Duration(-1)
	for _, a := range rec.attempts {
		if a.code == codes.OK && a.start.After(tKill) && (firstOK < 0 || a.end.Sub(tKill) < firstOK) {
			firstOK = a.end.Sub(tKill)
		}
	}
	fmt.Printf("failover test: %d writers with a %s deadline, %d with %s; primary %s SIGKILLed, %s promoted after %s (promote done %.2fs after the kill); switchover %s -> %s took %.2fs\n",
		cfg.patient, cfg.patientDeadline, cfg.impatient, cfg.impatientDeadline,
		oldPrimary, newPrimary, cfg.detect, tPromoted.Sub(tKill).Seconds(), newPrimary, target, tSwitched.Sub(tSwitch).Seconds())
	fmt.Printf("  transfers acknowledged %d, failed %d, applied but unacknowledged %d; attempts %d\n",
		len(rec.acked), len(rec.failed), unacked, len(rec.attempts))
	fmt.Printf("  time to first success after the kill (an attempt begun after it): %.2fs\n", firstOK.Seconds())
	fmt.Printf("  calls buffered (txgate_failover_buffered_calls_total): failover %.0f, switchover %.0f\n", bufferedFailover, bufferedSwitch)
	for _, w := range windows {
		counts := map[string]int{}
		patientErrs, shorter := 0, 0
		for _, a := range rec.attempts {
			if a.code == codes.OK || a.end.Before(w.from) || a.start.After(w.to) {
				continue
			}
			deadline := cfg.impatientDeadline
			who := "impatient"
			if a.patient {
				deadline, who = cfg.patientDeadline, "patient"
			}
			if a.start.Add(deadline).Before(w.resolved.Add(slack)) {
				shorter++ // its deadline ended before the new primary was in place
			} else {
				patientErrs++
				who = "VIOLATION " + who
			}
			counts[fmt.Sprintf("%s %s %s", who, a.code, a.reason)]++
		}
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Printf("  caller errors during the %s (%.2fs): %d of calls whose deadline outlasted it, %d of calls whose deadline did not",
			w.name, w.resolved.Sub(w.from).Seconds(), patientErrs, shorter)
		for _, k := range keys {
			fmt.Printf("; %s: %d", k, counts[k])
		}
		fmt.Println()
		if patientErrs > 0 {
			bad = append(bad, fmt.Sprintf("%d errors of calls whose deadline outlasted the %s", patientErrs, w.name))
		}
	}
	patientOther := 0
	for _, a := range rec.attempts {
		inWindow := false
		for _, w := range windows {
			inWindow = inWindow || !(a.end.Before(w.from) || a.start.After(w.to))
		}
		if a.patient && a.code != codes.OK && !inWindow {
			patientOther++
		}
	}
	if want := int64(cfg.accounts) * cfg.initial; total != want {
		bad = append(bad, fmt.Sprintf("total balance %d, want %d", total, want))
	}
	if dups != "" {
		bad = append(bad, "transfers applied twice: "+strings.ReplaceAll(dups, "\n", ", "))
	}
	if len(missing) > 0 {
		bad = append(bad, fmt.Sprintf("%d acknowledged transfers missing on the new primary, e.g. %v", len(missing), missing[:min(5, len(missing))]))
	}
	if patientOther > 0 && len(bad) == 0 {
		bad = append(bad, fmt.Sprintf("%d errors of patient callers outside the windows", patientOther))
	}
	for id, why := range rec.failed {
		if strings.HasPrefix(id, "p") {
			bad = append(bad, fmt.Sprintf("patient transfer %s failed: %s", id, why))
			break
		}
	}
	healthMu.Lock()
	fmt.Printf("  readiness NOT_SERVING for about %.1fs in all (polled every 100 ms); at the end: %v\n",
		notServing.Seconds(), finalHealth.GetStatus())
	healthMu.Unlock()
	if herr != nil || finalHealth.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		bad = append(bad, fmt.Sprintf("readiness at the end: %v %v", finalHealth.GetStatus(), herr))
	}
	fmt.Printf("  invariant: total %d (want %d); duplicates: %d; acknowledged missing: %d\n",
		total, int64(cfg.accounts)*cfg.initial, len(strings.Fields(dups))/2, len(missing))
	if len(bad) > 0 {
		fmt.Println("FAIL:", strings.Join(bad, "; "))
		os.Exit(1)
	}
	fmt.Println("PASS")
}
