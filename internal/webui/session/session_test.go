package session_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/gatehouse-dev/gatehouse/internal/webui/session"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session/sessiontest"
)

func TestMemoryStore(t *testing.T) {
	sessiontest.RunStore(t, func(t *testing.T) Store { return NewMemory() })
}

func TestManagerLifecycle(t *testing.T) {
	st := NewMemory()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	m := NewManager(Options{Store: st, Kind: KindDeveloper, Cookie: "gh_s", TTL: time.Hour, Now: func() time.Time { return now }})
	// Memory checks expiry against the wall clock; keep the fake clock near it.
	now = time.Now()

	r := httptest.NewRequest("POST", "/signin", nil)
	w := httptest.NewRecorder()
	s, err := m.Start(t.Context(), w, r, "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	res := w.Result()
	cs := res.Cookies()
	if len(cs) != 1 || cs[0].Name != "gh_s" || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode || cs[0].Secure {
		t.Fatalf("cookie = %+v", cs)
	}
	if strings.Contains(s.ID, cs[0].Value) || s.ID == cs[0].Value {
		t.Fatal("the stored id must be the hash, not the token")
	}

	r2 := httptest.NewRequest("GET", "/apps", nil)
	r2.AddCookie(cs[0])
	got, err := m.Get(r2)
	if err != nil || got == nil || got.Subject != "ann@example.com" {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	// Another kind's manager does not accept the cookie.
	adm := NewManager(Options{Store: st, Kind: KindAdmin, Cookie: "gh_s"})
	if g, _ := adm.Get(r2); g != nil {
		t.Error("a developer session must not sign in to the dashboard")
	}

	// CSRF: form field or header, exact.
	form := url.Values{CSRFField: {s.CSRF}}
	r3 := httptest.NewRequest("POST", "/apps", strings.NewReader(form.Encode()))
	r3.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := CheckCSRF(r3, got); err != nil {
		t.Errorf("good token refused: %v", err)
	}
	r4 := httptest.NewRequest("POST", "/apps", strings.NewReader("csrf=wrong"))
	r4.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if CheckCSRF(r4, got) == nil {
		t.Error("wrong token accepted")
	}
	r5 := httptest.NewRequest("POST", "/apps", nil)
	r5.Header.Set("X-CSRF-Token", s.CSRF)
	if CheckCSRF(r5, got) != nil {
		t.Error("header token refused")
	}
	if CheckCSRF(httptest.NewRequest("POST", "/apps", nil), got) == nil {
		t.Error("missing token accepted")
	}

	// Sign out: cookie cleared, session gone.
	w = httptest.NewRecorder()
	if err := m.End(w, r2); err != nil {
		t.Fatal(err)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("sign-out cookie = %+v", c)
	}
	if g, _ := m.Get(r2); g != nil {
		t.Error("session still valid after sign-out")
	}

	// TLS and forwarded https set Secure.
	r6 := httptest.NewRequest("POST", "/signin", nil)
	r6.Header.Set("X-Forwarded-Proto", "https")
	w = httptest.NewRecorder()
	if _, err := m.Start(t.Context(), w, r6, "ann@example.com", ""); err != nil {
		t.Fatal(err)
	}
	if c := w.Result().Cookies(); !c[0].Secure {
		t.Error("https request: cookie not Secure")
	}
}

func TestManagerIgnoresGarbageCookies(t *testing.T) {
	m := NewManager(Options{Store: NewMemory(), Kind: KindDeveloper, Cookie: "gh_s"})
	for _, v := range []string{"", "x", strings.Repeat("a", 200)} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: "gh_s", Value: v})
		if s, err := m.Get(r); s != nil || err != nil {
			t.Errorf("cookie %q: %v, %v", v, s, err)
		}
	}
}

func TestPasswords(t *testing.T) {
	h := HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q", h)
	}
	if h == HashPassword("correct horse battery") {
		t.Error("same hash twice: the salt is not random")
	}
	if !VerifyPassword(h, "correct horse battery") {
		t.Error("right password refused")
	}
	for _, bad := range []string{"correct horse batterY", "", "correct horse battery "} {
		if VerifyPassword(h, bad) {
			t.Errorf("wrong password %q accepted", bad)
		}
	}
	for _, hash := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=8,t=1,p=1$!!$!!"} {
		if VerifyPassword(hash, "x") {
			t.Errorf("malformed hash %q matched", hash)
		}
	}
	for pw, ok := range map[string]bool{"short": false, "long enough pw": true, strings.Repeat("x", 300): false, "ann@example.com": false} {
		if err := CheckPassword(pw, "ANN@example.com"); (err == nil) != ok {
			t.Errorf("CheckPassword(%q) = %v", pw, err)
		}
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("", "")
	f.Add("$argon2id$v=19$m=,t=,p=$$", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		_ = VerifyPassword(hash, pw) // must not panic or hang
	})
}

func TestThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(3, time.Minute)
	th.Now = func() time.Time { return now }
	for range 3 {
		if th.Begin("k") != 0 {
			t.Fatal("throttled too early")
		}
	}
	if w := th.Begin("k"); w != time.Minute {
		t.Fatalf("wait = %v, want 1m", w)
	}
	if th.Begin("other") != 0 {
		t.Error("keys must be independent")
	}
	now = now.Add(61 * time.Second)
	if th.Begin("k") != 0 {
		t.Error("still throttled after the window")
	}
	th.Begin("k")
	th.Reset("k")
	th.Begin("k")
	th.Begin("k")
	if th.Begin("k") != 0 {
		t.Error("reset did not clear the attempts")
	}
	// A success undone leaves room for one more attempt.
	if th.Begin("k") == 0 {
		t.Fatal("a fourth attempt in the window was allowed")
	}
	th.Undo("k")
	if th.Begin("k") != 0 {
		t.Error("undo did not give the attempt back")
	}
}

func TestResetLinks(t *testing.T) {
	st, ctx := NewMemory(), t.Context()
	tok, err := NewReset(ctx, st, "ann@example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if email, err := PeekReset(ctx, st, tok); err != nil || email != "ann@example.com" {
		t.Fatalf("peek = %q, %v", email, err)
	}
	if email, err := UseReset(ctx, st, tok); err != nil || email != "ann@example.com" {
		t.Fatalf("use = %q, %v", email, err)
	}
	if _, err := UseReset(ctx, st, tok); err == nil {
		t.Fatal("a reset link worked twice")
	}
	// A session token is not a reset token.
	m := NewManager(Options{Store: st, Kind: KindDeveloper, Cookie: "c"})
	w := httptest.NewRecorder()
	if _, err := m.Start(ctx, w, httptest.NewRequest("POST", "/", nil), "ann@example.com", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := PeekReset(ctx, st, w.Result().Cookies()[0].Value); err == nil {
		t.Fatal("a session cookie worked as a reset link")
	}
	if _, err := PeekReset(ctx, st, strings.Repeat("x", 500)); err == nil {
		t.Fatal("garbage token accepted")
	}
}

func TestThrottleBeginCountsFirst(t *testing.T) {
	th := NewThrottle(5, time.Minute)
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for range 40 {
		wg.Go(func() {
			if th.Begin("k") == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Fatalf("%d parallel attempts allowed, want 5", allowed.Load())
	}
	th.Reset("k")
	if th.Begin("k") != 0 {
		t.Error("reset did not clear the attempts")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{"10.1.2.3:5000": "10.1.2.3", "[::ffff:10.1.2.3]:5000": "10.1.2.3",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64", "[2001:db8:1:2:ffff::1]:1": "2001:db8:1:2::/64", "junk": "junk"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = in
		r.Header.Set("X-Forwarded-For", "192.0.2.99") // never trusted
		if got := ClientKey(r); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for next, ok := range map[string]bool{"/apps": true, "/apps/x?range=1h#usage": true, "/": true,
		"": false, "apps": false, "//evil.example/": false, "/\\evil.example": false, "/\t/evil.example": false,
		"/\n/evil": false, "https://evil.example/": false, "/%2F/evil": false} {
		if got := LocalPath(next); got != ok {
			t.Errorf("LocalPath(%q) = %v, want %v", next, got, ok)
		}
	}
}

func TestGate(t *testing.T) {
	g := NewGate(1)
	if !g.Enter(time.Millisecond) {
		t.Fatal("empty gate refused")
	}
	if g.Enter(10 * time.Millisecond) {
		t.Fatal("full gate admitted")
	}
	g.Leave()
	if !g.Enter(time.Millisecond) {
		t.Fatal("freed gate refused")
	}
}
