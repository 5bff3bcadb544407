package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
)

// The commit-window test: the connection between txgate and MariaDB is cut
// exactly while a COMMIT is in flight, many times over.
//
// Mechanism: a toxiproxy `latency` toxic of L ms on ONE direction of the
// proxy, plus a watcher on the suite's own admin connection (straight to
// MariaDB's socket, not through the proxy) that polls every millisecond for
// the transaction's effect, and disables the proxy — which closes every
// connection through it at once — the moment it sees it. Two variants
// alternate:
//
//   - ack-lost (the duplicate-maker): latency on the DOWNSTREAM (replies).
//     Requests reach MariaDB at once, so the COMMIT is applied as soon as
//     txgate sends it; its OK then sits in toxiproxy for L ms. The watcher
//     polls with plain committed reads for the transfer's ledger row: when
//     the row is visible the COMMIT has been applied, and its OK cannot have
//     reached txgate yet as long as the cut comes less than L after the
//     commit. The cut therefore always lands in the window "applied, not
//     acknowledged". The bound is measured per iteration (cut time minus the
//     start of the last poll that still saw nothing) and must be < L.
//
//   - commit-lost (the loss-maker): latency on the UPSTREAM (requests).
//     Replies come back at once, so txgate sends COMMIT right after the
//     transaction's last statement answers; that COMMIT then sits in
//     toxiproxy for L ms before it could reach MariaDB. The watcher polls
//     with READ UNCOMMITTED for the last row written before COMMIT (txgate's
//     outcome row for the key when txgate has its outcome table, else the
//     ledger row), waits a few ms for txgate to send COMMIT, and cuts: the
//     COMMIT is in flight and never arrives. While the proxy stays down the
//     watcher checks that the row was indeed not committed.
//
// KILL CONNECTION could not do this: the killed session's close would queue
// behind the delayed OK in the latency toxic, and a reset_peer toxic added
// after the latency toxic makes toxiproxy flush the delayed data first; a
// limit_data toxic would need byte counts that change with txgate's
// statement cache. Disabling the proxy drops the data held in the toxic.
//
// In both variants txgate's first attempt must end in a connection loss
// during COMMIT. With exactly-once, txgate resolves it by the key and
// answers OK (or UNKNOWN, and the client's retry with the key gets the
// stored answer); either way the ledger must hold the transfer once.
//
// The first iterations calibrate the mechanism against txgate itself: they
// send the transfer WITHOUT a key, and txgate must then answer UNKNOWN with
// reason COMMIT_OUTCOME_UNKNOWN (its rule for a connection lost while COMMIT
// was in flight), with the transfer applied in the ack-lost variant and not
// applied in the commit-lost one. Fewer than 80% of iterations verifiably in
// the window fails the suite: a test that misses the window proves nothing.

type CWResult struct {
	Variant        string
	Calibration    bool // sent without a key: txgate must answer UNKNOWN (COMMIT_OUTCOME_UNKNOWN)
	Transfer       *Transfer
	Detected       bool
	CutAfterEvent  time.Duration // upper bound of the time from the event to the cut
	InWindow       bool          // by the watcher's own timing (and, for commit-lost, not committed while down)
	NotCommittedOK bool          // commit-lost: the row was not committed while the proxy was down
	First          Attempt
	LedgerRows     int64
	Note           string
}

// Hit says whether the iteration verifiably cut the connection in the
// commit window. For a calibration iteration txgate itself says so: it
// answers UNKNOWN/COMMIT_OUTCOME_UNKNOWN only when the connection died while
// the COMMIT was in flight; and the ledger shows which side of the commit
// the cut fell on (applied for ack-lost, not applied for commit-lost).
func (r *CWResult) Hit() bool {
	if !r.Calibration {
		return r.InWindow
	}
	want := int64(1)
	if r.Variant == "commit-lost" {
		want = 0
	}
	return r.First.Code == codes.Unknown && r.First.Reason == "COMMIT_OUTCOME_UNKNOWN" && r.LedgerRows == want
}

