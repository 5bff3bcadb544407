package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// The kinds of fault the workload meets, all real:
//
//	reset_peer       toxiproxy resets the TCP connections (RST) as soon as
//	                 data flows on the chosen direction: a request that never
//	                 reaches MariaDB (upstream), or a reply that never reaches
//	                 txgate (downstream — e.g. a lost COMMIT OK).
//	timeout          toxiproxy swallows all data on one direction, then closes
//	                 the connections after a delay; removing it closes the rest.
//	latency          toxiproxy delays MariaDB's replies by hundreds of ms.
//	proxy_down       the proxy is disabled: every connection is cut and new
//	                 connects are refused, as if the database host vanished.
//	kill_connection  KILL CONNECTION of every txgate session, from an admin
//	                 session of MariaDB itself.
//	mariadbd_restart mariadbd is SIGKILLed (a crash) and started again.
//	mariadbd_stall   mariadbd is stopped (SIGSTOP) for seconds, then continued
//	                 (SIGCONT): a hung database that keeps every connection
//	                 open but answers nothing, not even a connect.
//	latency_cut      latency on the replies, then the proxy goes down while
//	                 every busy connection has a reply held in flight: some of
//	                 those are OKs of COMMITs already applied.
var FaultKinds = []string{"reset_peer", "timeout", "latency", "proxy_down", "latency_cut", "kill_connection", "mariadbd_restart", "mariadbd_stall"}

// Fault is one injected fault.
type Fault struct {
	Kind    string
	Detail  string
	Start   time.Time
	Cleared time.Time // when the fault ended (for a restart: mariadbd ready again)
	Down    time.Duration
	Err     error
	Rec     *Recovery
}

// Recovery measures the time from a fault's end to the next acknowledged transfer.
type Recovery struct {
	From     time.Time
	FirstAck time.Time
}

func (r *Recovery) Took() (time.Duration, bool) {
	if r.FirstAck.IsZero() {
		return 0, false
	}
	return r.FirstAck.Sub(r.From), true
}

// AckTracker tells the recoveries waiting for their first acknowledgement.
type AckTracker struct {
	mu      sync.Mutex
	waiting []*Recovery
}

func (a *AckTracker) Watch(from time.Time) *Recovery {
	r := &Recovery{From: from}
	a.mu.Lock()
	a.waiting = append(a.waiting, r)
	a.mu.Unlock()
	return r
}

func (a *AckTracker) Ack(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	kept := a.waiting[:0]
	for _, r := range a.waiting {
		if !r.From.After(now) {
			r.FirstAck = now
		} else {
			kept = append(kept, r)
		}
	}
	a.waiting = kept
}

// Injector injects the planned faults, one after the other.
type Injector struct {
	toxi  *Toxi
	admin *Admin
	acks  *AckTracker
	rng   *rand.Rand

	mu     sync.Mutex
	faults []*Fault
}

func (in *Injector) Faults() []*Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*Fault(nil), in.faults...)
}

