// Package demo provides what `gatehouse serve --demo` adds: an in-process upstream to
// proxy to, and the seed data (an API in front of it, a plan, a developer, an app, a key)
// that makes the first curl work.
package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Limits of the demo upstream, so that a public demo cannot be made to hold a connection
// or stream bytes forever.
const (
	maxDelay    = 60 * time.Second
	maxBytes    = 100 << 20
	maxEchoBody = 1 << 20
)

// Upstream returns the demo origin:
//
//	GET  /...           echo of the request as JSON (method, path, query, headers, body)
//	GET  /delay/{ms}    the echo after a delay (at most 60s)
//	GET  /status/{code} an empty response with that status
//	GET  /bytes/{n}     n pseudo-random bytes (at most 100 MiB), streamed
//	GET  /stream        a GRIP stream hold on channel "demo" (served by the realtime proxy)
func Upstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", echo)
	mux.HandleFunc("GET /delay/{ms}", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.PathValue("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "delay must be a non-negative number of milliseconds", http.StatusBadRequest)
			return
		}
		d := min(time.Duration(ms)*time.Millisecond, maxDelay)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		echo(w, r)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			http.Error(w, "status must be between 200 and 599", http.StatusBadRequest)
			return
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > maxBytes {
			http.Error(w, fmt.Sprintf("n must be between 0 and %d", maxBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		_, _ = io.CopyN(w, &pattern{}, n)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		// GRIP: ask the proxy in front to hold this response open as a stream and feed it
		// whatever is published to channel "demo".
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Grip-Hold", "stream")
		w.Header().Set("Grip-Channel", "demo")
		_, _ = io.WriteString(w, "stream open\n")
	})
	return mux
}

// Echo is the JSON the demo upstream answers with.
type Echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query,omitempty"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body,omitempty"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoBody+1))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxEchoBody {
		http.Error(w, "body too large for echo", http.StatusRequestEntityTooLarge)
		return
	}
	e := Echo{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Headers: r.Header, Body: string(body)}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(e)
}

// pattern is a cheap endless byte source (the content does not matter, the cost does).
type pattern struct{ i byte }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'a' + p.i%26
		p.i++
	}
	return len(b), nil
}
