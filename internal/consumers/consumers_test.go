package consumers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/consumers"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/builtin"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

type fixture struct {
	st     *sqlite.Store
	dir    *consumers.Directory
	secret string
	key    *gatehouse.Key
	sub    *gatehouse.Subscription
}

// setup stores an API, a plan with it, a developer with an app subscribed to the plan and
// a key, and watches the store with a Directory.
func setup(t *testing.T, approval gatehouse.Approval) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, t.TempDir()+"/g.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateAPI(ctx, &gatehouse.API{Name: "orders", Path: "/", State: gatehouse.StatePublished, Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:1"}}}}))
	must(st.CreateAPI(ctx, &gatehouse.API{Name: "other", Path: "/other", State: gatehouse.StatePublished, Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:1"}}}}))
	must(st.CreatePlan(ctx, &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}, Approval: approval}))
	must(st.CreateDeveloper(ctx, &gatehouse.Developer{Email: "dev@example.com", Name: "Dev"}))
	must(st.CreateApp(ctx, &gatehouse.App{Name: "shop", Developer: "dev@example.com"}))
	f := &fixture{st: st}
	f.sub, err = st.CreateSubscription(ctx, &gatehouse.Subscription{App: "shop", Plan: "gold"})
	must(nil, err)
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	f.secret = secret
	f.key, err = st.CreateKey(ctx, &gatehouse.Key{App: "shop", Prefix: prefix, Hash: hash})
	must(nil, err)
	f.dir = consumers.New(st, consumers.Options{})
	f.dir.Start(ctx)
	return f
}

func (f *fixture) serve(t *testing.T, api string, specs ...gatehouse.PolicySpec) string {
	env := &policy.Env{Directory: f.dir, API: &gatehouse.API{Name: api, Path: "/"}}
	return policytest.Serve(t, builtin.Registry(), env, specs, nil, policytest.Echo).URL
}

func call(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		var doc struct{ Code string }
		_ = json.Unmarshal(b, &doc)
		return resp.StatusCode, resp.Header, doc.Code
	}
	return resp.StatusCode, resp.Header, string(b)
}

var keyAuth = gatehouse.PolicySpec{Type: "key-auth", Config: json.RawMessage(`{"query":"apikey"}`)}

func TestKeyAuthIdentifiesAndForwardsNoSecret(t *testing.T) {
	f := setup(t, gatehouse.ApprovalAuto)
	url := f.serve(t, "orders", keyAuth)
	for _, c := range []struct {
		name string
		path string
		hdr  []string
	}{
		{"header", "/x", []string{"X-API-Key", f.secret}},
		{"bearer", "/x", []string{"Authorization", "Bearer " + f.secret}},
		{"query", "/x?apikey=" + f.secret + "&a=1", nil},
	} {
		status, h, body := call(t, url+c.path, append(c.hdr, "X-Consumer-App", "forged")...)
		if status != 200 {
			t.Fatalf("%s: %d %s", c.name, status, body)
		}
		if h.Get("X-Echo-X-Consumer-App") != "shop" || h.Get("X-Echo-X-Consumer-Plan") != "gold" ||
			h.Get("X-Echo-X-Consumer-Developer") != "dev@example.com" || h.Get("X-Echo-X-Consumer-Key-Id") != f.key.ID {
			t.Errorf("%s: identity headers upstream: %v", c.name, h)
		}
		if len(h.Values("X-Echo-X-Consumer-App")) != 1 {
			t.Errorf("%s: the client's forged X-Consumer-App reached the upstream", c.name)
		}
		if h.Get("X-Echo-X-Api-Key") != "" || h.Get("X-Echo-Authorization") != "" || body != "/x"+map[bool]string{true: "?a=1"}[c.name == "query"] {
			t.Errorf("%s: the secret went upstream: %v body %q", c.name, h, body)
		}
	}
}

func TestKeyAuthRejections(t *testing.T) {
	f := setup(t, gatehouse.ApprovalAuto)
	url := f.serve(t, "orders", keyAuth)
	if s, h, code := call(t, url); s != 401 || code != "missing_credentials" || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no key: %d %s %q", s, code, h.Get("WWW-Authenticate"))
	}
	if s, _, code := call(t, url, "X-API-Key", "gh_nope_nope"); s != 401 || code != "invalid_key" {
		t.Errorf("unknown key: %d %s", s, code)
	}
	// A bearer token that is not a Gatehouse key is not key-auth's: no credentials.
	if s, _, code := call(t, url, "Authorization", "Bearer eyJhbGciOi.x.y"); s != 401 || code != "missing_credentials" {
		t.Errorf("foreign bearer: %d %s", s, code)
	}
	// An API the plan does not include.
	other := f.serve(t, "other", keyAuth)
	if s, _, code := call(t, other, "X-API-Key", f.secret); s != 403 || code != "not_subscribed" {
		t.Errorf("other API: %d %s", s, code)
	}
}

