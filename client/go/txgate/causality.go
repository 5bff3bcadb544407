package txgate

import (
	"fmt"
	"strings"
	"sync"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// Tokens holds the causality token of the latest write a session saw
// (README, "Reads on replicas"): txgate names each committed write's GTID
// in its response, and a read that sends the token back sees that write,
// also on a replica. It is safe for concurrent use; a Client and the
// copies WithRouting makes share one.
type Tokens struct {
	mu    sync.Mutex
	token string
}

// Get returns the latest token ("" before any write).
func (t *Tokens) Get() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.token
}

// Observe keeps token (a write response's) as the latest; "" is ignored.
func (t *Tokens) Observe(token string) {
	if token == "" {
		return
	}
	t.mu.Lock()
	t.token = token
	t.mu.Unlock()
}

// Clear forgets the token: the next reads carry none.
func (t *Tokens) Clear() {
	t.mu.Lock()
	t.token = ""
	t.mu.Unlock()
}

// ParseRouting reads "primary" or "replica" ("" is the server's default,
// READ_ROUTING_UNSPECIFIED).
func ParseRouting(s string) (txgatev1.ReadRouting, error) {
	switch strings.ToLower(s) {
	case "":
		return txgatev1.ReadRouting_READ_ROUTING_UNSPECIFIED, nil
	case "primary":
		return txgatev1.ReadRouting_READ_ROUTING_PRIMARY, nil
	case "replica":
		return txgatev1.ReadRouting_READ_ROUTING_REPLICA, nil
	}
	return 0, fmt.Errorf("txgate: routing %q: want primary or replica", s)
}

// CausalityToken returns the token of the latest write this client (or a
// copy sharing its tokens) saw; "" before any.
func (c *Client) CausalityToken() string { return c.tokens.Get() }

// Tokens returns the client's token holder (shared with its WithRouting
// copies), e.g. to Clear it.
func (c *Client) Tokens() *Tokens { return c.tokens }

// Routing returns where the client's reads may run by default.
func (c *Client) Routing() txgatev1.ReadRouting { return c.routing }

// WithRouting returns a client over the same channel and the same tokens
// (one session: its reads still see its writes) whose reads go where r
// says by default: READ_ROUTING_PRIMARY, READ_ROUTING_REPLICA, or
// READ_ROUTING_UNSPECIFIED for txgate's --read_routing.
func (c *Client) WithRouting(r txgatev1.ReadRouting) *Client {
	cp := *c
	cp.routing = r
	return &cp
}

// NewSession returns a client over the same channel with tokens of its
// own: a session that does not wait for the writes of this one.
func (c *Client) NewSession() *Client {
	cp := *c
	cp.tokens = &Tokens{}
	return &cp
}

// readOptions are what a read sends: routing r (the client's when
// unspecified) and the latest write's token.
func (c *Client) readOptions(r txgatev1.ReadRouting) *txgatev1.ReadOptions {
	if r == txgatev1.ReadRouting_READ_ROUTING_UNSPECIFIED {
		r = c.routing
	}
	return &txgatev1.ReadOptions{Routing: r, CausalityToken: c.tokens.Get()}
}
