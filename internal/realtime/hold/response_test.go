package hold

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

func longPollUp(ch string, extra ...string) func(*http.Request) *Upstream {
	return func(*http.Request) *Upstream {
		h := hdr("Content-Type", "text/plain", "X-Timeout-Hdr", "kept", "Grip-Hold", "response", "Grip-Channel", ch, "Grip-Timeout", "30")
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return &Upstream{Status: 200, Header: h, Body: []byte("timeout body\n")}
	}
}

type result struct {
	resp *http.Response
	body string
	err  error
	at   time.Time
}

// getAsync starts a long-poll; the result arrives on the channel.
func (e *env) getAsync(ctx context.Context, path string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, err := e.get(ctx, path)
		r := result{resp: resp, err: err}
		if err == nil {
			b := new(strings.Builder)
			_, r.err = copyAll(b, resp)
			r.body = b.String()
		}
		r.at = time.Now()
		ch <- r
	}()
	return ch
}

func copyAll(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		n += int64(k)
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
}

func wait(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("no response")
	}
	return result{}
}

// [T:F] a published http-response inherits the held response's headers; published
// headers replace same-named ones; code from the publish.
func TestLongPollPublish(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("lp")
	res := e.getAsync(t.Context(), "/longpoll")
	e.waitSubscribers("lp", 1)
	if e.h.Stats().HeldResponse != 1 {
		t.Fatal("not held")
	}
	e.publish(publish.Item{Channel: "lp", HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("not for long-polls")}})
	e.publish(publish.Item{Channel: "lp", HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 201, Reason: "Made",
		Header: hdr("Content-Type", "application/json", "X-Pub", "1"), Body: []byte("{\"v\":1}\n")}})
	r := wait(t, res)
	h := r.resp.Header
	if r.resp.StatusCode != 201 || r.body != "{\"v\":1}\n" || h.Get("Content-Type") != "application/json" ||
		h.Get("X-Timeout-Hdr") != "kept" || h.Get("X-Pub") != "1" || h.Get("Content-Length") != "8" ||
		h.Get("X-Request-Id") != "rid-1" || h.Get("Grip-Hold") != "" || len(h.Values("Content-Type")) != 1 {
		t.Fatalf("%d %v %q", r.resp.StatusCode, h, r.body)
	}
	e.waitIdle()
	e.waitSubscribers("lp", 0)
	if st := e.h.Stats(); st.Messages != 1 || st.Ended != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// [T:G, T:I] the timeout replays the original response, Grip-Status applied.
func TestLongPollTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.up = longPollUp("lt", "Grip-Timeout", "5", "Grip-Status", "202")
	start := time.Now()
	r := wait(t, e.getAsync(t.Context(), "/longpoll"))
	took := r.at.Sub(start)
	h := r.resp.Header
	if took < 4500*time.Millisecond || took >= 8*time.Second {
		t.Fatalf("timeout after %v", took)
	}
	if r.resp.StatusCode != 202 || r.body != "timeout body\n" || h.Get("X-Timeout-Hdr") != "kept" ||
		h.Get("Content-Length") != "13" || h.Get("Grip-Timeout") != "" || h.Get("Grip-Status") != "" {
		t.Fatalf("%d %v %q", r.resp.StatusCode, h, r.body)
	}
}

// [T:H] the instruct JSON's response replaces the origin's headers entirely.
func TestInstructJSON(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "application/grip-instruct", "X-Origin", "yes"),
			Body: []byte(`{"hold":{"mode":"response","channels":[{"name":"ins"}],"timeout":30},"response":{"headers":{"Content-Type":"text/plain"},"body":"instruct timeout\n"}}`)}
	}
	res := e.getAsync(t.Context(), "/instruct")
	e.waitSubscribers("ins", 1)
	e.publish(publish.Item{Channel: "ins", HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 200, Header: http.Header{}, Body: []byte("from instruct publish\n")}})
	r := wait(t, res)
	h := r.resp.Header
	if r.resp.StatusCode != 200 || r.body != "from instruct publish\n" || h.Get("Content-Type") != "text/plain" ||
		h.Get("Content-Length") != "22" || h.Get("X-Origin") != "" {
		t.Fatalf("%d %v %q", r.resp.StatusCode, h, r.body)
	}
}

// [T:K] an invalid hold is a 502, with the reason only in debug mode.
func TestBadHold(t *testing.T) {
	for _, debug := range []bool{false, true} {
		e := newEnv(t, envOpts{})
		e.cfg.Debug = debug
		e.up = func(*http.Request) *Upstream {
			return &Upstream{Status: 200, Header: hdr("Grip-Hold", "bogus"), Body: []byte("x")}
		}
		resp, err := e.get(t.Context(), "/badhold")
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, resp)
		want := "Error while proxying to origin.\n"
		if debug {
			want = "Failed to parse accept instructions: Grip-Hold must be set to either 'response' or 'stream'\n"
		}
		if resp.StatusCode != 502 || b != want || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("X-Request-Id") != "rid-1" {
			t.Fatalf("debug=%v: %d %v %q", debug, resp.StatusCode, resp.Header, b)
		}
	}
}

