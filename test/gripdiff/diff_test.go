package gripdiff

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Intended differences, normalised away rather than reported (see also
// ignoredOriginHeaders for what the origin sees):
//   - Server and Date response headers (Gatehouse's are its own);
//   - Gatehouse's X-Request-Id and Via headers;
//   - "Connection: Transfer-Encoding" on Pushpin's streams (a condure quirk);
//   - chunk boundaries (bodies are compared as byte strings);
//   - "Connection: close" on Pushpin's publish API responses, and "Cache-Control: no-store"
//     on Gatehouse's (every admin-listener answer carries it);
//   - whether a keep-alive connection is reused after a stream's "close" action (recorded
//     as a note only: Gatehouse may close the TCP connection), and so "Connection: close"
//     (Gatehouse writes a response with a custom reason phrase on the hijacked connection,
//     which it then closes);
//   - the order of differently named header fields (HTTP gives it no meaning; Pushpin
//     keeps the origin's order, Go's server sorts);
//   - Grip-Sig token bytes (exp/iat differ; the signature, key, alg, iss and exp window are
//     compared instead), Connection-Id values (labelled C1, C2... per scenario),
//     Sec-WebSocket-Key/Accept of random keys, and the timing of keep-alives (checked
//     loosely per peer, while content is compared exactly with runs of keep-alives
//     collapsed to one "[ka]").
var droppedResponseHeaders = map[string]bool{"server": true, "date": true, "x-request-id": true, "via": true}

// sc is one scenario run against one peer: the transcript it produces (compared between
// the peers), its failed expectations (from the Pushpin transcripts) and notes.
type sc struct {
	ctx   context.Context
	p     peer
	o     *origin
	id    string
	start time.Time

	mu    sync.Mutex
	lines []string
	errs  []string
	notes []string
}

func (s *sc) ch(suffix string) string {
	if suffix == "" {
		return s.id
	}
	return s.id + "-" + suffix
}

func (s *sc) add(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

func (s *sc) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf("[%6.2fs] ", time.Since(s.start).Seconds())+fmt.Sprintf(format, args...))
}

// fatal records a failure and ends the scenario (the runner recovers errAbort).
func (s *sc) fatal(format string, args ...any) {
	s.fail(format, args...)
	panic(errAbort)
}

func (s *sc) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func (s *sc) expect(ok bool, format string, args ...any) {
	if !ok {
		s.fail(format, args...)
	}
}

// sleepUntil sleeps until d after t0.
func (s *sc) sleepUntil(t0 time.Time, d time.Duration) { ctxSleep(s.ctx, time.Until(t0.Add(d))) }

// response adds a normalised response: status line, headers sorted by name (without the
// intended differences), and the body.
func (s *sc) response(label string, r *rawResponse, body []byte, publishAPI bool) {
	if r == nil {
		s.add("%s: no response", label)
		return
	}
	s.add("%s: %d %s", label, r.status, r.reason)
	for _, h := range normHeaders(r.headers, publishAPI) {
		s.add("  %s: %s", h[0], h[1])
	}
	if body != nil {
		s.add("  body: %q", body)
	}
}

