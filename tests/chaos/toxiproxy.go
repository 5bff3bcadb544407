package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Toxi drives one toxiproxy proxy through toxiproxy's HTTP API (loopback only).
type Toxi struct {
	base  string // http://127.0.0.1:PORT
	proxy string // the proxy's name
	http  *http.Client
}

func NewToxi(addr, proxy string) *Toxi {
	return &Toxi{base: "http://" + addr, proxy: proxy, http: &http.Client{Timeout: 10 * time.Second}}
}

func (t *Toxi) do(method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, t.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// SetEnabled turns the proxy on or off. Off closes every connection through
// it and stops listening: new connects are refused ("the database is down").
func (t *Toxi) SetEnabled(on bool) error {
	return t.do("POST", "/proxies/"+t.proxy, map[string]any{"enabled": on})
}

// AddToxic adds a toxic; stream is "upstream" (txgate -> MariaDB) or
// "downstream" (MariaDB -> txgate).
func (t *Toxi) AddToxic(name, kind, stream string, attrs map[string]int64) error {
	return t.do("POST", "/proxies/"+t.proxy+"/toxics", map[string]any{
		"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attrs,
	})
}

func (t *Toxi) RemoveToxic(name string) error {
	return t.do("DELETE", "/proxies/"+t.proxy+"/toxics/"+name, nil)
}

// Reset enables every proxy and removes every toxic.
func (t *Toxi) Reset() error { return t.do("POST", "/reset", nil) }