// CommitWindow runs `calibration` iterations without a key, then n with one,
// alternating the two variants.
func (b *Bank) CommitWindow(ctx context.Context, toxi *Toxi, calibration, n int, latency time.Duration, p Policy) ([]*CWResult, error) {
	rng := rand.New(rand.NewPCG(uint64(b.cfg.Seed), 9999))
	committedConn, err := b.admin.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer committedConn.Close()
	dirtyConn, err := b.admin.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer dirtyConn.Close()
	if _, err := dirtyConn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"); err != nil {
		return nil, err
	}
	ledgerQ := "SELECT COUNT(*) FROM " + bankDB + ".ledger WHERE transfer_id = ?"
	outcomeQ := "SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key = ?"
	haveOutcomes, err := b.admin.OutcomeTableExists()
	if err != nil {
		return nil, err
	}
	count := func(c *sql.Conn, q, id string) (int64, error) {
		var n int64
		err := c.QueryRowContext(ctx, q, id).Scan(&n)
		return n, err
	}

	var results []*CWResult
	for i := 0; i < calibration+n && ctx.Err() == nil; i++ {
		r := &CWResult{Variant: "ack-lost", Calibration: i < calibration}
		if err := toxi.Reset(); err != nil {
			return results, err
		}
		if !b.WaitHealthy(ctx, 30*time.Second) {
			return results, fmt.Errorf("txgate did not serve reads again before iteration %d", i+1)
		}
		// From the richest account: a small transfer is never refused for
		// want of money, so each iteration does commit (or is cut doing so).
		richest, err := b.admin.RichestAccount(bankDB + ".accounts")
		if err != nil {
			return results, err
		}
		t := b.NewTransfer("commit-window", "cw", richest, rng)
		policy := p
		if r.Calibration {
			// Without a key, UNKNOWN must not be retried: the client cannot
			// know whether it was applied.
			t.NoKey = true
			t.Req.IdempotencyKey = ""
			policy.MaxAttempts = 1
		}
		stream, pollConn, pollQ, settle := "downstream", committedConn, ledgerQ, time.Duration(0)
		if i%2 == 1 {
			r.Variant = "commit-lost"
			stream, pollConn, pollQ, settle = "upstream", dirtyConn, ledgerQ, 20*time.Millisecond
			if haveOutcomes && !t.NoKey {
				pollQ = outcomeQ // with a key, txgate writes its outcome row last, just before COMMIT
			}
		}
		r.Transfer = t
		if err := toxi.AddToxic("cw_latency", "latency", stream, map[string]int64{"latency": latency.Milliseconds()}); err != nil {
			t.Done, t.FinalCode, t.FinalMsg = true, codes.Canceled, "never sent: "+err.Error()
			return results, err
		}
		done := make(chan struct{})
		first := true
		go func() {
			defer close(done)
			b.Run(ctx, t, policy, func(a Attempt) {
				if first {
					r.First, first = a, false
				}
			})
		}()
		var prevPoll time.Time
		deadline := time.Now().Add(20 * time.Second)
	poll:
		for time.Now().Before(deadline) {
			start := time.Now()
			n, err := count(pollConn, pollQ, t.ID)
			if err != nil {
				r.Note = "poll failed: " + err.Error()
				break
			}
			if n > 0 {
				r.Detected = true
				break
			}
			prevPoll = start
			select {
			case <-done:
				r.Note = "the RPC ended before the commit was seen"
				break poll
			case <-time.After(time.Millisecond):
			}
		}
		abort := func(err error) ([]*CWResult, error) {
			_ = toxi.Reset()
			<-done // the client must be told something before the checker looks
			return results, err
		}
		if r.Detected {
			time.Sleep(settle)
			if err := toxi.SetEnabled(false); err != nil {
				return abort(err)
			}
			r.CutAfterEvent = time.Since(prevPoll)
			r.InWindow = !prevPoll.IsZero() && r.CutAfterEvent < latency
			// Hold the proxy down until whatever the latency toxic held is
			// surely dropped.
			time.Sleep(latency + 20*time.Millisecond)
			if r.Variant == "commit-lost" {
				// Nothing of this transfer can commit while the proxy is down.
				n, err := count(committedConn, ledgerQ, t.ID)
				r.NotCommittedOK = err == nil && n == 0
				r.InWindow = r.InWindow && r.NotCommittedOK
			}
		}
		if err := toxi.Reset(); err != nil {
			return abort(err)
		}
		<-done
		r.LedgerRows, _ = count(committedConn, ledgerQ, t.ID)
		if r.LedgerRows > 1 {
			b.anomalies.Add("commit window: transfer applied more than once", "%s (%s): %d ledger rows; first answer %s %s",
				t.ID, r.Variant, r.LedgerRows, CodeName(r.First.Code), r.First.Reason)
		}
		if t.Acked && r.LedgerRows == 0 {
			b.anomalies.Add("commit window: acknowledged transfer lost", "%s (%s)", t.ID, r.Variant)
		}
		if !r.Hit() {
			logf("commit window: iteration %d (%s, calibration %v) did not verifiably hit the window: first answer %s %s, ledger rows %d, cut %v after the event %s",
				i+1, r.Variant, r.Calibration, CodeName(r.First.Code), r.First.Reason, r.LedgerRows, r.CutAfterEvent, r.Note)
		}
		results = append(results, r)
	}
	hits := 0
	for _, r := range results {
		if r.Hit() {
			hits++
		}
	}
	if len(results) > 0 && hits*10 < len(results)*8 {
		b.anomalies.Add("commit window: the cut missed the window too often (the test proves too little)",
			"%d of %d iterations verifiably in the window", hits, len(results))
	}
	return results, nil
}

// WaitHealthy reads through txgate until a read succeeds or `within` passes.
func (b *Bank) WaitHealthy(ctx context.Context, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b.ReadOnce(ctx, true) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