// TestRevokedKeySeenWithinASecond: the directory drops a revoked key on the change notice,
// so the very next request fails; the loop allows the notice a second to arrive.
func TestRevokedKeySeenWithinASecond(t *testing.T) {
	f := setup(t, gatehouse.ApprovalAuto)
	url := f.serve(t, "orders", keyAuth)
	if s, _, _ := call(t, url, "X-API-Key", f.secret); s != 200 {
		t.Fatalf("before revoke: %d", s)
	}
	if _, err := f.st.RevokeKey(context.Background(), f.key.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		s, _, code := call(t, url, "X-API-Key", f.secret)
		if s == 401 && code == "key_revoked" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a second after revoking, the key still gets %d %s", s, code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExpiredKeyAndSubscriptionStates(t *testing.T) {
	f := setup(t, gatehouse.ApprovalManual) // the subscription starts pending
	ctx := context.Background()
	url := f.serve(t, "orders", keyAuth)
	if s, _, code := call(t, url, "X-API-Key", f.secret); s != 403 || code != "not_subscribed" {
		t.Errorf("pending subscription: %d %s", s, code)
	}
	if _, err := f.st.UpdateSubscription(ctx, f.sub.ID, gatehouse.SubActive, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { s, _, _ := call(t, url, "X-API-Key", f.secret); return s == 200 }, "approved subscription")

	exp := time.Now().Add(300 * time.Millisecond)
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	if _, err := f.st.CreateKey(ctx, &gatehouse.Key{App: "shop", Prefix: prefix, Hash: hash, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if s, _, code := call(t, url, "X-API-Key", secret); s != 200 {
		t.Errorf("fresh expiring key: %d %s", s, code)
	}
	time.Sleep(time.Until(exp) + 10*time.Millisecond)
	if s, _, code := call(t, url, "X-API-Key", secret); s != 401 || code != "key_expired" {
		t.Errorf("expired key: %d %s", s, code)
	}

	if _, err := f.st.UpdateSubscription(ctx, f.sub.ID, gatehouse.SubRevoked, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { s, _, _ := call(t, url, "X-API-Key", f.secret); return s == 403 }, "revoked subscription")

	dev, _ := f.st.Developer(ctx, "dev@example.com")
	dev.Status = gatehouse.DeveloperBlocked
	if _, err := f.st.UpdateDeveloper(ctx, dev, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, _, code := call(t, url, "X-API-Key", f.secret); return code == "developer_blocked" }, "blocked developer")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not seen within a second", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnknownKeysAreRememberedBriefly: a flood of one bad key is one store query, and
// creating a key clears the memory of unknown ones.
func TestNegativeCacheClearedByNewKey(t *testing.T) {
	f := setup(t, gatehouse.ApprovalAuto)
	ctx := context.Background()
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	if c, err := f.dir.Key(ctx, secret); c != nil || err != nil {
		t.Fatalf("unknown key: %v %v", c, err)
	}
	if _, err := f.st.CreateKey(ctx, &gatehouse.Key{App: "shop", Prefix: prefix, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { c, _ := f.dir.Key(ctx, secret); return c != nil }, "a key created after it was looked up")
}

func BenchmarkKeyHit(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir()+"/g.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	_, _ = st.CreateDeveloper(ctx, &gatehouse.Developer{Email: "d@example.com"})
	_, _ = st.CreateApp(ctx, &gatehouse.App{Name: "a", Developer: "d@example.com"})
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	if _, err := st.CreateKey(ctx, &gatehouse.Key{App: "a", Prefix: prefix, Hash: hash}); err != nil {
		b.Fatal(err)
	}
	d := consumers.New(st, consumers.Options{})
	if c, err := d.Key(ctx, secret); c == nil || err != nil {
		b.Fatal(c, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := d.Key(ctx, secret); c == nil {
			b.Fatal("miss")
		}
	}
}
