// Command chaos is txgate's fault-injection suite: a bank workload runs
// through txgate while real faults hit the path between txgate and MariaDB
// (toxiproxy toxics, the proxy going down, KILL CONNECTION of txgate's
// sessions, mariadbd SIGKILLed and restarted), then a checker proves from
// MariaDB itself that nothing was lost or applied twice. tests/chaos/run.sh
// starts MariaDB, toxiproxy and txgate and runs it; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	txgatev1 "github.com/txgate/txgate/client/go/txgatev1"
)

type Config struct {
	Profile       string
	TxgateAddr    string
	ToxiAddr      string
	ProxyName     string
	Repo          string
	DBDir         string
	DBPort        int
	Server        string // for the report
	Results       string
	Accounts      int
	Initial       int64
	Duration      time.Duration
	Writers       int
	Readers       int
	ReadInterval  time.Duration
	Rate          float64
	FaultsPerKind int
	Kinds         string
	CWIterations  int
	CWLatency     time.Duration
	CWCalibration int
	Sample        int
	Seed          int64
	NoKeys        bool
	Impatient     int
	// Shares of the workload's transfers: run by the stored procedure, and big
	// (so that some find too little money and must be refused whole).
	ProcedureShare float64
	BigShare       float64
}

var logMu sync.Mutex
var t0 = time.Now()

func logf(format string, args ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(os.Stderr, "[chaos %6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	cfg := &Config{}
	flag.StringVar(&cfg.Profile, "profile", "short", "short (CI) or long")
	flag.StringVar(&cfg.TxgateAddr, "txgate", "", "txgate's host:port")
	flag.StringVar(&cfg.ToxiAddr, "toxiproxy", "", "toxiproxy's API host:port")
	flag.StringVar(&cfg.ProxyName, "proxy", "mariadb", "the toxiproxy proxy between txgate and MariaDB")
	flag.StringVar(&cfg.Repo, "repo", "", "repository root (for deploy/local/mariadb.sh)")
	flag.StringVar(&cfg.DBDir, "db_dir", "", "MariaDB's directory (deploy/local/mariadb.sh DIR)")
	flag.IntVar(&cfg.DBPort, "db_port", 0, "MariaDB's TCP port")
	flag.StringVar(&cfg.Server, "server", "", "the txgate-server binary (shown in the report)")
	flag.StringVar(&cfg.Results, "results", "", "also write the report to this file")
	flag.IntVar(&cfg.Accounts, "accounts", 20, "bank accounts")
	flag.Int64Var(&cfg.Initial, "initial", 1000, "initial balance of each account")
	flag.DurationVar(&cfg.Duration, "duration", 0, "workload duration (profile default)")
	flag.IntVar(&cfg.Writers, "writers", 0, "concurrent transfer clients (profile default)")
	flag.IntVar(&cfg.Impatient, "impatient_writers", 1, "writers (of -writers) with a tight deadline and few retries, whose transfers often end unacknowledged")
	flag.IntVar(&cfg.Readers, "readers", 0, "concurrent readers of the total (profile default)")
	flag.DurationVar(&cfg.ReadInterval, "read_interval", 50*time.Millisecond, "pause between a reader's reads")
	flag.Float64Var(&cfg.Rate, "rate", 0, "most transfers started per second, all writers together (profile default)")
	flag.IntVar(&cfg.FaultsPerKind, "faults_per_kind", 0, "faults of each kind during the workload (profile default)")
	flag.StringVar(&cfg.Kinds, "kinds", strings.Join(FaultKinds, ","), "fault kinds to inject")
	flag.IntVar(&cfg.CWIterations, "commit_window", -1, "iterations of the commit-window test (profile default)")
	flag.IntVar(&cfg.CWCalibration, "commit_window_calibration", -1, "commit-window iterations without a key, first (profile default)")
	flag.DurationVar(&cfg.CWLatency, "commit_window_latency", 100*time.Millisecond, "the latency toxic of the commit-window test")
	flag.IntVar(&cfg.Sample, "resend_sample", 50, "acknowledged transfers re-sent with their key at the end")
	flag.Int64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock)")
	flag.Float64Var(&cfg.ProcedureShare, "procedure_share", 0.4, "share of workload transfers made by CALL transfer(...) instead of guarded statements")
	flag.Float64Var(&cfg.BigShare, "big_share", 0.15, "share of workload transfers of 0.5 to 1.5 times the initial balance (often refused for want of money)")
	flag.BoolVar(&cfg.NoKeys, "no_keys", false, "negative control: send transfers without idempotency keys and retry them anyway (the checker must then find duplicates)")
	flag.Parse()

	type profile struct {
		duration              time.Duration
		writers, readers      int
		rate                  float64
		perKind, cwIterations int
		cwCalibration         int
	}
	profiles := map[string]profile{
		"short": {90 * time.Second, 8, 2, 100, 12, 20, 4},
		"long":  {15 * time.Minute, 12, 3, 100, 50, 200, 20},
	}
	pr, ok := profiles[cfg.Profile]
	if !ok || cfg.TxgateAddr == "" || cfg.ToxiAddr == "" || cfg.Repo == "" || cfg.DBDir == "" || cfg.DBPort == 0 {
		fmt.Fprintln(os.Stderr, "usage: chaos -profile short|long -txgate H:P -toxiproxy H:P -repo DIR -db_dir DIR -db_port N [flags]; run it through tests/chaos/run.sh")
		os.Exit(2)
	}
	if cfg.Duration == 0 {
		cfg.Duration = pr.duration
	}
	if cfg.Writers == 0 {
		cfg.Writers = pr.writers
	}
	if cfg.Readers == 0 {
		cfg.Readers = pr.readers
	}
	if cfg.Rate == 0 {
		cfg.Rate = pr.rate
	}
	if cfg.FaultsPerKind == 0 {
		cfg.FaultsPerKind = pr.perKind
	}
	if cfg.CWIterations < 0 {
		cfg.CWIterations = pr.cwIterations
	}
	if cfg.CWCalibration < 0 {
		cfg.CWCalibration = pr.cwCalibration
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1000000
	}
	_ = mysql.SetLogger(log.New(io.Discard, "", 0)) // the admin channel meets restarts by design
	os.Exit(run(cfg))
}

