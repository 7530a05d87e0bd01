package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUpstream(t *testing.T) {
	srv := httptest.NewServer(Upstream())
	t.Cleanup(srv.Close)
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp, err := http.Post(srv.URL+"/hello?x=1", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Method != "POST" || e.Path != "/hello" || e.Query != "x=1" || e.Body != "hi" || e.Headers["Content-Type"][0] != "text/plain" {
		t.Errorf("echo = %+v", e)
	}

	if r := get("/status/418"); r.StatusCode != 418 {
		t.Errorf("status = %d", r.StatusCode)
	}
	for _, bad := range []string{"/status/99", "/status/x", "/bytes/-1", "/bytes/999999999999", "/delay/x"} {
		if r := get(bad); r.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", bad, r.StatusCode)
		}
	}
	r := get("/bytes/100000")
	n, _ := io.Copy(io.Discard, r.Body)
	if n != 100000 || r.ContentLength != 100000 {
		t.Errorf("bytes: got %d (Content-Length %d)", n, r.ContentLength)
	}
	if r := get("/delay/10"); r.StatusCode != 200 {
		t.Errorf("delay: %d", r.StatusCode)
	}
	r = get("/stream")
	if r.Header.Get("Grip-Hold") != "stream" || r.Header.Get("Grip-Channel") != "demo" {
		t.Errorf("stream headers: %v", r.Header)
	}
}