// [T:L] a prev-id gap re-requests the origin with Grip-Last; the retried response
// (here a plain one) is relayed. A matching prev-id is delivered.
func TestLongPollPrevID(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("lpp; prev-id=1")
	e.origin.retry = func(n int, extra http.Header) (*Upstream, error) {
		if n == 1 {
			// Still behind: hold again from the same position.
			return longPollUp("lpp; prev-id=1")(nil), nil
		}
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain"), Body: []byte("[2]\n")}, nil
	}
	res := e.getAsync(t.Context(), "/longpoll-prev")
	e.waitSubscribers("lpp", 1)
	gap := publish.Item{Channel: "lpp", ID: "3", PrevID: "2", NoSeq: true, HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 200, Body: []byte("[3]\n")}}
	e.publish(gap)
	waitFor(t, "first retry", func() bool { return e.origin.retryCount() == 1 })
	// The retried hold re-subscribes; a second gap retries again.
	time.Sleep(50 * time.Millisecond)
	gap.ID, gap.PrevID = "4", "3"
	e.publish(gap)
	r := wait(t, res)
	if r.body != "[2]\n" || r.resp.StatusCode != 200 {
		t.Fatalf("%d %q", r.resp.StatusCode, r.body)
	}
	e.origin.mu.Lock()
	defer e.origin.mu.Unlock()
	if len(e.origin.retries) != 2 || e.origin.retries[0].Get("Grip-Last") != "lpp; last-id=1" || e.origin.retries[1].Get("Grip-Last") != "lpp; last-id=1" {
		t.Fatalf("retries %v", e.origin.retries)
	}
}

func TestLongPollPrevIDMatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("lpm; prev-id=1")
	res := e.getAsync(t.Context(), "/")
	e.waitSubscribers("lpm", 1)
	e.publish(publish.Item{Channel: "lpm", ID: "2", PrevID: "1", HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 200, Body: []byte("[2]\n")}})
	if r := wait(t, res); r.body != "[2]\n" || e.origin.retryCount() != 0 {
		t.Fatalf("%q, %d retries", r.body, e.origin.retryCount())
	}
}

// If the node already delivered a newer item than the hold's prev-id, recover at once.
func TestLongPollStalePrevID(t *testing.T) {
	e := newEnv(t, envOpts{})
	// Make the channel known with last id 5 (a stream subscriber keeps it alive).
	e.up = streamUp("stale")
	c := e.dial("/")
	c.waitBytes("stream open\n\r\n")
	e.waitSubscribers("stale", 1)
	e.publish(publish.Item{Channel: "stale", ID: "5", HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("5")}})
	c.waitBytes("1\r\n5\r\n")
	e.up = longPollUp("stale; prev-id=3")
	e.origin.retry = func(int, http.Header) (*Upstream, error) {
		return &Upstream{Status: 200, Header: http.Header{}, Body: []byte("[4,5]\n")}, nil
	}
	r := wait(t, e.getAsync(t.Context(), "/"))
	if r.body != "[4,5]\n" {
		t.Fatalf("%q", r.body)
	}
	e.origin.mu.Lock()
	defer e.origin.mu.Unlock()
	if len(e.origin.retries) != 1 || e.origin.retries[0].Get("Grip-Last") != "stale; last-id=3" {
		t.Fatalf("retries %v", e.origin.retries)
	}
}

// [T:S] a hint re-requests the origin; a retried hold that times out replays its own response.
func TestLongPollHint(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("hint1")
	e.origin.retry = func(int, http.Header) (*Upstream, error) {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain", "X-Second", "1"), Body: []byte("fresh\n")}, nil
	}
	res := e.getAsync(t.Context(), "/")
	e.waitSubscribers("hint1", 1)
	e.publish(publish.Item{Channel: "hint1", HTTPResponse: &publish.HTTPResponse{Action: publish.Hint}})
	r := wait(t, res)
	if r.body != "fresh\n" || r.resp.Header.Get("X-Second") != "1" || e.origin.retryCount() != 1 {
		t.Fatalf("%v %q", r.resp.Header, r.body)
	}
}

// [T:T] a recover re-requests every long-poll; the retried hold keeps waiting and is
// answered by a later publish.
func TestLongPollRecover(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("rec1")
	e.origin.retry = func(int, http.Header) (*Upstream, error) { return longPollUp("rec1")(nil), nil }
	res := e.getAsync(t.Context(), "/")
	e.waitSubscribers("rec1", 1)
	e.f.Recover()
	waitFor(t, "retry", func() bool { return e.origin.retryCount() == 1 })
	time.Sleep(50 * time.Millisecond)
	e.publish(publish.Item{Channel: "rec1", HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 200, Body: []byte("after recover\n")}})
	r := wait(t, res)
	if r.body != "after recover\n" || r.resp.Header.Get("X-Timeout-Hdr") != "kept" {
		t.Fatalf("%v %q", r.resp.Header, r.body)
	}
	if extra := e.origin.retries[0]; extra.Get("Grip-Last") != "" {
		t.Fatalf("Grip-Last without prev-id: %v", extra)
	}
}

