package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	txgatev1 "github.com/txgate/txgate/client/go/txgatev1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The bank lives in its own database, recreated by every run.
const bankDB = "txgate_chaos"

// Transfer is one money transfer and what its client was told.
type Transfer struct {
	ID     string // also its idempotency key
	From   int
	To     int
	Amount int64
	Phase  string // "workload", "commit-window", "probe"
	Kind   string // KindGuarded or KindProcedure: how the request moves the money
	Req    *txgatev1.RunTransactionRequest

	// Written by the one goroutine that runs the transfer; read after it is done.
	Done        bool
	Acked       bool
	Attempts    int        // RPC attempts the client made
	ServerRuns  uint32     // the acknowledged response's attempts: runs of the transaction inside txgate
	FinalCode   codes.Code // the last status when not acknowledged
	FinalReason string
	FinalMsg    string
	BadAck      string // set when an acknowledgement's response is malformed
	Resolved    bool   // not acknowledged, but the checker's retry with the key answered OK
	Refused     bool   // the checker's retry with the key was refused too (EXPECTATION_FAILED)
	NoKey       bool   // sent without an idempotency key (the commit-window calibration)
}

// Stats are the counters of the whole run.
type Stats struct {
	WorkloadErrs CodeCounter // every failed RunTransaction attempt of a workload transfer
	CWErrs       CodeCounter // ... of the commit-window test
	ResolveErrs  CodeCounter // ... of the checker's retries with the keys
	ReadErrs     CodeCounter // every failed read RPC
	ReadsOK      atomic.Int64
	ReadsFailed  atomic.Int64
	ReadsExecute atomic.Int64
	ReadsTxn     atomic.Int64
}

// Bank runs the workload and keeps every transfer it attempted.
type Bank struct {
	cfg       *Config
	client    txgatev1.DatabaseServiceClient
	admin     *Admin
	runID     string
	stats     *Stats
	acks      *AckTracker
	anomalies *Anomalies

	errs atomic.Pointer[CodeCounter] // where Submit counts failed attempts now

	mu        sync.Mutex
	transfers []*Transfer
	seq       atomic.Int64
}

// How a transfer moves the money. Both are conditional: the debit is guarded
// by the balance, so that no balance can go negative, and a short one must
// roll the whole transfer back (FAILED_PRECONDITION / EXPECTATION_FAILED).
const (
	// Debit `... AND balance >= ?` expecting min_affected_rows 1, credit
	// expecting affected_rows 1, ledger row.
	KindGuarded = "guarded"
	// CALL transfer(...), a stored procedure doing the guarded debit, the
	// credit and the ledger row (nothing when short), then a SELECT of the
	// transfer's ledger row expecting min_rows 1.
	KindProcedure = "procedure"
)

// ReasonExpectationFailed is txgate's answer to a transfer refused for
// want of money: nothing of it was applied, and its key was not used up.
const ReasonExpectationFailed = "EXPECTATION_FAILED"

// Refusal reports whether a transfer's client was told it was refused for
// want of money (a definite failure: nothing applied).
func (t *Transfer) Refusal() bool {
	return !t.Acked && t.FinalCode == codes.FailedPrecondition && t.FinalReason == ReasonExpectationFailed
}

func (b *Bank) ExpectedTotal() int64 { return int64(b.cfg.Accounts) * b.cfg.Initial }

// SetupSchema recreates the bank: N accounts holding Initial each, and an
// empty ledger. The ledger's transfer_id is deliberately NOT unique: a
// transfer applied twice must show up as two rows, not be hidden by a
// duplicate-key error.
func (b *Bank) SetupSchema() error {
	stmts := []string{
		"DROP DATABASE IF EXISTS " + bankDB,
		"CREATE DATABASE " + bankDB,
		"CREATE TABLE " + bankDB + ".accounts (id INT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
		"CREATE TABLE " + bankDB + ".ledger (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, " +
			"transfer_id VARCHAR(64) NOT NULL, from_id INT NOT NULL, to_id INT NOT NULL, amount BIGINT NOT NULL, " +
			"KEY (transfer_id)) ENGINE=InnoDB",
		// txgate's account has rights on its own database only
		// (deploy/local/mariadb.sh): the bank's are granted here.
		"GRANT SELECT, INSERT, UPDATE, DELETE ON " + bankDB + ".* TO 'txgate'@'127.0.0.1', 'txgate'@'localhost'",
	}
	stmts = append(stmts,
		// The procedure's transfer: the guarded debit, then (only if it
		// matched) the credit and the ledger row.
		"CREATE PROCEDURE "+bankDB+".transfer(IN tid VARCHAR(64), IN src INT, IN dst INT, IN amt BIGINT)\n"+
			"BEGIN\n"+
			"  UPDATE "+bankDB+".accounts SET balance = balance - amt WHERE id = src AND balance >= amt;\n"+
			"  IF ROW_COUNT() = 1 THEN\n"+
			"    UPDATE "+bankDB+".accounts SET balance = balance + amt WHERE id = dst;\n"+
			"    INSERT INTO "+bankDB+".ledger (transfer_id, from_id, to_id, amount) VALUES (tid, src, dst, amt);\n"+
			"  END IF;\n"+
			"END",
		// What txgate's account needs here, should it have no more.
		"GRANT SELECT, INSERT, UPDATE, EXECUTE ON "+bankDB+".* TO 'txgate'@'127.0.0.1', 'txgate'@'localhost'",
	)
	for _, s := range stmts {
		if err := b.admin.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	for i := 1; i <= b.cfg.Accounts; i++ {
		if err := b.admin.Exec("INSERT INTO "+bankDB+".accounts (id, balance) VALUES (?, ?)", i, b.cfg.Initial); err != nil {
			return err
		}
	}
	return nil
}

func i64(v int64) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_Int64Value{Int64Value: v}}
}

