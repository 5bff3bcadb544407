package txgate_test

// Live tests through a toxiproxy proxy in front of txgate's gRPC port
// (TXGATE_TOXIPROXY: the API of a running toxiproxy-server, which
// tests/clients/run.sh starts). Without it they are skipped.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/txgate/txgate/client/go/txgate"
)

// toxiProxy is one toxiproxy proxy, driven through toxiproxy's HTTP API.
type toxiProxy struct {
	t      *testing.T
	api    string
	name   string
	listen string
}

func (p *toxiProxy) do(method, path string, body any) map[string]any {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+p.api+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		p.t.Fatalf("toxiproxy %s %s: %s: %s", method, path, resp.Status, msg)
	}
	var out map[string]any
	_ = json.Unmarshal(msg, &out) // a DELETE answers nothing
	return out
}

// newTxgateProxy creates a proxy to txgate on a free loopback port; it is
// deleted when the test ends.
func newTxgateProxy(t *testing.T, addr string) *toxiProxy {
	api := os.Getenv("TXGATE_TOXIPROXY")
	if api == "" {
		t.Skip("TXGATE_TOXIPROXY not set (no toxiproxy)")
	}
	p := &toxiProxy{t: t, api: api, name: fmt.Sprintf("go-%d-%d", os.Getpid(), time.Now().UnixNano())}
	created := p.do("POST", "/proxies", map[string]any{"name": p.name, "listen": "127.0.0.1:0", "upstream": addr})
	p.listen, _ = created["listen"].(string)
	t.Cleanup(func() { p.do("DELETE", "/proxies/"+p.name, nil) })
	return p
}

// dropAnswers makes the proxy drop every byte from txgate to the client.
func (p *toxiProxy) dropAnswers() {
	p.do("POST", "/proxies/"+p.name+"/toxics", map[string]any{
		"name": "drop_answers", "type": "timeout", "stream": "downstream", "toxicity": 1.0,
		"attributes": map[string]any{"timeout": 0},
	})
}

// cutAndHeal closes every connection through the proxy (its calls fail
// UNAVAILABLE), then lets new ones through untouched.
func (p *toxiProxy) cutAndHeal() {
	p.do("POST", "/proxies/"+p.name, map[string]any{"enabled": false})
	p.do("DELETE", "/proxies/"+p.name+"/toxics/drop_answers", nil)
	p.do("POST", "/proxies/"+p.name, map[string]any{"enabled": true})
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// An INSERT reaches txgate and commits, its answer is dropped on its way to
// the client, then the connection is cut. With its key (the default),
// Execute re-sends it and gets the stored answer; without one, it does not
// re-send it and answers UNAVAILABLE. Either way exactly one row exists.
func TestLiveExecuteWhoseAnswerIsLostAppliesOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noKey bool
	}{{"with its key", false}, {"without a key", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c, ctx := live(t)
			proxy := newTxgateProxy(t, os.Getenv("TXGATE_ADDR"))
			must(t, c, ctx, "DROP TABLE IF EXISTS go_lost")
			must(t, c, ctx, "CREATE TABLE go_lost (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16))")
			via, err := txgate.NewClient(proxy.listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer via.Close()
			must(t, via, ctx, "SELECT 1") // the channel is connected
			proxy.dropAnswers()

			type outcome struct {
				res *txgate.ExecResult
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				callCtx, cancel := context.WithTimeout(ctx, 40*time.Second)
				defer cancel()
				res, err := via.ExecuteWith(callCtx, txgate.ExecOptions{NoKey: tc.noKey, Timeout: 30 * time.Second},
					"INSERT INTO go_lost (v) VALUES (?)", "once")
				done <- outcome{res, err}
			}()
			// The INSERT was applied (and committed): its answer is on its way and lost.
			if !eventually(10*time.Second, func() bool {
				return must(t, c, ctx, "SELECT COUNT(*) FROM go_lost").Rows[0][0] == int64(1)
			}) {
				t.Fatal("the INSERT never arrived")
			}
			proxy.cutAndHeal()
			got := <-done

			rows := must(t, c, ctx, "SELECT id FROM go_lost").Rows
			if len(rows) != 1 {
				t.Fatalf("%d rows, want exactly 1", len(rows))
			}
			if tc.noKey {
				var e *txgate.Error
				if got.err == nil || !errors.As(got.err, &e) || e.Code != codes.Unavailable || e.Domain != "" {
					t.Fatalf("without a key: got %+v, %v; want the transport's UNAVAILABLE", got.res, got.err)
				}
				return
			}
			if got.err != nil {
				t.Fatal(got.err)
			}
			if got.res.Calls < 2 || got.res.IdempotencyKey == "" || got.res.AffectedRows != 1 ||
				got.res.LastInsertID != uint64(rows[0][0].(int64)) {
				t.Fatalf("result %+v (calls %d), row id %v: want the stored answer after a re-send",
					got.res.Result, got.res.Calls, rows[0][0])
			}
		})
	}
}