func normHeaders(hs [][2]string, publishAPI bool) [][2]string {
	var out [][2]string
	for _, h := range hs {
		name := strings.ToLower(h[0])
		if droppedResponseHeaders[name] {
			continue
		}
		if name == "connection" && (strings.EqualFold(h[1], "Transfer-Encoding") || strings.EqualFold(h[1], "close")) ||
			publishAPI && name == "cache-control" && strings.EqualFold(h[1], "no-store") {
			continue
		}
		out = append(out, [2]string{canonical(h[0]), h[1]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// canonical is the header name in canonical case (the peers may differ in case only).
func canonical(name string) string {
	parts := strings.Split(strings.ToLower(name), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// publish POSTs {"items": items} to the peer's publish API and records the answer.
func (s *sc) publish(items ...any) *rawResponse {
	body, _ := json.Marshal(map[string]any{"items": items})
	r, err := s.p.control("POST", "/publish/", body, true, "Content-Type", "application/json")
	if err != nil {
		s.fatal("publish: %v", err)
	}
	s.response("publish", r, r.body, true)
	if r.status != 200 {
		s.fail("publish answered %d %q", r.status, r.body)
	}
	return r
}

// originLines adds what the origin received for channel ch.
func (s *sc) originLines(ch string) []originRequest {
	reqs := s.o.requests(ch)
	cids := map[string]string{}
	var at []string
	for _, r := range reqs {
		for _, l := range r.describe(cids) {
			s.add("%s", l)
		}
		at = append(at, fmt.Sprintf("%.2fs %s", r.at.Sub(s.start).Seconds(), r.uri))
	}
	if len(at) > 0 {
		s.note("origin requests for %s at: %s", ch, strings.Join(at, ", "))
	}
	return reqs
}

// waitOrigin waits until the origin has n requests for ch.
func (s *sc) waitOrigin(ch string, n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for len(s.o.requests(ch)) < n {
		if time.Now().After(deadline) {
			return false
		}
		ctxSleep(s.ctx, 10*time.Millisecond)
	}
	return true
}

// waitOriginBody waits until the origin got a request for ch whose body contains sub.
func (s *sc) waitOriginBody(ch, sub string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		for _, r := range s.o.requests(ch) {
			if strings.Contains(string(r.body), sub) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		ctxSleep(s.ctx, 10*time.Millisecond)
	}
}

// collapse splits body into records ending in sep and replaces each run of ka records
// with one "[ka]", so that content compares exactly while keep-alive counts may vary.
func collapse(body, sep, ka string) []string {
	recs := strings.SplitAfter(body, sep)
	var out []string
	for _, r := range recs {
		if r == "" {
			continue
		}
		if r == ka+sep {
			if len(out) > 0 && out[len(out)-1] == "[ka]" {
				continue
			}
			out = append(out, "[ka]")
			continue
		}
		out = append(out, fmt.Sprintf("%q", r))
	}
	return out
}

// diff is a line diff of a and b (LCS), marking lines only in a with "-" and only in b
// with "+".
func diff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out.WriteString("   " + a[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString(" + " + b[j] + "\n")
			j++
		default:
			out.WriteString(" - " + a[i] + "\n")
			i++
		}
	}
	return out.String()
}

// scenario is one family of the transcripts.
type scenario struct {
	id   string // channel prefix and transcript letter
	name string
	run  func(s *sc)
	// serial scenarios run alone, after the others: a recover (T, and J if a peer
	// accepts a body-less POST /recover) updates every session of the peer.
	serial bool
	// long scenarios are skipped with -short.
	long bool
}

// runOne runs a scenario against a peer and returns its record.
func runOne(ctx context.Context, p peer, o *origin, sce scenario) *sc {
	s := &sc{ctx: ctx, p: p, o: o, id: sce.id, start: time.Now()}
	func() {
		defer func() {
			v := recover()
			if v != nil && v != errAbort {
				s.fail("panic: %v", v)
			}
			if v != nil {
				// Aborted: still show what the origin received for the scenario's channels.
				seen := map[string]bool{}
				for _, r := range o.requests("") {
					if (r.ch == s.id || strings.HasPrefix(r.ch, s.id+"-")) && !seen[r.ch] {
						seen[r.ch] = true
						s.add("(scenario aborted)")
						s.originLines(r.ch)
					}
				}
			}
		}()
		sce.run(s)
	}()
	return s
}

// TestDifferential runs every scenario against Pushpin and Gatehouse. For each scenario
// the subtests are "pushpin" (the transcript's expectations hold against Pushpin: the
// harness reproduces the recording), "gatehouse" (the same expectations against
// Gatehouse) and "same" (the two normalised transcripts are equal).
func TestDifferential(t *testing.T) {
	bin := pushpinBin(t)
	oP, oG := newOrigin(t), newOrigin(t)
	pp := startPushpin(t, bin, oP.addr())
	var gh peer
	g, gerr := startGatehouse(t, oG.addr())
	if gerr == nil {
		gh = g
	}

	scs := scenarios()
	type pair struct{ p, g *sc }
	results := make([]pair, len(scs))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	// run runs the selected scenarios concurrently (each against both peers at once).
	run := func(pick func(i int, sce scenario) bool) {
		var wg sync.WaitGroup
		for i, sce := range scs {
			if !pick(i, sce) || sce.long && testing.Short() {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); results[i].p = runOne(ctx, pp, oP, sce) }()
			if gh != nil {
				wg.Add(1)
				go func() { defer wg.Done(); results[i].g = runOne(ctx, gh, oG, sce) }()
			}
		}
		wg.Wait()
	}
	began := time.Now()
	run(func(_ int, sce scenario) bool { return !sce.serial })
	// Serial scenarios may touch every session of a peer (recover), so one at a time.
	for j, sce := range scs {
		if sce.serial {
			run(func(i int, _ scenario) bool { return i == j })
		}
	}
	t.Logf("scenarios ran in %s", time.Since(began).Round(100*time.Millisecond))

	t.Run("gatehouse-publish-needs-auth", func(t *testing.T) {
		if gerr != nil {
			t.Fatalf("gatehouse did not start: %v", gerr)
		}
		body := []byte(`{"items":[{"channel":"auth","formats":{"http-stream":{"content":"x"}}}]}`)
		for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}} {
			r, err := g.control("POST", "/publish/", body, false, hdr...)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != 401 {
				t.Errorf("publish with %q: %d %q, want 401", hdr, r.status, r.body)
			}
		}
	})
	for i, sce := range scs {
		t.Run(sce.id+"-"+sce.name, func(t *testing.T) {
			if sce.long && testing.Short() {
				t.Skip("takes 25 s (Keep-Alive-Interval is at least 20 s); skipped with -short")
			}
			r := results[i]
			report := func(t *testing.T, s *sc) {
				for _, n := range s.notes {
					t.Logf("note: %s", n)
				}
				for _, e := range s.errs {
					t.Errorf("%s", e)
				}
				if t.Failed() {
					t.Logf("transcript:\n%s", strings.Join(s.lines, "\n"))
				}
			}
			t.Run("pushpin", func(t *testing.T) { report(t, r.p) })
			t.Run("gatehouse", func(t *testing.T) {
				if r.g == nil {
					t.Fatalf("gatehouse did not start: %v", gerr)
				}
				report(t, r.g)
			})
			t.Run("same", func(t *testing.T) {
				if r.g == nil {
					t.Fatalf("gatehouse did not start: %v", gerr)
				}
				if strings.Join(r.p.lines, "\n") != strings.Join(r.g.lines, "\n") {
					t.Errorf("Pushpin (-) and Gatehouse (+) differ:\n%s", diff(r.p.lines, r.g.lines))
				} else if testing.Verbose() {
					t.Logf("transcript:\n%s", strings.Join(r.p.lines, "\n"))
				}
			})
		})
	}
}