func str(v string) *txgatev1.Value {
	return &txgatev1.Value{Kind: &txgatev1.Value_StringValue{StringValue: v}}
}

func stmt(sql string, params ...*txgatev1.Value) *txgatev1.Statement {
	return &txgatev1.Statement{Sql: sql, Params: params}
}

func u64(v uint64) *uint64 { return &v }

// TransferRequest: the guarded debit (expecting a matched row), the credit
// and the ledger row, as one transaction whose idempotency key is the
// transfer id. The two UPDATEs go in account order (few deadlocks) unless
// natural is set (debit first: some deadlocks, which txgate must re-run by
// itself).
func TransferRequest(id string, from, to int, amount int64, natural bool) *txgatev1.RunTransactionRequest {
	debit := stmt("UPDATE "+bankDB+".accounts SET balance = balance - ? WHERE id = ? AND balance >= ?",
		i64(amount), i64(int64(from)), i64(amount))
	debit.Expect = &txgatev1.Expectation{MinAffectedRows: u64(1)}
	credit := stmt("UPDATE "+bankDB+".accounts SET balance = balance + ? WHERE id = ?", i64(amount), i64(int64(to)))
	credit.Expect = &txgatev1.Expectation{AffectedRows: u64(1)}
	ins := stmt("INSERT INTO "+bankDB+".ledger (transfer_id, from_id, to_id, amount) VALUES (?, ?, ?, ?)",
		str(id), i64(int64(from)), i64(int64(to)), i64(amount))
	first, second := debit, credit
	if !natural && to < from {
		first, second = credit, debit
	}
	return &txgatev1.RunTransactionRequest{
		Statements:     []*txgatev1.Statement{first, second, ins},
		IdempotencyKey: id,
	}
}

// ProcedureTransferRequest: CALL transfer(...) (which moves nothing when the
// balance is short), then the transfer's ledger row, expected to be there:
// a short balance rolls the transaction back with EXPECTATION_FAILED.
func ProcedureTransferRequest(id string, from, to int, amount int64) *txgatev1.RunTransactionRequest {
	call := stmt("CALL "+bankDB+".transfer(?, ?, ?, ?)", str(id), i64(int64(from)), i64(int64(to)), i64(amount))
	check := stmt("SELECT seq FROM "+bankDB+".ledger WHERE transfer_id = ?", str(id))
	check.Expect = &txgatev1.Expectation{MinRows: u64(1)}
	return &txgatev1.RunTransactionRequest{Statements: []*txgatev1.Statement{call, check}, IdempotencyKey: id}
}

// CheckAck says what is wrong with an acknowledged transfer's response, or "".
func CheckAck(kind string, resp *txgatev1.RunTransactionResponse) string {
	if kind == KindProcedure {
		if n := len(resp.GetResults()); n != 2 {
			return fmt.Sprintf("%d results instead of 2", n)
		}
		if n := len(resp.GetResults()[1].GetRows()); n != 1 {
			return fmt.Sprintf("the ledger check returned %d rows instead of 1", n)
		}
		return ""
	}
	if len(resp.GetResults()) != 3 {
		return fmt.Sprintf("%d results instead of 3", len(resp.GetResults()))
	}
	for i, r := range resp.GetResults() {
		if r.GetAffectedRows() != 1 {
			return fmt.Sprintf("statement %d affected %d rows instead of 1", i+1, r.GetAffectedRows())
		}
	}
	return ""
}

