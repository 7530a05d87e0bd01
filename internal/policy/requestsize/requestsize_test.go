package requestsize

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// upstream reads the whole body and answers 200 with its size, or 413 when the read was
// cut, as the gateway's proxy ErrorHandler does for a *http.MaxBytesError.
var upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		w.Header().Set("X-Upstream-Read-Error", "max_bytes")
		w.Header().Set("X-Upstream-Length", strconv.FormatInt(r.ContentLength, 10))
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	w.Header().Set("X-Upstream-Read", strconv.FormatInt(n, 10))
})

func serve(t *testing.T, cfg string) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "request-size", Config: json.RawMessage(cfg)}}
	return policytest.Serve(t, policy.NewRegistry(Type), &policy.Env{}, specs, nil, upstream)
}

// onlyReader hides bytes.Reader's Len so that the client cannot know the length and
// sends the body chunked.
type onlyReader struct{ io.Reader }

func do(t *testing.T, srv *httptest.Server, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct{ Code string }
	_ = json.Unmarshal(body, &doc)
	return resp, doc.Code
}

func TestLimits(t *testing.T) {
	srv := serve(t, `{"max_body":1024,"max_url":100,"max_query_params":3,"max_headers":2048}`)
	body := func(n int) io.Reader { return bytes.NewReader(make([]byte, n)) }
	tests := []struct {
		name    string
		method  string
		target  string
		body    io.Reader
		headers map[string]string
		status  int
		code    string
		read    string // X-Upstream-Read when the upstream read the whole body
	}{
		{"small body", "POST", "/x", body(1024), nil, 200, "", "1024"},
		{"content-length over", "POST", "/x", body(1025), nil, 413, "too_large", ""},
		{"chunked under", "POST", "/x", onlyReader{body(1000)}, nil, 200, "", "1000"},
		{"no body", "GET", "/x", nil, nil, 200, "", "0"},
		{"long url", "GET", "/" + strings.Repeat("a", 100), nil, nil, 414, "uri_too_long", ""},
		{"url at limit", "GET", "/" + strings.Repeat("a", 99), nil, nil, 200, "", "0"},
		{"too many params", "GET", "/x?a=1&b=2&c=3&d=4", nil, nil, 414, "too_many_query_params", ""},
		{"params at limit", "GET", "/x?a=1&b=2&&c=3", nil, nil, 200, "", "0"},
		{"headers too large", "GET", "/x", nil, map[string]string{"X-Big": strings.Repeat("b", 2048)}, 431, "headers_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.target, tt.body)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, code := do(t, srv, req)
			if resp.StatusCode != tt.status || code != tt.code {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, code, tt.status, tt.code)
			}
			if got := resp.Header.Get("X-Upstream-Read"); got != tt.read {
				t.Errorf("upstream read %q bytes, want %q", got, tt.read)
			}
		})
	}
}

// TestChunkedOverLimit: a body without a length passes the check and is cut while the
// upstream reads it.
func TestChunkedOverLimit(t *testing.T) {
	srv := serve(t, `{"max_body":1024}`)
	req, _ := http.NewRequest("POST", srv.URL+"/x", onlyReader{bytes.NewReader(make([]byte, 4096))})
	resp, _ := do(t, srv, req)
	if resp.StatusCode != 413 || resp.Header.Get("X-Upstream-Read-Error") != "max_bytes" {
		t.Fatalf("status %d, read error %q; want 413 and max_bytes", resp.StatusCode, resp.Header.Get("X-Upstream-Read-Error"))
	}
	if got := resp.Header.Get("X-Upstream-Length"); got != "-1" {
		t.Fatalf("the upstream saw Content-Length %s; the test means to send a chunked body", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "max_body: required"},
		{`{"max_body":-1}`, "max_body: required"},
		{`{"max_body":1,"max_url":-1,"max_headers":-2,"max_query_params":-3}`, "max_headers: must not be negative\nmax_url: must not be negative\nmax_query_params"},
		{`{"max_body":"1k"}`, "max_body: must be an integer"},
	} {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestCountParams(t *testing.T) {
	for q, want := range map[string]int{"": 0, "a": 1, "a=1&b": 2, "&&": 0, "a=1&&b=2&": 2} {
		if got := countParams(q); got != want {
			t.Errorf("countParams(%q) = %d, want %d", q, got, want)
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	h, err := New(&policy.Env{}, policy.HandlerFunc(func(*policy.Context) error { return nil }),
		&Config{MaxBody: 1 << 20, MaxURL: 2048, MaxQueryParams: 20, MaxHeaders: 8192}, "request-size")
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/orders?page=2&size=50", strings.NewReader(`{"item":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer abc")
	req.Header.Set("User-Agent", "bench/1.0")
	c := &policy.Context{R: req}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Serve(c); err != nil {
			b.Fatal(err)
		}
	}
}
