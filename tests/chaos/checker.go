package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Anomalies collects every violation of the guarantees, by kind, with a few
// examples of each.
type Anomalies struct {
	mu       sync.Mutex
	counts   map[string]int
	examples map[string][]string
}

func (a *Anomalies) Add(kind, format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts, a.examples = map[string]int{}, map[string][]string{}
	}
	a.counts[kind]++
	if len(a.examples[kind]) < 5 {
		a.examples[kind] = append(a.examples[kind], fmt.Sprintf(format, args...))
	}
	if a.counts[kind] <= 3 {
		logf("ANOMALY %s: %s", kind, fmt.Sprintf(format, args...))
	}
}

func (a *Anomalies) Total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.counts {
		n += c
	}
	return n
}

func (a *Anomalies) Count(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts[kind]
}

// Lines renders "kind: n" and the examples, sorted by kind.
func (a *Anomalies) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var kinds []string
	for k := range a.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []string
	for _, k := range kinds {
		out = append(out, fmt.Sprintf("%-58s %d", k, a.counts[k]))
		for _, e := range a.examples[k] {
			out = append(out, "    e.g. "+e)
		}
	}
	return out
}

// LedgerRow is one row of the bank's ledger.
type LedgerRow struct {
	ID     string
	From   int
	To     int
	Amount int64
}

// State is what the database holds, read straight from MariaDB.
type State struct {
	Ledger      []LedgerRow
	Balances    map[int]int64
	OutcomeKeys map[string]bool // nil when txgate has no outcome table
}