// Plan returns perKind faults of each kind, shuffled.
func Plan(kinds []string, perKind int, rng *rand.Rand) []string {
	var plan []string
	for _, k := range kinds {
		for i := 0; i < perKind; i++ {
			plan = append(plan, k)
		}
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}

// Run spreads the plan over `over`: fault i starts at i*over/len(plan) (or
// later, with a short breather, when the previous one ran long). Each fault
// holds for a random time bounded by the spacing, then is cleared.
func (in *Injector) Run(ctx context.Context, plan []string, over time.Duration) {
	if len(plan) == 0 {
		return
	}
	spacing := over / time.Duration(len(plan))
	start := time.Now()
	for i, kind := range plan {
		at := start.Add(time.Duration(i) * spacing)
		wait := time.Until(at)
		if wait < 200*time.Millisecond && i > 0 {
			wait = 200 * time.Millisecond // let some traffic through between faults
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		f := in.Inject(kind, spacing)
		in.mu.Lock()
		in.faults = append(in.faults, f)
		in.mu.Unlock()
		if f.Err != nil {
			logf("fault %s failed: %v", kind, f.Err)
		}
	}
}

// hold picks a duration in [lo, hi], shortened to 70% of the spacing.
func (in *Injector) hold(lo, hi, spacing time.Duration) time.Duration {
	d := lo + time.Duration(in.rng.Int64N(int64(hi-lo)+1))
	return min(d, max(spacing*7/10, 100*time.Millisecond))
}

func (in *Injector) stream() string {
	if in.rng.IntN(2) == 0 {
		return "upstream"
	}
	return "downstream"
}

// Inject applies one fault of the kind and clears it.
func (in *Injector) Inject(kind string, spacing time.Duration) *Fault {
	f := &Fault{Kind: kind, Start: time.Now()}
	withToxic := func(typ, stream string, attrs map[string]int64, hold time.Duration) {
		name := "chaos_" + typ
		f.Detail = fmt.Sprintf("%s %v for %v", stream, attrs, hold.Round(time.Millisecond))
		if f.Err = in.toxi.AddToxic(name, typ, stream, attrs); f.Err != nil {
			return
		}
		time.Sleep(hold)
		f.Err = in.toxi.RemoveToxic(name)
	}
	switch kind {
	case "reset_peer":
		withToxic("reset_peer", in.stream(), map[string]int64{"timeout": in.rng.Int64N(100)},
			in.hold(300*time.Millisecond, 1000*time.Millisecond, spacing))
	case "timeout":
		withToxic("timeout", in.stream(), map[string]int64{"timeout": 300 + in.rng.Int64N(1200)},
			in.hold(800*time.Millisecond, 2500*time.Millisecond, spacing))
	case "latency":
		withToxic("latency", "downstream", map[string]int64{"latency": 100 + in.rng.Int64N(400), "jitter": 50},
			in.hold(1500*time.Millisecond, 3000*time.Millisecond, spacing))
	case "proxy_down":
		hold := in.hold(500*time.Millisecond, 2000*time.Millisecond, spacing)
		f.Detail = fmt.Sprintf("for %v", hold.Round(time.Millisecond))
		if f.Err = in.toxi.SetEnabled(false); f.Err == nil {
			time.Sleep(hold)
		}
		f.Err = firstErr(f.Err, in.toxi.SetEnabled(true))
	case "latency_cut":
		lat := 100 + in.rng.Int64N(200)
		hold := in.hold(300*time.Millisecond, 800*time.Millisecond, spacing)
		down := in.hold(200*time.Millisecond, 600*time.Millisecond, spacing)
		f.Detail = fmt.Sprintf("latency %dms for %v, then down for %v", lat, hold.Round(time.Millisecond), down.Round(time.Millisecond))
		if f.Err = in.toxi.AddToxic("chaos_latency_cut", "latency", "downstream", map[string]int64{"latency": lat}); f.Err != nil {
			break
		}
		time.Sleep(hold)
		if f.Err = in.toxi.SetEnabled(false); f.Err == nil {
			time.Sleep(down)
		}
		f.Err = firstErr(f.Err, in.toxi.RemoveToxic("chaos_latency_cut"), in.toxi.SetEnabled(true))
	case "kill_connection":
		var n int
		n, f.Err = in.admin.KillTxgateSessions()
		f.Detail = fmt.Sprintf("%d sessions", n)
	case "mariadbd_restart":
		if f.Err = in.admin.KillServer(); f.Err == nil {
			killed := time.Now()
			time.Sleep(time.Duration(in.rng.Int64N(500)) * time.Millisecond)
			f.Err = in.admin.StartServer()
			f.Down = time.Since(killed)
			f.Detail = fmt.Sprintf("down %v", f.Down.Round(time.Millisecond))
		} else {
			f.Err = firstErr(f.Err, in.admin.StartServer())
		}
	case "mariadbd_stall":
		hold := in.hold(1500*time.Millisecond, 4000*time.Millisecond, spacing)
		f.Detail = fmt.Sprintf("stopped for %v", hold.Round(time.Millisecond))
		if f.Err = in.admin.PauseServer(); f.Err == nil {
			time.Sleep(hold)
		}
		// Always continued, even when the stop failed half-way.
		f.Err = firstErr(f.Err, in.admin.ResumeServer())
	default:
		f.Err = fmt.Errorf("unknown fault kind %q", kind)
	}
	f.Cleared = time.Now()
	f.Rec = in.acks.Watch(f.Cleared)
	return f
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