// NewTransfer makes (and registers) a random transfer from `from` (0: a
// random account). A workload transfer is one of ProcedureShare a
// procedure's, the others guarded statements; one in BigShare is big (up
// to 1.5 times the initial balance), so that some find too little money and
// are refused. Other phases send small guarded transfers.
func (b *Bank) NewTransfer(phase, tag string, from int, rng *rand.Rand) *Transfer {
	if from == 0 {
		from = 1 + rng.IntN(b.cfg.Accounts)
	}
	to := 1 + rng.IntN(b.cfg.Accounts-1)
	if to >= from {
		to++
	}
	t := &Transfer{
		ID:     fmt.Sprintf("%s-%s-%06d", b.runID, tag, b.seq.Add(1)),
		From:   from,
		To:     to,
		Amount: 1 + rng.Int64N(100),
		Phase:  phase,
		Kind:   KindGuarded,
	}
	if phase == "workload" {
		if rng.Float64() < b.cfg.BigShare {
			t.Amount = b.cfg.Initial/2 + rng.Int64N(b.cfg.Initial)
		}
		if rng.Float64() < b.cfg.ProcedureShare {
			t.Kind = KindProcedure
		}
	}
	if t.Kind == KindProcedure {
		t.Req = ProcedureTransferRequest(t.ID, t.From, t.To, t.Amount)
	} else {
		t.Req = TransferRequest(t.ID, t.From, t.To, t.Amount, rng.IntN(10) == 0)
	}
	if b.cfg.NoKeys {
		t.NoKey = true
		t.Req.IdempotencyKey = ""
	}
	b.mu.Lock()
	b.transfers = append(b.transfers, t)
	b.mu.Unlock()
	return t
}

func (b *Bank) Transfers() []*Transfer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Transfer(nil), b.transfers...)
}

// Submit sends req with the client's retry policy; failed attempts are
// counted as client-visible errors.
func (b *Bank) Submit(ctx context.Context, req *txgatev1.RunTransactionRequest, p Policy, onAttempt func(Attempt)) (*txgatev1.RunTransactionResponse, int, error) {
	var resp *txgatev1.RunTransactionResponse
	n, err := CallWithRetry(ctx, p, func(c context.Context) error {
		r, err := b.client.RunTransaction(c, req)
		if err == nil {
			resp = r
		}
		return err
	}, func(a Attempt) {
		if a.Code != codes.OK {
			b.errs.Load().Add(a.Code, a.Reason)
		}
		if onAttempt != nil {
			onAttempt(a)
		}
	})
	return resp, n, err
}

// Run runs t to its end with the client policy and records what the client
// was told.
func (b *Bank) Run(ctx context.Context, t *Transfer, p Policy, onAttempt func(Attempt)) {
	resp, n, err := b.Submit(ctx, t.Req, p, onAttempt)
	t.Attempts = n
	if err == nil {
		t.Acked = true
		t.ServerRuns = resp.GetAttempts()
		if bad := CheckAck(t.Kind, resp); bad != "" {
			t.BadAck = bad
			b.anomalies.Add("acknowledgement with a wrong response", "%s: %s", t.ID, bad)
		}
		b.acks.Ack(time.Now())
	} else {
		st := status.Convert(err)
		t.FinalCode, t.FinalReason, t.FinalMsg = st.Code(), Reason(st), st.Message()
		if t.FinalReason == "IDEMPOTENCY_KEY_REUSED" {
			b.anomalies.Add("key refused as reused for the same request", "%s: %s", t.ID, st.Message())
		}
	}
	t.Done = true
}

// Writers run transfers at a bounded total rate until ctx ends.
func (b *Bank) Writers(ctx context.Context, p Policy) {
	tokens := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / b.cfg.Rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case tokens <- struct{}{}:
				default: // all writers busy: the tick is lost (no bursts later)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < b.cfg.Writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(b.cfg.Seed), uint64(w)+1))
			for {
				select {
				case <-ctx.Done():
					return
				case <-tokens:
				}
				t := b.NewTransfer("workload", "w", 0, rng)
				// A transfer that has started runs to its end, even past
				// the workload's end: its client must be told something.
				if w < b.cfg.Impatient {
					b.Run(context.Background(), t, impatientPolicy, nil)
				} else {
					b.Run(context.Background(), t, p, nil)
				}
			}
		}(w)
	}
	wg.Wait()
}