func (a *Admin) ReadState(runID string) (*State, error) {
	s := &State{Balances: map[int]int64{}}
	err := retry(60e9, func() error {
		s.Ledger = s.Ledger[:0]
		rows, err := a.db.Query("SELECT transfer_id, from_id, to_id, amount FROM " + bankDB + ".ledger ORDER BY seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r LedgerRow
			if err := rows.Scan(&r.ID, &r.From, &r.To, &r.Amount); err != nil {
				return err
			}
			s.Ledger = append(s.Ledger, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	err = retry(60e9, func() error {
		clear(s.Balances)
		rows, err := a.db.Query("SELECT id, balance FROM " + bankDB + ".accounts")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int
			var bal int64
			if err := rows.Scan(&id, &bal); err != nil {
				return err
			}
			s.Balances[id] = bal
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	has, err := a.OutcomeTableExists()
	if err != nil {
		return nil, err
	}
	if has {
		if s.OutcomeKeys, err = a.OutcomeKeys(runID + "-"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Check proves the guarantees on a state. Before the resolution (final =
// false) it checks what the clients were told against the data; after it
// (final = true) it also requires every transfer to be applied exactly once.
// It returns the number of ledger rows of each transfer id.
func Check(stage string, transfers []*Transfer, s *State, accounts int, initial int64, final bool, an *Anomalies) map[string]int {
	byID := make(map[string]*Transfer, len(transfers))
	for _, t := range transfers {
		byID[t.ID] = t
	}
	counts := map[string]int{}
	expected := map[int]int64{}
	for i := 1; i <= accounts; i++ {
		expected[i] = initial
	}
	for _, r := range s.Ledger {
		counts[r.ID]++
		expected[r.From] -= r.Amount
		expected[r.To] += r.Amount
		t := byID[r.ID]
		if t == nil {
			an.Add(stage+": ledger row of no transfer the clients sent", "%+v", r)
			continue
		}
		if r.From != t.From || r.To != t.To || r.Amount != t.Amount {
			an.Add(stage+": ledger row differs from its transfer", "row %+v, transfer %d->%d %d", r, t.From, t.To, t.Amount)
		}
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if c := counts[id]; c > 1 {
			an.Add(stage+": transfer applied more than once (duplicate)", "%s is %d times in the ledger", id, c)
		}
	}
	for _, t := range transfers {
		c := counts[t.ID]
		switch {
		case !t.Done:
			an.Add(stage+": transfer whose client was told nothing", "%s", t.ID)
		case t.Acked && c == 0:
			an.Add(stage+": acknowledged transfer not applied (lost)", "%s", t.ID)
		case !t.Acked && !final && Definite(t.FinalCode) && c > 0:
			an.Add(stage+": applied although its client was told it failed", "%s: %s %s", t.ID, CodeName(t.FinalCode), t.FinalReason)
		case final && t.Resolved && c == 0:
			an.Add(stage+": key retry answered OK but the transfer is not applied", "%s", t.ID)
		case final && t.Refused && c > 0:
			an.Add(stage+": applied although its key retry was refused", "%s", t.ID)
		}
	}
	if s.OutcomeKeys != nil {
		for _, id := range ids {
			if t := byID[id]; t != nil && t.NoKey {
				continue
			}
			if !s.OutcomeKeys[id] {
				an.Add(stage+": committed transfer without its outcome row", "%s", id)
			}
		}
		for k := range s.OutcomeKeys {
			if counts[k] == 0 {
				an.Add(stage+": outcome row of a transfer that is not applied", "%s", k)
			}
		}
	}
	var total int64
	for i := 1; i <= accounts; i++ {
		got, ok := s.Balances[i]
		if !ok {
			an.Add(stage+": account missing", "account %d", i)
			continue
		}
		total += got
		if got < 0 {
			an.Add(stage+": balance went negative", "account %d: %d", i, got)
		}
		if got != expected[i] {
			an.Add(stage+": balance differs from initial + ledger", "account %d: %d, ledger says %d", i, got, expected[i])
		}
	}
	if len(s.Balances) != accounts || total != int64(accounts)*initial {
		an.Add(stage+": total changed", "%d accounts holding %d, expected %d holding %d", len(s.Balances), total, accounts, int64(accounts)*initial)
	}
	return counts
}

// Resolution is what the checker's retries with the keys found.
type Resolution struct {
	Unacked           int // transfers whose client was told they failed
	AppliedWithoutAck int // ... that were applied all the same
	WithOutcomeRow    int // ... of those, with their key in txgate's outcome table
	FoundByKey        int // ... of those, whose key retry answered OK without executing again
	NotApplied        int // unacknowledged and not applied
	RetriedApplied    int // ... whose key retry applied them (once)
	Refused           int // ... refused for want of money (EXPECTATION_FAILED)
	RefusedApplied    int // ... of those, applied by the key retry (the refusal used up no key)
	RefusedAgain      int // ... of those, refused again by the key retry (not applied)
	AckedResent       int // acknowledged transfers re-sent with their key
	AckedReexecuted   int
	ReuseProbe        string // what the same key with another request got
}

// Resolve runs after the faults have stopped. Every transfer its client was
// told failed is sent again with its key, as a client would: the answer must
// be OK, and the transfer must then be in the ledger exactly once — the
// stored answer for one already applied, a first execution for one that was
// not. A sample of acknowledged transfers is re-sent too (must not execute
// again), and one key is reused with a different request (must be refused).
func (b *Bank) Resolve(ctx context.Context, p Policy, counts map[string]int, outcomeKeys map[string]bool, sample int) (*Resolution, error) {
	res := &Resolution{}
	countOf := func(id string) (int64, error) {
		return b.admin.QueryInt("SELECT COUNT(*) FROM "+bankDB+".ledger WHERE transfer_id = ?", id)
	}
	var acked []*Transfer
	for _, t := range b.Transfers() {
		if t.NoKey {
			continue // no key to retry with: the commit-window calibration checks these itself
		}
		if t.Acked {
			acked = append(acked, t)
			continue
		}
		res.Unacked++
		pre := counts[t.ID]
		if pre > 0 {
			res.AppliedWithoutAck++
			if outcomeKeys[t.ID] {
				res.WithOutcomeRow++
			}
		} else {
			res.NotApplied++
		}
		if t.Refusal() {
			res.Refused++
		}
		resp, _, err := b.Submit(ctx, t.Req, p, nil)
		post, cerr := countOf(t.ID)
		if cerr != nil {
			return res, cerr
		}
		if err != nil {
			st := status.Convert(err)
			// Still too little money: a refusal again, which must have applied nothing.
			if st.Code() == codes.FailedPrecondition && Reason(st) == ReasonExpectationFailed {
				t.Refused = true
				if t.Refusal() {
					res.RefusedAgain++
				}
				if post != 0 {
					b.anomalies.Add("resolution: a refused retry left the transfer applied", "%s: %d ledger rows", t.ID, post)
				}
				continue
			}
			b.anomalies.Add("resolution: retry with the key failed", "%s: %s %s: %s", t.ID, CodeName(st.Code()), Reason(st), st.Message())
			continue
		}
		t.Resolved = true
		if t.Refusal() {
			res.RefusedApplied++
		}
		if bad := CheckAck(t.Kind, resp); bad != "" {
			b.anomalies.Add("resolution: the key retry's answer is malformed", "%s: %s", t.ID, bad)
		}
		switch {
		case pre == 1 && post == 1:
			res.FoundByKey++
		case pre == 0 && post == 1:
			res.RetriedApplied++
		case pre >= 1 && post > int64(pre):
			b.anomalies.Add("resolution: retry with the key executed again", "%s: %d ledger rows before, %d after", t.ID, pre, post)
		default:
			b.anomalies.Add("resolution: unexpected ledger rows after the retry", "%s: %d before, %d after", t.ID, pre, post)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(b.cfg.Seed), 4242))
	rng.Shuffle(len(acked), func(i, j int) { acked[i], acked[j] = acked[j], acked[i] })
	for _, t := range acked[:min(sample, len(acked))] {
		res.AckedResent++
		resp, _, err := b.Submit(ctx, t.Req, p, nil)
		post, cerr := countOf(t.ID)
		if cerr != nil {
			return res, cerr
		}
		if err != nil {
			st := status.Convert(err)
			b.anomalies.Add("resolution: re-sending an acknowledged transfer failed", "%s: %s %s", t.ID, CodeName(st.Code()), Reason(st))
		} else if bad := CheckAck(t.Kind, resp); bad != "" {
			b.anomalies.Add("resolution: stored answer differs", "%s: %s", t.ID, bad)
		}
		if post != 1 {
			res.AckedReexecuted++
			b.anomalies.Add("resolution: acknowledged transfer executed again when re-sent with its key", "%s: %d ledger rows", t.ID, post)
		}
	}
	if len(acked) > 0 {
		t := acked[0]
		other := TransferRequest(t.ID, t.From, t.To, t.Amount+1, false)
		_, _, err := b.Submit(ctx, other, Policy{AttemptTimeout: p.AttemptTimeout, Budget: p.Budget, MaxAttempts: p.MaxAttempts, BackoffInitial: p.BackoffInitial, BackoffMax: p.BackoffMax}, nil)
		st := status.Convert(err)
		res.ReuseProbe = CodeName(st.Code())
		if r := Reason(st); r != "" {
			res.ReuseProbe += "/" + r
		}
		if st.Code() != codes.FailedPrecondition || Reason(st) != "IDEMPOTENCY_KEY_REUSED" {
			b.anomalies.Add("resolution: a key reused with a different request was not refused", "%s got %s: %s", t.ID, res.ReuseProbe, st.Message())
		}
		if post, cerr := countOf(t.ID); cerr == nil && post != 1 {
			b.anomalies.Add("resolution: a key reused with a different request executed", "%s: %d ledger rows", t.ID, post)
		}
	}
	return res, nil
}