// Policies: what the clients of this suite do with a failed RPC.
var (
	workloadPolicy = Policy{AttemptTimeout: 5 * time.Second, Budget: 20 * time.Second, MaxAttempts: 10,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: time.Second}
	// Impatient clients give up soon: they leave transfers whose outcome
	// they do not know, for the checker to find by their keys.
	impatientPolicy = Policy{AttemptTimeout: 300 * time.Millisecond, Budget: time.Second, MaxAttempts: 2,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	cwPolicy = Policy{AttemptTimeout: 10 * time.Second, Budget: 30 * time.Second, MaxAttempts: 10,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: time.Second}
	resolvePolicy = Policy{AttemptTimeout: 10 * time.Second, Budget: 60 * time.Second, MaxAttempts: 20,
		BackoffInitial: 100 * time.Millisecond, BackoffMax: 2 * time.Second}
)

func run(cfg *Config) int {
	started := time.Now()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 1))
	runID := fmt.Sprintf("%08x", rand.Uint32())
	admin, err := NewAdmin(cfg.Repo, cfg.DBDir, cfg.DBPort)
	if err != nil {
		logf("admin connection: %v", err)
		return 2
	}
	toxi := NewToxi(cfg.ToxiAddr, cfg.ProxyName)
	// Whatever happens, leave the path clean and MariaDB running.
	defer func() {
		_ = toxi.Reset()
		if err := admin.StartServer(); err != nil {
			logf("restarting MariaDB at exit: %v", err)
		}
	}()
	conn, err := Dial(cfg.TxgateAddr)
	if err != nil {
		logf("dial: %v", err)
		return 2
	}
	defer conn.Close()
	an := &Anomalies{}
	stats := &Stats{}
	acks := &AckTracker{}
	bank := &Bank{cfg: cfg, client: txgatev1.NewDatabaseServiceClient(conn), admin: admin, runID: runID,
		stats: stats, acks: acks, anomalies: an}
	bank.errs.Store(&stats.WorkloadErrs)

	if err := toxi.Reset(); err != nil {
		logf("toxiproxy: %v", err)
		return 2
	}
	if err := bank.SetupSchema(); err != nil {
		logf("schema: %v", err)
		return 2
	}
	if !bank.WaitHealthy(context.Background(), 30*time.Second) {
		logf("txgate does not answer reads")
		return 2
	}
	logf("run %s, seed %d: %d accounts x %d; workload %v, %d writers (<= %.0f transfers/s), %d readers",
		runID, cfg.Seed, cfg.Accounts, cfg.Initial, cfg.Duration, cfg.Writers, cfg.Rate, cfg.Readers)

	// The workload, with the faults spread over its first 90%.
	var kinds []string
	for _, k := range strings.Split(cfg.Kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, k)
		}
	}
	plan := Plan(kinds, cfg.FaultsPerKind, rng)
	inj := &Injector{toxi: toxi, admin: admin, acks: acks, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 2))}
	// The workload lasts its duration, and longer if the faults ran late:
	// every planned fault is injected while the workload runs.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); bank.Readers(ctx) }()
	go func() { defer wg.Done(); bank.Writers(ctx, workloadPolicy) }()
	go func() {
		defer wg.Done()
		injStart := time.Now()
		inj.Run(context.Background(), plan, cfg.Duration*9/10)
		tail := max(time.Until(injStart.Add(cfg.Duration)), 3*time.Second)
		time.Sleep(tail) // a quiet end: the last fault's recovery is measured too
		stop()
	}()
	progressDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-tick.C:
				acked := 0
				ts := bank.Transfers()
				for _, t := range ts {
					if t.Done && t.Acked {
						acked++
					}
				}
				logf("workload: %d transfers started, %d acknowledged, %d faults, %d reads ok, anomalies %d",
					len(ts), acked, len(inj.Faults()), stats.ReadsOK.Load(), an.Total())
			}
		}
	}()
	wg.Wait()
	stop()
	close(progressDone)
	workloadEnd := time.Now()
	logf("workload done: %d transfers", len(bank.Transfers()))
	if err := toxi.Reset(); err != nil {
		logf("toxiproxy reset: %v", err)
	}
	if err := admin.StartServer(); err != nil {
		logf("MariaDB: %v", err)
	}

	// The commit window.
	bank.errs.Store(&stats.CWErrs)
	var cw []*CWResult
	if cfg.CWIterations+cfg.CWCalibration > 0 {
		logf("commit-window test: %d calibration iterations without a key, %d with, latency %v", cfg.CWCalibration, cfg.CWIterations, cfg.CWLatency)
		cw, err = bank.CommitWindow(context.Background(), toxi, cfg.CWCalibration, cfg.CWIterations, cfg.CWLatency, cwPolicy)
		if err != nil {
			an.Add("commit window: the test could not run", "%v", err)
		}
		_ = toxi.Reset()
	}
	cwEnd := time.Now()

	// The faults have stopped: check, resolve with the keys, check again.
	bank.errs.Store(&stats.ResolveErrs)
	_ = admin.StartServer()
	if !bank.WaitHealthy(context.Background(), 60*time.Second) {
		an.Add("txgate did not recover after the faults stopped", "no successful read within 60s")
	}
	time.Sleep(2 * time.Second) // let txgate finish whatever it still ran for clients that gave up
	transfers := bank.Transfers()
	pre, err := admin.ReadState(runID)
	if err != nil {
		logf("reading the database: %v", err)
		return 2
	}
	counts := Check("before key retries", transfers, pre, cfg.Accounts, cfg.Initial, false, an)
	logf("resolution: retrying unacknowledged transfers with their keys")
	res, err := bank.Resolve(context.Background(), resolvePolicy, counts, pre.OutcomeKeys, cfg.Sample)
	if err != nil {
		an.Add("resolution could not run", "%v", err)
	}
	post, err := admin.ReadState(runID)
	if err != nil {
		logf("reading the database: %v", err)
		return 2
	}
	Check("final", transfers, post, cfg.Accounts, cfg.Initial, true, an)

	rep := Report(&ReportInput{
		Cfg: cfg, RunID: runID, Transfers: transfers, Stats: stats, Faults: inj.Faults(), CW: cw,
		Res: res, Pre: pre, Post: post, Anomalies: an,
		WorkloadTime: workloadEnd.Sub(started), CWTime: cwEnd.Sub(workloadEnd), Total: time.Since(started),
	})
	fmt.Print(rep)
	if cfg.Results != "" {
		if err := os.WriteFile(cfg.Results, []byte(rep), 0o644); err != nil {
			logf("writing %s: %v", cfg.Results, err)
		}
	}
	if an.Total() > 0 {
		return 1
	}
	return 0
}