// Value as an integer: SUM/COUNT come back as integers or exact decimals.
func valInt(v *txgatev1.Value) (int64, error) {
	switch k := v.GetKind().(type) {
	case *txgatev1.Value_Int64Value:
		return k.Int64Value, nil
	case *txgatev1.Value_Uint64Value:
		return int64(k.Uint64Value), nil
	case *txgatev1.Value_DecimalValue:
		return strconv.ParseInt(k.DecimalValue, 10, 64)
	case *txgatev1.Value_StringValue:
		return strconv.ParseInt(k.StringValue, 10, 64)
	}
	return 0, fmt.Errorf("not an integer: %v", v)
}

// Readers read the total while the transfers run; every successful read must
// see exactly the initial total and all the accounts.
func (b *Bank) Readers(ctx context.Context) {
	var wg sync.WaitGroup
	for r := 0; r < b.cfg.Readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := r; ctx.Err() == nil; i++ {
				b.ReadOnce(ctx, i%2 == 0)
				select {
				case <-ctx.Done():
				case <-time.After(b.cfg.ReadInterval):
				}
			}
		}(r)
	}
	wg.Wait()
}

// ReadOnce reads the total once: one SUM statement (Execute), or a
// read-only RunTransaction that sums two halves of the accounts in one
// snapshot. It reports whether the read succeeded.
func (b *Bank) ReadOnce(parent context.Context, useExecute bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stop := context.AfterFunc(parent, cancel)
	defer stop()
	var total, count int64
	var err error
	if useExecute {
		b.stats.ReadsExecute.Add(1)
		var resp *txgatev1.ExecuteResponse
		resp, err = b.client.Execute(ctx, &txgatev1.ExecuteRequest{
			Sql: "SELECT CAST(SUM(balance) AS SIGNED), COUNT(*), MIN(balance) FROM " + bankDB + ".accounts",
		})
		if err == nil {
			var least int64
			total, count, least, err = sumMinRow(resp.GetResult())
			if err == nil && least < 0 {
				b.anomalies.Add("a read saw a negative balance", "the least balance was %d", least)
			}
		}
	} else {
		b.stats.ReadsTxn.Add(1)
		half := int64(b.cfg.Accounts / 2)
		q := "SELECT CAST(COALESCE(SUM(balance), 0) AS SIGNED), COUNT(*) FROM " + bankDB + ".accounts WHERE "
		var resp *txgatev1.RunTransactionResponse
		resp, err = b.client.RunTransaction(ctx, &txgatev1.RunTransactionRequest{
			Statements: []*txgatev1.Statement{stmt(q+"id <= ?", i64(half)), stmt(q+"id > ?", i64(half))},
			Options:    &txgatev1.TransactionOptions{ReadOnly: true},
		})
		if err == nil {
			for _, rs := range resp.GetResults() {
				if total, count, err = sumRows(rs, total, count); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		if parent.Err() != nil && status.Code(err) == codes.Canceled {
			return false // the workload ended under it: not a fault's doing
		}
		b.stats.ReadsFailed.Add(1)
		st := status.Convert(err)
		b.stats.ReadErrs.Add(st.Code(), Reason(st))
		return false
	}
	b.stats.ReadsOK.Add(1)
	if total != b.ExpectedTotal() || count != int64(b.cfg.Accounts) {
		b.anomalies.Add("a read saw the total changed", "read (execute=%v) saw total %d over %d accounts, expected %d over %d",
			useExecute, total, count, b.ExpectedTotal(), b.cfg.Accounts)
	}
	return true
}

// sumMinRow reads the one row of SUM, COUNT and MIN.
func sumMinRow(rs *txgatev1.ResultSet) (total, count, least int64, err error) {
	if len(rs.GetRows()) != 1 || len(rs.GetRows()[0].GetValues()) != 3 {
		return 0, 0, 0, status.Errorf(codes.Internal, "unexpected result shape: %v", rs)
	}
	v := rs.GetRows()[0].GetValues()
	for i, dst := range []*int64{&total, &count, &least} {
		if *dst, err = valInt(v[i]); err != nil {
			return 0, 0, 0, status.Errorf(codes.Internal, "%v", err)
		}
	}
	return total, count, least, nil
}

func sumRows(rs *txgatev1.ResultSet, total, count int64) (int64, int64, error) {
	if len(rs.GetRows()) != 1 || len(rs.GetRows()[0].GetValues()) != 2 {
		return 0, 0, status.Errorf(codes.Internal, "unexpected result shape: %v", rs)
	}
	v := rs.GetRows()[0].GetValues()
	t, err := valInt(v[0])
	if err != nil {
		return 0, 0, status.Errorf(codes.Internal, "%v", err)
	}
	c, err := valInt(v[1])
	if err != nil {
		return 0, 0, status.Errorf(codes.Internal, "%v", err)
	}
	return total + t, count + c, nil
}
