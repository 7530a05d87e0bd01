package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tt.q)
		if d := float64(got-tt.want) / float64(tt.want); d < -0.011 || d > 0.011 {
			t.Errorf("quantile(%v) = %s, want %s within 1%%", tt.q, got, tt.want)
		}
	}
	if got := h.summary().MaxMs; got != 1000 {
		t.Errorf("max %v ms, want 1000", got)
	}
}

func TestSubscriberMark(t *testing.T) {
	s := subscriber{seen: make([]uint64, 2)}
	for _, seq := range []int{1, 2, 4, 3, 3, 5, 70} {
		s.mark(seq)
	}
	if s.distinct != 6 || s.dups != 1 || s.reordered != 1 || s.maxSeq != 70 {
		t.Errorf("distinct %d dups %d reordered %d max %d, want 6 1 1 70", s.distinct, s.dups, s.reordered, s.maxSeq)
	}
	if !s.has(70) || s.has(6) {
		t.Error("has: wrong")
	}
}

func TestParseStat(t *testing.T) {
	pi, err := parseStat("42 (a (weird) name) S 7 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 1 0 1 1 1")
	if err != nil {
		t.Fatal(err)
	}
	if pi.ppid != 7 || pi.comm != "a (weird) name" || pi.ticks != 175 {
		t.Errorf("got %+v", pi)
	}
}

func TestReadHeadChunked(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\n:ok\n\n\r\n" + "d\r\ndata: 1 1234\n\r\n" + "1\r\n\n\r\n" + "0\r\n\r\n"
	body, err := readHead(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		line, err := readLine(body)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line))
	}
	if got := strings.Join(lines, "|"); got != ":ok||data: 1 1234|" {
		t.Errorf("lines %q", got)
	}
}

// TestRun: a fake GRIP proxy (chunked SSE, Pushpin's publish API) and a whole run.
func TestRun(t *testing.T) {
	var mu sync.Mutex
	var subs []chan string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "k" {
			http.Error(w, "no key", 401)
			return
		}
		ch := make(chan string, 1000)
		mu.Lock()
		subs = append(subs, ch)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ":ok\n\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case s := <-ch:
				fmt.Fprint(w, s)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /publish/", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Items []struct {
				Formats struct {
					Stream struct {
						Content string `json:"content"`
					} `json:"http-stream"`
				} `json:"formats"`
			} `json:"items"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Items) != 1 {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		for _, ch := range subs {
			ch <- body.Items[0].Formats.Stream.Content
		}
		mu.Unlock()
		fmt.Fprint(w, "Published\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	cfg := &Config{Label: "fake", URL: srv.URL + "/stream", N: 20, Concurrency: 5, Headers: []header{{"X-API-Key", "k"}},
		ConnectTimeout: 5 * time.Second, RetryConcurrency: 5, PublishURL: srv.URL + "/publish/", Channel: "c",
		Messages: 5, Rate: 100, Flood: 5, Duration: time.Minute, Drain: 2 * time.Second, PrevID: true}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Valid || s.Connected != 20 || s.Lost != 0 || len(s.Phases) != 2 {
		t.Fatalf("summary: %+v", s)
	}
	for _, p := range s.Phases {
		if p.Deliveries != 100 || !p.Complete {
			t.Errorf("%s: %d deliveries, complete %v; want 100", p.Name, p.Deliveries, p.Complete)
		}
	}
}
