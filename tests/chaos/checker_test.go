package main

import (
	"strings"
	"testing"
	"time"

	txgatev1 "github.com/txgate/txgate/client/go/txgatev1"
	"google.golang.org/grpc/codes"
)

// These tests prove the checker itself: a clean history passes, and each
// kind of violation is caught.

func history() ([]*Transfer, *State) {
	ts := []*Transfer{
		{ID: "r-w-1", From: 1, To: 2, Amount: 10, Done: true, Acked: true},
		{ID: "r-w-2", From: 2, To: 3, Amount: 5, Done: true, Acked: true},
		// told UNKNOWN, but applied: fine, if the key finds it later
		{ID: "r-w-3", From: 3, To: 1, Amount: 7, Done: true, FinalCode: codes.Unknown},
		// told UNAVAILABLE and not applied: fine
		{ID: "r-w-4", From: 1, To: 3, Amount: 1, Done: true, FinalCode: codes.Unavailable},
	}
	s := &State{
		Ledger: []LedgerRow{{"r-w-1", 1, 2, 10}, {"r-w-2", 2, 3, 5}, {"r-w-3", 3, 1, 7}},
		// 1: 100-10+7, 2: 100+10-5, 3: 100+5-7
		Balances:    map[int]int64{1: 97, 2: 105, 3: 98},
		OutcomeKeys: map[string]bool{"r-w-1": true, "r-w-2": true, "r-w-3": true},
	}
	return ts, s
}

func check(ts []*Transfer, s *State, final bool) *Anomalies {
	an := &Anomalies{}
	Check("t", ts, s, 3, 100, final, an)
	return an
}

func wantAnomaly(t *testing.T, an *Anomalies, kind string) {
	t.Helper()
	if an.Count("t: "+kind) == 0 {
		t.Fatalf("no %q anomaly; got %v", kind, strings.Join(an.Lines(), "\n"))
	}
}

func TestCleanHistoryPasses(t *testing.T) {
	ts, s := history()
	if an := check(ts, s, false); an.Total() != 0 {
		t.Fatalf("anomalies in a clean history:\n%s", strings.Join(an.Lines(), "\n"))
	}
	s.OutcomeKeys = nil // txgate without an outcome table
	if an := check(ts, s, false); an.Total() != 0 {
		t.Fatalf("anomalies in a clean history:\n%s", strings.Join(an.Lines(), "\n"))
	}
}

func TestDuplicateIsCaught(t *testing.T) {
	ts, s := history()
	s.Ledger = append(s.Ledger, LedgerRow{"r-w-3", 3, 1, 7})
	s.Balances[3] -= 7
	s.Balances[1] += 7
	wantAnomaly(t, check(ts, s, false), "transfer applied more than once (duplicate)")
}

func TestLostAckIsCaught(t *testing.T) {
	ts, s := history()
	s.Ledger = s.Ledger[1:]
	s.Balances = map[int]int64{1: 107, 2: 95, 3: 98}
	delete(s.OutcomeKeys, "r-w-1")
	wantAnomaly(t, check(ts, s, false), "acknowledged transfer not applied (lost)")
}

func TestAppliedDespiteDefiniteFailureIsCaught(t *testing.T) {
	ts, s := history()
	ts[2].FinalCode = codes.Aborted
	wantAnomaly(t, check(ts, s, false), "applied although its client was told it failed")
}

func TestBalanceAndTotalAreChecked(t *testing.T) {
	ts, s := history()
	s.Balances[2]++ // money from nowhere
	an := check(ts, s, false)
	wantAnomaly(t, an, "balance differs from initial + ledger")
	wantAnomaly(t, an, "total changed")
}

func TestHalfAppliedTransferIsCaught(t *testing.T) {
	ts, s := history()
	s.Balances[1] -= 1 // a debit without its credit and ledger row
	wantAnomaly(t, check(ts, s, false), "balance differs from initial + ledger")
}

func TestOutcomeTableMustMatchTheLedger(t *testing.T) {
	ts, s := history()
	delete(s.OutcomeKeys, "r-w-2")
	s.OutcomeKeys["r-w-4"] = true
	an := check(ts, s, false)
	wantAnomaly(t, an, "committed transfer without its outcome row")
	wantAnomaly(t, an, "outcome row of a transfer that is not applied")
}

func TestUnknownAndAlteredRowsAreCaught(t *testing.T) {
	ts, s := history()
	s.Ledger[0].Amount = 11
	s.Ledger = append(s.Ledger, LedgerRow{"r-w-99", 1, 2, 0})
	an := check(ts, s, false)
	wantAnomaly(t, an, "ledger row differs from its transfer")
	wantAnomaly(t, an, "ledger row of no transfer the clients sent")
}