// [T:R] the first-subscription update re-requests long-polls only when configured.
func TestLongPollFirstSubscription(t *testing.T) {
	for _, honour := range []bool{true, false} {
		e := newEnv(t, envOpts{firstSub: 200 * time.Millisecond})
		e.cfg.UpdateOnFirstSubscription = honour
		e.up = longPollUp("fresh1")
		e.origin.retry = func(int, http.Header) (*Upstream, error) {
			return &Upstream{Status: 200, Header: http.Header{}, Body: []byte("refetched\n")}, nil
		}
		res := e.getAsync(t.Context(), "/")
		if honour {
			if r := wait(t, res); r.body != "refetched\n" || e.origin.retryCount() != 1 {
				t.Fatalf("%q %d", r.body, e.origin.retryCount())
			}
			continue
		}
		e.waitSubscribers("fresh1", 1)
		time.Sleep(time.Second) // well past the first-subscription delay
		if e.origin.retryCount() != 0 {
			t.Fatal("first-subscription update honoured while off")
		}
		e.publish(publish.Item{Channel: "fresh1", HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 200, Body: []byte("pub\n")}})
		if r := wait(t, res); r.body != "pub\n" {
			t.Fatalf("%q", r.body)
		}
	}
}

// A retry that answers with a stream hold turns the long-poll into a stream.
func TestLongPollRetryBecomesStream(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("rs1")
	e.origin.retry = func(int, http.Header) (*Upstream, error) { return streamUp("rs2")(nil), nil }
	c := e.dial("/")
	e.waitSubscribers("rs1", 1)
	e.publish(publish.Item{Channel: "rs1", HTTPResponse: &publish.HTTPResponse{Action: publish.Hint}})
	c.waitBytes("c\r\nstream open\n\r\n")
	e.waitSubscribers("rs2", 1)
	e.waitSubscribers("rs1", 0)
	e.publish(streamItem("rs2", "s\n"))
	c.waitBytes("2\r\ns\n\r\n")
}

// body-patch applies to the held original body.
func TestLongPollBodyPatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "application/json", "Grip-Hold", "response", "Grip-Channel", "bp"),
			Body: []byte(`{"items":[1],"n":1}` + "\n")}
	}
	res := e.getAsync(t.Context(), "/")
	e.waitSubscribers("bp", 1)
	e.publish(publish.Item{Channel: "bp", HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: 200,
		BodyPatch: []byte(`[{"op":"add","path":"/items/-","value":2},{"op":"replace","path":"/n","value":2}]`)}})
	r := wait(t, res)
	if r.body != `{"items":[1,2],"n":2}`+"\n" || r.resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%v %q", r.resp.Header, r.body)
	}
}

// A client that gives up ends the hold and its subscriptions.
func TestLongPollClientGone(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("gone")
	ctx, cancel := context.WithCancel(t.Context())
	res := e.getAsync(ctx, "/")
	e.waitSubscribers("gone", 1)
	cancel()
	<-res
	e.waitIdle()
	e.waitSubscribers("gone", 0)
}

// Close answers held long-polls with their timeout response.
func TestCloseLongPolls(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = longPollUp("cl2")
	res := e.getAsync(t.Context(), "/")
	e.waitSubscribers("cl2", 1)
	e.h.Close()
	if r := wait(t, res); r.body != "timeout body\n" {
		t.Fatalf("%q", r.body)
	}
}

// [T:N] no hold: Grip-Expose-Headers keeps only the listed origin headers.
func TestExposeHeaders(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain", "X-A", "a", "X-B", "b", "X-C", "c",
			"Grip-Expose-Headers", "Content-Type, X-A, X-C"), Body: []byte("exposed\n")}
	}
	resp, err := e.get(t.Context(), "/expose")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	h := resp.Header
	if b != "exposed\n" || h.Get("X-A") != "a" || h.Get("X-C") != "c" || h.Get("X-B") != "" || h.Get("Content-Length") != "8" || h.Get("X-Request-Id") != "rid-1" {
		t.Fatalf("%v %q", h, b)
	}
}

// No hold + next link: pagination concatenates bodies until a response without a link.
func TestPagination(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain", "Grip-Link", "</page/2>; rel=next"), Body: []byte("p1\n")}
	}
	e.origin.link = func(n int, u *url.URL, _ http.Header) (*Upstream, error) {
		if n == 1 {
			return &Upstream{Status: 200, Header: hdr("Grip-Link", "<3>; rel=next"), Body: []byte("p2\n")}, nil
		}
		return &Upstream{Status: 200, Header: http.Header{}, Body: []byte("p3\n")}, nil
	}
	resp, err := e.get(t.Context(), "/page/1")
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); b != "p1\np2\np3\n" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("%v %q", resp.Header, b)
	}
	want := e.srv.URL + "/page/2 | \n" + e.srv.URL + "/page/3 | "
	if got := strings.Join(e.origin.linkList(), "\n"); got != want {
		t.Fatalf("links %q", got)
	}
}
