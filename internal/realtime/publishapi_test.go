package realtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// recorder is a fanout subscriber that keeps what it is given.
type recorder struct{ items chan *publish.Item }

func (r *recorder) Deliver(_ string, it *publish.Item) { r.items <- it }
func (r *recorder) Update(string, fanout.Reason)       {}

const adminToken = "test-admin-token"

func newTestNode(t *testing.T, publishKey string) (*Node, *httptest.Server) {
	t.Helper()
	n, err := New(Options{Broker: broker.NewHub(broker.HubOptions{}), PublishKey: publishKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	mux := http.NewServeMux()
	n.Mount(mux, func(r *http.Request) error {
		switch r.Header.Get("Authorization") {
		case "Bearer " + adminToken:
			return nil
		case "Bearer viewer-token":
			return gatehouse.Errorf(gatehouse.EForbidden, "the admin token has role viewer")
		}
		return errors.New("the admin token is not valid")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return n, srv
}

type reply struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, url, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest("POST", url, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Method" {
			req.Method = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// TestPublishAPI checks Pushpin's answers [T:J] and Gatehouse's authentication.
func TestPublishAPI(t *testing.T) {
	n, srv := newTestNode(t, "base64:"+"c2VjcmV0") // "secret"
	rec := &recorder{items: make(chan *publish.Item, 10)}
	stop, err := n.Fanout().Subscribe("news", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	auth := []string{"Authorization", "Bearer " + adminToken}
	good := `{"items":[{"channel":"news","formats":{"http-stream":{"content":"hi\n"}}}]}`
	jwt := grip.Sign([]byte("secret"), "publisher", time.Now())

	for _, tc := range []struct {
		name   string
		path   string
		body   string
		hdr    []string
		status int
		want   string // body, or a problem code for 401/403
	}{
		{"published", "/publish/", good, auth, 200, "Published\n"},
		{"no trailing slash", "/publish", good, auth, 200, "Published\n"},
		{"json reply", "/publish/", good, append([]string{"Accept", "application/json"}, auth...), 200, `{"message":"Published"}` + "\n"},
		{"not acceptable", "/publish/", good, append([]string{"Accept", "image/png"}, auth...), 406, publish.NotAcceptable},
		{"jwt from a GRIP library", "/publish/", good, []string{"Authorization", "Bearer " + jwt}, 200, "Published\n"},
		{"no credentials", "/publish/", good, nil, 401, "unauthorized"},
		{"bad token", "/publish/", good, []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		{"jwt with another key", "/publish/", good, []string{"Authorization", "Bearer " + grip.Sign([]byte("other"), "x", time.Now())}, 401, "unauthorized"},
		{"read-only token", "/publish/", good, []string{"Authorization", "Bearer viewer-token"}, 403, "forbidden"},
		{"method", "/publish/", "", append([]string{"Method", "GET"}, auth...), 405, "Method not allowed: GET.\n"},
		{"not json", "/publish/", "{", auth, 400, "Body is not valid JSON.\n"},
		{"not an object", "/publish/", "[]", auth, 400, "Invalid format.\n"},
		{"no items", "/publish/", "{}", auth, 400, "Invalid format: object does not contain 'items'\n"},
		{"no channel", "/publish/", `{"items":[{"formats":{}}]}`, auth, 400, "Invalid format: publish item object does not contain 'channel'\n"},
		{"empty body", "/publish/", "", auth, 400, "Body is not valid JSON.\n"},
		{"too large", "/publish/", `{"items":[{"channel":"x","formats":{"http-stream":{"content":"` + strings.Repeat("a", MaxPublishBody) + `"}}}]}`, auth, 413, "Request too large.\n"},
		{"recover", "/recover", "{}", auth, 200, "Updated\n"},
		{"recover needs credentials", "/recover", "{}", nil, 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, srv.URL+tc.path, tc.body, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %q", r.status, tc.status, r.body)
			}
			if tc.status == 401 || tc.status == 403 {
				if !strings.Contains(r.body, `"code":"`+tc.want+`"`) {
					t.Fatalf("body %q lacks code %q", r.body, tc.want)
				}
				return
			}
			if r.body != tc.want {
				t.Fatalf("body %q, want %q", r.body, tc.want)
			}
		})
	}
	// Only the accepted publishes were delivered: published, no slash, json reply, jwt.
	got := 0
	timeout := time.After(5 * time.Second)
	for got < 4 {
		select {
		case it := <-rec.items:
			if it.Channel != "news" || string(it.HTTPStream.Content) != "hi\n" {
				t.Fatalf("delivered %+v", it)
			}
			got++
		case <-timeout:
			t.Fatalf("%d of 4 accepted publishes delivered", got)
		}
	}
	select {
	case it := <-rec.items:
		t.Fatalf("unexpected extra delivery %+v", it)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestPublishNeedsLength: a POST with neither Content-Length nor a chunked body gets 411.
func TestPublishNeedsLength(t *testing.T) {
	_, srv := newTestNode(t, "")
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /publish/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", adminToken)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 411 || string(b) != "Request requires Content-Length.\n" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

// TestPublishListener is the dedicated listener: the banner, the API, 404 elsewhere.
func TestPublishListener(t *testing.T) {
	n, _ := newTestNode(t, "")
	srv := httptest.NewServer(n.PublishListenerHandler(func(r *http.Request) error {
		if r.Header.Get("Authorization") == "Bearer "+adminToken {
			return nil
		}
		return errors.New("no")
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "publish API") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, b)
	}
	if r := post(t, srv.URL+"/elsewhere", "{}"); r.status != 404 || r.body != "Not Found\n" {
		t.Fatalf("POST /elsewhere = %d %q", r.status, r.body)
	}
	if r := post(t, srv.URL+"/publish/", `{"items":[]}`, "Authorization", "Bearer "+adminToken); r.status != 200 {
		t.Fatalf("publish = %d %q", r.status, r.body)
	}
}