func TestSilentClientIsCaught(t *testing.T) {
	ts, s := history()
	ts[3].Done = false
	wantAnomaly(t, check(ts, s, false), "transfer whose client was told nothing")
}

func TestFinalRequiresResolvedTransfersApplied(t *testing.T) {
	ts, s := history()
	ts[3].Resolved = true // the key retry said OK, but r-w-4 is not in the ledger
	wantAnomaly(t, check(ts, s, true), "key retry answered OK but the transfer is not applied")
}

func TestAppliedDespiteRefusalIsCaught(t *testing.T) {
	ts, s := history()
	// Refused for want of money, yet in the ledger.
	ts[2].FinalCode, ts[2].FinalReason = codes.FailedPrecondition, ReasonExpectationFailed
	if !ts[2].Refusal() {
		t.Fatal("a FAILED_PRECONDITION/EXPECTATION_FAILED answer must count as a refusal")
	}
	wantAnomaly(t, check(ts, s, false), "applied although its client was told it failed")
	ts[2].Refused = true // ... and refused again by the key retry
	wantAnomaly(t, check(ts, s, true), "applied although its key retry was refused")
}

func TestNegativeBalanceIsCaught(t *testing.T) {
	ts, s := history()
	// A transfer of 100 from account 1 that its guard should have refused.
	ts = append(ts, &Transfer{ID: "r-w-5", From: 1, To: 2, Amount: 100, Done: true, Acked: true})
	s.Ledger = append(s.Ledger, LedgerRow{"r-w-5", 1, 2, 100})
	s.Balances[1] -= 100
	s.Balances[2] += 100
	s.OutcomeKeys["r-w-5"] = true
	an := check(ts, s, false)
	wantAnomaly(t, an, "balance went negative")
	if an.Total() != 1 {
		t.Fatalf("only the negative balance is wrong here:\n%s", strings.Join(an.Lines(), "\n"))
	}
}

func TestAcknowledgementsAreCheckedByKind(t *testing.T) {
	one := &txgatev1.ResultSet{AffectedRows: 1}
	row := &txgatev1.ResultSet{Rows: []*txgatev1.Row{{}}}
	ok := &txgatev1.RunTransactionResponse{Results: []*txgatev1.ResultSet{one, one, one}}
	if bad := CheckAck(KindGuarded, ok); bad != "" {
		t.Fatal(bad)
	}
	proc := &txgatev1.RunTransactionResponse{Results: []*txgatev1.ResultSet{{}, row}}
	if bad := CheckAck(KindProcedure, proc); bad != "" {
		t.Fatal(bad)
	}
	twice := &txgatev1.RunTransactionResponse{Results: []*txgatev1.ResultSet{{}, {Rows: []*txgatev1.Row{{}, {}}}}}
	if CheckAck(KindProcedure, twice) == "" || CheckAck(KindGuarded, proc) == "" {
		t.Fatal("a malformed acknowledgement must be reported")
	}
}

func TestTransferRequestsAreConditional(t *testing.T) {
	g := TransferRequest("k", 1, 2, 5, true)
	if g.GetStatements()[0].GetExpect().GetMinAffectedRows() != 1 || g.GetStatements()[0].GetExpect().MinAffectedRows == nil {
		t.Fatalf("the debit must expect a matched row: %v", g.GetStatements()[0])
	}
	p := ProcedureTransferRequest("k", 1, 2, 5)
	if !strings.HasPrefix(p.GetStatements()[0].GetSql(), "CALL ") || p.GetStatements()[1].GetExpect().GetMinRows() != 1 {
		t.Fatalf("the procedure's transfer must check its ledger row: %v", p)
	}
}

func TestRetryPolicy(t *testing.T) {
	if !Retryable(codes.Unavailable) || !Retryable(codes.Unknown) || !Retryable(codes.DeadlineExceeded) {
		t.Fatal("the ambiguous codes must be retried")
	}
	if Retryable(codes.Aborted) || Retryable(codes.FailedPrecondition) || Retryable(codes.InvalidArgument) {
		t.Fatal("definite failures must not be retried")
	}
	if Definite(codes.Unknown) || Definite(codes.DeadlineExceeded) || Definite(codes.Internal) {
		t.Fatal("an ambiguous failure must not count as definite")
	}
}

func TestAckTrackerMeasuresFromTheFaultsEnd(t *testing.T) {
	a := &AckTracker{}
	now := time.Now()
	early := a.Watch(now)
	late := a.Watch(now.Add(time.Hour))
	a.Ack(now.Add(time.Second))
	if d, ok := early.Took(); !ok || d != time.Second {
		t.Fatalf("early: %v %v", d, ok)
	}
	if _, ok := late.Took(); ok {
		t.Fatal("an ack before the fault ended must not count")
	}
}
