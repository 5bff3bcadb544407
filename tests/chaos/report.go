package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type ReportInput struct {
	Cfg          *Config
	RunID        string
	Transfers    []*Transfer
	Stats        *Stats
	Faults       []*Fault
	CW           []*CWResult
	Res          *Resolution
	Pre, Post    *State
	Anomalies    *Anomalies
	WorkloadTime time.Duration
	CWTime       time.Duration
	Total        time.Duration
}

func secs(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func durStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("median %s, max %s", secs(s[len(s)/2]), secs(s[len(s)-1]))
}

// Report renders the run as a table.
func Report(in *ReportInput) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	row := func(label string, value any, extra string) {
		if extra != "" {
			extra = "  " + extra
		}
		line("  %-44s %8v%s", label, value, extra)
	}
	cfg := in.Cfg
	line("txgate chaos suite — %s profile — %s", cfg.Profile, time.Now().UTC().Format(time.RFC3339))
	line("run %s, seed %d, server %s", in.RunID, cfg.Seed, cfg.Server)
	if cfg.NoKeys {
		line("NEGATIVE CONTROL: transfers sent WITHOUT idempotency keys and retried anyway; duplicates are expected and must be caught")
	}
	line("workload %v: %d writers (<= %.0f transfers/s), %d readers, %d accounts x %d",
		cfg.Duration, cfg.Writers, cfg.Rate, cfg.Readers, cfg.Accounts, cfg.Initial)
	line("client retry policy: %v per attempt, <= %d attempts in %v (%d impatient writers: %v, <= %d in %v)",
		workloadPolicy.AttemptTimeout, workloadPolicy.MaxAttempts, workloadPolicy.Budget, min(cfg.Impatient, cfg.Writers),
		impatientPolicy.AttemptTimeout, impatientPolicy.MaxAttempts, impatientPolicy.Budget)
	line("%s", strings.Repeat("-", 100))

	var work []*Transfer
	for _, t := range in.Transfers {
		if t.Phase == "workload" {
			work = append(work, t)
		}
	}
	acked, retried, rerun, procedures, procAcked, refused := 0, 0, 0, 0, 0, 0
	failed := &CodeCounter{}
	for _, t := range work {
		if t.Kind == KindProcedure {
			procedures++
			if t.Acked {
				procAcked++
			}
		}
		if t.Refusal() {
			refused++
		}
		if t.Acked {
			acked++
			if t.Attempts > 1 {
				retried++
			}
			if t.ServerRuns > 1 {
				rerun++
			}
		} else if t.Done {
			failed.Add(t.FinalCode, t.FinalReason)
		}
	}
	line("workload transfers")
	row("attempted", len(work), "")
	row("acknowledged", acked, fmt.Sprintf("(after client retries with the key: %d; re-run inside txgate: %d)", retried, rerun))
	row("reported failed to their client, with status", failed.Total(), failed.String())
	row("  of those, refused for want of money", refused, "(FAILED_PRECONDITION/EXPECTATION_FAILED: nothing applied)")
	row("made by CALL transfer(...)", procedures, fmt.Sprintf("(acknowledged: %d)", procAcked))
	if r := in.Res; r != nil {
		line("all transfers not acknowledged (workload and commit-window), resolved after the faults by a retry with their key")
		row("not acknowledged", r.Unacked, "")
		row("  applied all the same (found in the ledger)", r.AppliedWithoutAck,
			fmt.Sprintf("(key in txgate_outcomes: %d; key retry answered OK with no new execution: %d)", r.WithOutcomeRow, r.FoundByKey))
		row("  not applied", r.NotApplied, fmt.Sprintf("(key retry applied it once: %d)", r.RetriedApplied))
		row("  refused for want of money", r.Refused,
			fmt.Sprintf("(key retry applied it once: %d; refused again, not applied: %d)", r.RefusedApplied, r.RefusedAgain))
		row("acknowledged transfers re-sent with their key", r.AckedResent, fmt.Sprintf("(executed again: %d)", r.AckedReexecuted))
		if r.ReuseProbe != "" {
			line("  %-44s %s", "same key with a different request", r.ReuseProbe+" (expected FAILED_PRECONDITION/IDEMPOTENCY_KEY_REUSED)")
		}
	}
	if in.Post != nil {
		outcome := "table absent"
		if in.Post.OutcomeKeys != nil {
			outcome = fmt.Sprintf("%d keys of this run", len(in.Post.OutcomeKeys))
		}
		row("ledger rows at the end", len(in.Post.Ledger), "(txgate_outcomes: "+outcome+")")
	}
	s := in.Stats
	line("reads of the total (one SUM by Execute, or a read-only RunTransaction of two halves)")
	row("ok", s.ReadsOK.Load(), fmt.Sprintf("(every ok read must see %d)", int64(cfg.Accounts)*cfg.Initial))
	row("failed", s.ReadsFailed.Load(), "")
	line("client-visible errors by code (failed RPC attempts, after gRPC's own retry policy)")
	row("workload transfers", s.WorkloadErrs.Total(), s.WorkloadErrs.String())
	row("reads", s.ReadErrs.Total(), s.ReadErrs.String())
	row("commit-window transfers", s.CWErrs.Total(), s.CWErrs.String())
	row("key retries after the faults", s.ResolveErrs.Total(), s.ResolveErrs.String())

	line("faults injected by kind (all during the workload)")
	byKind := map[string][]*Fault{}
	for _, f := range in.Faults {
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	total := 0
	for _, k := range FaultKinds {
		fs := byKind[k]
		if len(fs) == 0 {
			continue
		}
		total += len(fs)
		var rec []time.Duration
		errs, unrecovered, killed := 0, 0, 0
		for _, f := range fs {
			if f.Err != nil {
				errs++
			}
			if d, ok := f.Rec.Took(); ok {
				rec = append(rec, d)
			} else {
				unrecovered++
			}
			if k == "kill_connection" {
				var n int
				fmt.Sscanf(f.Detail, "%d", &n)
				killed += n
			}
		}
		extra := "first ack after it ended: " + durStats(rec)
		if k == "kill_connection" {
			extra = fmt.Sprintf("%d sessions killed; %s", killed, extra)
		}
		if errs > 0 {
			extra += fmt.Sprintf("; %d could not be injected", errs)
		}
		if unrecovered > 0 {
			extra += fmt.Sprintf("; %d with no ack after", unrecovered)
		}
		row(k, len(fs), extra)
	}
	row("total", total, "")
	if rs := byKind["mariadbd_restart"]; len(rs) > 0 {
		line("time to first acknowledged transfer after each mariadbd restart (from mariadbd ready; down = SIGKILL to ready)")
		var parts []string
		for i, f := range rs {
			took := "none"
			if d, ok := f.Rec.Took(); ok {
				took = secs(d)
			}
			parts = append(parts, fmt.Sprintf("#%d %s (down %s)", i+1, took, secs(f.Down)))
		}
		for i := 0; i < len(parts); i += 4 {
			line("  %s", strings.Join(parts[i:min(i+4, len(parts))], "   "))
		}
	}

	if len(in.CW) > 0 {
		line("commit-window test: connection cut while COMMIT is in flight (latency toxic %v on one direction, proxy disabled on seeing the commit)", cfg.CWLatency)
		type agg struct {
			n, hits, acked, dups, lost int
			first                      CodeCounter
			cut                        []time.Duration
		}
		groups := map[string]*agg{}
		var order []string
		for _, r := range in.CW {
			name := r.Variant
			if r.Calibration {
				name += ", no key (calibration)"
			} else {
				name += ", with key"
			}
			g := groups[name]
			if g == nil {
				g = &agg{}
				groups[name] = g
				order = append(order, name)
			}
			g.n++
			if r.Hit() {
				g.hits++
			}
			if r.Detected {
				g.cut = append(g.cut, r.CutAfterEvent)
			}
			g.first.Add(r.First.Code, r.First.Reason)
			if r.Transfer.Acked {
				g.acked++
			}
			if r.LedgerRows > 1 {
				g.dups++
			}
			if r.Transfer.Acked && r.LedgerRows == 0 {
				g.lost++
			}
		}
		sort.Strings(order)
		for _, name := range order {
			g := groups[name]
			line("  %s", name)
			cutNote := "cut after the event (upper bound): " + durStats(g.cut)
			if strings.HasPrefix(name, "commit-lost") {
				cutNote += " (incl. a 20ms pause for txgate to send COMMIT)"
			}
			row("  iterations verifiably in the window", fmt.Sprintf("%d/%d", g.hits, g.n), cutNote)
			row("  first answer", g.first.Total(), g.first.String())
			if strings.Contains(name, "with key") {
				row("  acknowledged (after retries with the key)", fmt.Sprintf("%d/%d", g.acked, g.n), "")
			}
			row("  duplicates / acknowledged but lost", fmt.Sprintf("%d / %d", g.dups, g.lost), "")
		}
	}
	line("%s", strings.Repeat("-", 100))
	n := in.Anomalies.Total()
	row("ANOMALIES", n, "(must be 0)")
	for _, l := range in.Anomalies.Lines() {
		line("    %s", l)
	}
	verdict := "PASS"
	if n > 0 {
		verdict = "FAIL"
	}
	line("result: %s — runtime %s (workload %s, commit window %s, checks %s)", verdict,
		secs(in.Total), secs(in.WorkloadTime), secs(in.CWTime), secs(in.Total-in.WorkloadTime-in.CWTime))
	return b.String()
}
