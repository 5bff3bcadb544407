package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	txgatev1 "github.com/txgate/txgate/client/go/txgatev1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Dial connects the way a txgate application does: one channel, shared by
// all its goroutines, with the service config that ships with the stubs.
func Dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(txgatev1.ServiceConfig))
}

// Reason is the google.rpc.ErrorInfo reason of a status, or "".
func Reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// Retryable: the codes a client retries with the same idempotency key. They
// say "the outcome is not known to be a failure": the transaction may or may
// not have been applied (UNKNOWN, DEADLINE_EXCEEDED) or txgate could not be
// reached or could not reach the database (UNAVAILABLE).
func Retryable(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.Unknown || c == codes.DeadlineExceeded
}

// Definite: a failure that says the transaction was not applied. Anything
// else that is not OK is treated as "may have been applied".
func Definite(c codes.Code) bool {
	switch c {
	case codes.Aborted, codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists,
		codes.NotFound, codes.OutOfRange, codes.PermissionDenied, codes.Unauthenticated,
		codes.ResourceExhausted, codes.Unimplemented:
		return true
	}
	return false
}

// Policy is a client's retry policy: bounded in attempts and in time.
type Policy struct {
	AttemptTimeout time.Duration // deadline of one RPC
	Budget         time.Duration // no new attempt starts after this
	MaxAttempts    int
	BackoffInitial time.Duration
	BackoffMax     time.Duration
}

// Attempt is what one RPC attempt of a transfer got.
type Attempt struct {
	Code   codes.Code
	Reason string
	At     time.Time
}

// CallWithRetry calls f (one RPC with the given context) until it succeeds,
// fails with a code that is not retryable, or the policy is spent. onAttempt
// sees every attempt's outcome. It returns the attempts and the last error.
func CallWithRetry(ctx context.Context, p Policy, f func(context.Context) error, onAttempt func(Attempt)) (int, error) {
	start := time.Now()
	backoff := p.BackoffInitial
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
		err := f(actx)
		cancel()
		st := status.Convert(err)
		a := Attempt{Code: st.Code(), At: time.Now()}
		if err != nil {
			a.Reason = Reason(st)
		}
		if onAttempt != nil {
			onAttempt(a)
		}
		if err == nil || !Retryable(st.Code()) || n >= p.MaxAttempts || ctx.Err() != nil {
			return n, err
		}
		// Full jitter: sleep a random time up to the backoff.
		sleep := time.Duration(rand.Int64N(int64(backoff)) + 1)
		if time.Since(start)+sleep >= p.Budget {
			return n, err
		}
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return n, err
		}
		backoff = min(2*backoff, p.BackoffMax)
	}
}

// CodeCounter counts RPC failures by code and reason.
type CodeCounter struct {
	mu sync.Mutex
	m  map[string]map[string]int // code -> reason -> n
}

func (c *CodeCounter) Add(code codes.Code, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[string]int{}
	}
	k := CodeName(code)
	if c.m[k] == nil {
		c.m[k] = map[string]int{}
	}
	if reason == "" {
		reason = "-"
	}
	c.m[k][reason]++
}

func (c *CodeCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.m {
		for _, v := range r {
			n += v
		}
	}
	return n
}

// String renders "CODE n (REASON n, ...), ..." sorted by count.
func (c *CodeCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 {
		return "none"
	}
	type kv struct {
		k string
		n int
		r string
	}
	var all []kv
	for code, reasons := range c.m {
		total := 0
		var rs []kv
		for r, n := range reasons {
			total += n
			rs = append(rs, kv{k: r, n: n})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n || rs[i].n == rs[j].n && rs[i].k < rs[j].k })
		var parts []string
		for _, r := range rs {
			parts = append(parts, fmt.Sprintf("%s %d", r.k, r.n))
		}
		joined := strings.Join(parts, ", ")
		if len(rs) == 1 && rs[0].k == "-" {
			joined = ""
		}
		all = append(all, kv{k: code, n: total, r: joined})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var out []string
	for _, e := range all {
		if e.r == "" {
			out = append(out, fmt.Sprintf("%s %d", e.k, e.n))
		} else {
			out = append(out, fmt.Sprintf("%s %d (%s)", e.k, e.n, e.r))
		}
	}
	return strings.Join(out, "; ")
}

// CodeName is the canonical upper-case name, e.g. DEADLINE_EXCEEDED.
func CodeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
		codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
		codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
		codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return c.String()
}
