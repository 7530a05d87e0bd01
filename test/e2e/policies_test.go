package e2e

// End-to-end tests of the policies through the real binary: real listeners, a real
// origin, configuration through the admin API like a user would. Tests that need Redis
// run when GATEHOUSE_TEST_REDIS is set (CI sets it) and are skipped otherwise.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPoliciesKeyAuthAndSubscription: key-auth with the automatic subscription check, the
// identity headers the upstream sees, and revoked and expired keys.
func TestPoliciesKeyAuthAndSubscription(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "ka-orders", "state": "published", "path": "/ka",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "key-auth"}}})
	rev := n.create("/v1/plans", map[string]any{"name": "ka-basic", "apis": []string{"ka-orders"}})
	keyID, secret := n.subscribedApp("ka@example.com", "ka-shop", "ka-basic")
	_, lonely := n.subscribedApp("ka@example.com", "ka-lonely", "") // no subscription
	n.waitTable(rev)
	url := n.proxy() + "/ka/items"

	// Allowed with X-API-Key (once the directory knows the subscription).
	eventually(t, 5*time.Second, func() error {
		return send("GET", url, "X-API-Key", secret).is(200, "")
	})
	// The upstream sees who called, not the key, and not the client's copies of the
	// identity headers.
	expect(t, 200, "", "GET", url, "X-API-Key", secret, "X-Consumer-App", "spoofed", "X-Consumer-Plan", "spoofed")
	h := o.lastHeader()
	for name, want := range map[string]string{"X-Consumer-App": "ka-shop", "X-Consumer-Plan": "ka-basic",
		"X-Consumer-Key-Id": keyID, "X-Consumer-Developer": "ka@example.com"} {
		if got := h.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("upstream saw %s %q, want %q", name, got, want)
		}
	}
	if v := h.Get("X-Api-Key"); v != "" {
		t.Errorf("the key reached the upstream: X-Api-Key %q", v)
	}
	// Allowed with Authorization: Bearer, which is removed too.
	expect(t, 200, "", "GET", url, "Authorization", "Bearer "+secret)
	if h := o.lastHeader(); h.Get("Authorization") != "" || h.Get("X-Consumer-Key-Id") != keyID {
		t.Errorf("bearer: upstream saw Authorization %q, X-Consumer-Key-Id %q", h.Get("Authorization"), h.Get("X-Consumer-Key-Id"))
	}

	before := o.total()
	a := expect(t, 401, "missing_credentials", "GET", url)
	if wa := a.header.Get("WWW-Authenticate"); !strings.Contains(wa, "ApiKey") {
		t.Errorf("missing credentials: WWW-Authenticate %q, want an ApiKey challenge", wa)
	}
	expect(t, 401, "invalid_key", "GET", url, "X-API-Key", "gh_notakey0_abcdefghijklmnopqrstuvwxyz012345")
	expect(t, 401, "invalid_key", "GET", url, "X-API-Key", "nonsense")
	expect(t, 403, "not_subscribed", "GET", url, "X-API-Key", lonely)
	if got := o.total(); got != before {
		t.Errorf("%d rejected requests reached the upstream", got-before)
	}

	// Revoked through the admin API: refused within one second.
	revID, revSecret := n.newKey("ka-shop", map[string]any{"name": "to-revoke"})
	eventually(t, 5*time.Second, func() error { return send("GET", url, "X-API-Key", revSecret).is(200, "") })
	var revoked struct {
		RevokedAt string `json:"revoked_at"`
	}
	n.mustCall("POST", "/v1/apps/ka-shop/keys/"+revID+"/revoke", nil, 200, &revoked)
	if revoked.RevokedAt == "" {
		t.Errorf("revoke answered no revoked_at")
	}
	eventually(t, time.Second, func() error { return send("GET", url, "X-API-Key", revSecret).is(401, "key_revoked") })
	expect(t, 200, "", "GET", url, "X-API-Key", secret) // the other key is untouched

	// Expired: a key that expires in a few seconds works until then, then is refused.
	_, expSecret := n.newKey("ka-shop", map[string]any{"name": "short", "expires_at": time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339Nano)})
	expect(t, 200, "", "GET", url, "X-API-Key", expSecret)
	eventually(t, 10*time.Second, func() error { return send("GET", url, "X-API-Key", expSecret).is(401, "key_expired") })
}

// TestPoliciesPlanRateLimit: a plan's rate limit lets exactly its burst through, rejects
// the next with 429 and the RateLimit headers, and rejected requests consume nothing.
func TestPoliciesPlanRateLimit(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "rl-orders", "state": "published", "path": "/rl",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "key-auth"}}})
	// 5 per 5s: a burst of 5, then one more each second.
	rev := n.create("/v1/plans", map[string]any{"name": "rl-small", "apis": []string{"rl-orders"},
		"rate_limit": map[string]any{"limit": 5, "window": "5s"}})
	_, secret := n.subscribedApp("rl@example.com", "rl-app", "rl-small")
	n.waitTable(rev)
	url := n.proxy() + "/rl/x"
	key := []string{"X-API-Key", secret}

	// Until the subscription is known, requests are refused before the limits phase and
	// count nothing; the first 200 is the first of the 5.
	var first answer
	eventually(t, 5*time.Second, func() error {
		first = send("GET", url, key...)
		return first.is(200, "")
	})
	if p := first.header.Get("RateLimit-Policy"); !strings.Contains(p, "q=5;w=5") {
		t.Errorf("RateLimit-Policy %q, want the plan's 5 per 5s", p)
	}
	for i := 2; i <= 5; i++ {
		expect(t, 200, "", "GET", url, key...)
	}
	a := expect(t, 429, "rate_limited", "GET", url, key...)
	retry, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 5 {
		t.Errorf("Retry-After %q, want whole seconds in 1..5", a.header.Get("Retry-After"))
	}
	if p := a.header.Get("RateLimit-Policy"); !strings.Contains(p, "q=5;w=5") {
		t.Errorf("429: RateLimit-Policy %q", p)
	}
	if r := a.header.Get("RateLimit"); !strings.Contains(r, "r=0") {
		t.Errorf("429: RateLimit %q, want r=0", r)
	}
	if got := o.count("/rl/x"); got != 5 {
		t.Errorf("the origin got %d requests, want 5", got)
	}
	// Hammering while limited consumes nothing...
	for range 10 {
		expect(t, 429, "rate_limited", "GET", url, key...)
	}
	// ...so once one token's interval (1s) has passed, one more gets through.
	time.Sleep(time.Duration(retry)*time.Second + 100*time.Millisecond)
	expect(t, 200, "", "GET", url, key...)
	// And the budget is not back to a full burst.
	limited := false
	for range 5 {
		if send("GET", url, key...).status == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("5 more requests all passed right after the refill of one token")
	}
}

// TestPoliciesQuotaSurvivesRestart: a plan quota counted before a graceful restart still
// counts after it.
func TestPoliciesQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	if until := time.Until(time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)); until < time.Minute {
		time.Sleep(until + time.Second) // the daily period must not end mid-test
	}
	o := newOrigin(t)
	dir := t.TempDir()
	n := start(t, dir, testToken)
	n.create("/v1/apis", map[string]any{"name": "q-orders", "state": "published", "path": "/q",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "key-auth"}}})
	rev := n.create("/v1/plans", map[string]any{"name": "q-daily", "apis": []string{"q-orders"},
		"quota": map[string]any{"limit": 5, "period": "day"}})
	_, secret := n.subscribedApp("q@example.com", "q-app", "q-daily")
	n.waitTable(rev)
	url := n.proxy() + "/q/x"
	key := []string{"X-API-Key", secret}
	remaining := func(a answer, want string) {
		t.Helper()
		if got := a.header.Get("X-Quota-Remaining"); got != want {
			t.Errorf("X-Quota-Remaining %q, want %q (%s)", got, want, a)
		}
	}

	var a answer
	eventually(t, 5*time.Second, func() error { a = send("GET", url, key...); return a.is(200, "") })
	remaining(a, "4")
	if a.header.Get("X-Quota-Limit") != "5" {
		t.Errorf("X-Quota-Limit %q, want 5", a.header.Get("X-Quota-Limit"))
	}
	remaining(expect(t, 200, "", "GET", url, key...), "3")
	remaining(expect(t, 200, "", "GET", url, key...), "2")

	if err := n.stop(); err != nil {
		t.Fatalf("graceful stop: %v\nstderr:\n%s", err, n.stderr)
	}
	n = start(t, dir, testToken)
	url = n.proxy() + "/q/x"
	eventually(t, 5*time.Second, func() error {
		a = send("GET", url, key...)
		if a.status == 404 { // not served yet
			return fmt.Errorf("%s", a)
		}
		return nil
	})
	if err := a.is(200, ""); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	remaining(a, "1")
	remaining(expect(t, 200, "", "GET", url, key...), "0")
	a = expect(t, 429, "quota_exceeded", "GET", url, key...)
	remaining(a, "0")
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 24*3600 {
		t.Errorf("Retry-After %q, want the seconds until the day ends", a.header.Get("Retry-After"))
	}
	if reset := a.header.Get("X-Quota-Reset"); reset != a.header.Get("Retry-After") {
		t.Errorf("X-Quota-Reset %q and Retry-After %q differ", reset, a.header.Get("Retry-After"))
	}
	if got := o.count("/q/x"); got != 5 {
		t.Errorf("the origin got %d requests, want 5", got)
	}
}

// redisOutageNode starts a node whose Redis is reached through a proxy the test can kill.
func redisOutageNode(t *testing.T, fallback string, quotaRedis bool) (*node, *tcpProxy, string) {
	t.Helper()
	u := testRedis(t)
	p := newTCPProxy(t, u.Host)
	prefix := redisPrefix(t, u)
	settings := fmt.Sprintf("redis:\n  url: %q\n  prefix: %q\nlimits:\n  backend: redis\n  fallback: %s\n",
		redisVia(u, p.addr), prefix, fallback)
	if quotaRedis {
		settings += "quota:\n  backend: redis\n"
	}
	return start(t, t.TempDir(), testToken, settingsFile(t, settings)...), p, prefix
}

// TestPoliciesRedisOutageFallbackLocal: with limits.fallback local, a Redis outage leaves
// requests limited by the node's own limiter and /readyz "degraded"; Redis coming back
// makes it "ok" again.
func TestPoliciesRedisOutageFallbackLocal(t *testing.T) {
	t.Parallel()
	u := testRedis(t)
	o := newOrigin(t)
	n, p, prefix := redisOutageNode(t, "local", false)
	rev := n.create("/v1/apis", map[string]any{"name": "out-local", "state": "published", "path": "/out",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "rate-limit", "config": map[string]any{"limit": 3, "window": "1m", "by": "ip"}}}})
	n.waitTable(rev)
	url := n.proxy() + "/out/x"

	// Redis up: the limit holds, counted in Redis.
	for range 3 {
		expect(t, 200, "", "GET", url)
	}
	expect(t, 429, "rate_limited", "GET", url)
	if p.accepted.Load() == 0 {
		t.Errorf("the node never connected to Redis through the proxy")
	}
	if keys := redisKeys(t, u, prefix); len(keys) == 0 {
		t.Errorf("no rate-limit key under %q in Redis", prefix)
	}
	if r := n.readyz(); r.code != 200 || r.Status != "ok" {
		t.Errorf("/readyz with Redis up: %d %s", r.code, r.raw)
	}

	// Redis gone: the local limiter (which never saw the earlier requests) enforces 3.
	p.kill()
	for i := 1; i <= 3; i++ {
		if err := send("GET", url).is(200, ""); err != nil {
			t.Fatalf("request %d during the outage: %v", i, err)
		}
	}
	expect(t, 429, "rate_limited", "GET", url)
	r := n.readyz()
	if r.code != 200 || r.Status != "degraded" || !strings.Contains(strings.ToLower(strings.Join(r.Warnings, " ")), "redis") {
		t.Errorf("/readyz during the outage: %d %s; want 200 degraded with a warning about redis", r.code, r.raw)
	}

	// Redis back: within a few seconds the node is "ok" again.
	p.revive()
	eventually(t, 5*time.Second, func() error {
		if r := n.readyz(); r.code != 200 || r.Status != "ok" {
			return fmt.Errorf("/readyz after Redis came back: %d %s", r.code, r.raw)
		}
		return nil
	})
	if a := send("GET", url); a.status != 200 && a.status != 429 {
		t.Errorf("after recovery: %s", a)
	}
}

// TestPoliciesRedisOutageFallbackClosed: with limits.fallback closed, a Redis outage makes
// rate-limited requests 503 limiter_unavailable (never 401 or 429) and /readyz 503; Redis
// quotas answer 503 quota_unavailable. Both recover when Redis returns.
func TestPoliciesRedisOutageFallbackClosed(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	n, p, _ := redisOutageNode(t, "closed", true)
	n.create("/v1/apis", map[string]any{"name": "out-closed", "state": "published", "path": "/closed",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "rate-limit", "config": map[string]any{"limit": 3, "window": "1m", "by": "ip"}}}})
	rev := n.create("/v1/apis", map[string]any{"name": "out-quota", "state": "published", "path": "/quota",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "quota", "config": map[string]any{"limit": 100, "period": "hour", "by": "ip"}}}})
	n.waitTable(rev)
	rl, q := n.proxy()+"/closed/x", n.proxy()+"/quota/x"

	expect(t, 200, "", "GET", rl)
	if a := expect(t, 200, "", "GET", q); a.header.Get("X-Quota-Remaining") != "99" {
		t.Errorf("quota in Redis: X-Quota-Remaining %q, want 99", a.header.Get("X-Quota-Remaining"))
	}
	if r := n.readyz(); r.code != 200 || r.Status != "ok" {
		t.Errorf("/readyz with Redis up: %d %s", r.code, r.raw)
	}

	p.kill()
	before := o.total()
	for i := range 5 {
		a := send("GET", rl)
		if err := a.is(503, "limiter_unavailable"); err != nil {
			t.Fatalf("rate-limited request %d during the outage: %v", i+1, err)
		}
		if a.header.Get("Retry-After") == "" {
			t.Errorf("503 limiter_unavailable without Retry-After")
		}
	}
	for i := range 3 {
		a := send("GET", q)
		if err := a.is(503, "quota_unavailable"); err != nil {
			t.Fatalf("quota request %d during the outage: %v", i+1, err)
		}
		if a.header.Get("Retry-After") != "1" {
			t.Errorf("503 quota_unavailable: Retry-After %q, want 1", a.header.Get("Retry-After"))
		}
	}
	if got := o.total(); got != before {
		t.Errorf("%d requests reached the origin during the outage", got-before)
	}
	if r := n.readyz(); r.code != 503 {
		t.Errorf("/readyz during the outage with fallback closed: %d %s; want 503", r.code, r.raw)
	}

	p.revive()
	eventually(t, 5*time.Second, func() error {
		if r := n.readyz(); r.code != 200 || r.Status != "ok" {
			return fmt.Errorf("/readyz after Redis came back: %d %s", r.code, r.raw)
		}
		return nil
	})
	expect(t, 200, "", "GET", rl) // 1 of 3 was used before the outage
	eventually(t, 5*time.Second, func() error { return send("GET", q).is(200, "") })
}

// TestPoliciesSharedRedisTwoNodes: two nodes on one Redis enforce one rate limit together.
func TestPoliciesSharedRedisTwoNodes(t *testing.T) {
	t.Parallel()
	u := testRedis(t)
	prefix := redisPrefix(t, u)
	o := newOrigin(t)
	settings := fmt.Sprintf("redis:\n  url: %q\n  prefix: %q\nlimits:\n  backend: redis\n", u.String(), prefix)
	api := map[string]any{"name": "shared", "state": "published", "path": "/shared",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "rate-limit", "config": map[string]any{"limit": 10, "window": "1m", "by": "ip"}}}}
	var nodes []*node
	for range 2 { // each node has its own store: the same API is applied to both
		n := start(t, t.TempDir(), testToken, settingsFile(t, settings)...)
		n.waitTable(n.create("/v1/apis", api))
		nodes = append(nodes, n)
	}
	passed, limited := 0, 0
	for i := range 12 { // 6 to each node, alternating
		a := send("GET", nodes[i%2].proxy()+"/shared/x")
		switch {
		case a.is(200, "") == nil:
			passed++
		case a.is(429, "rate_limited") == nil:
			limited++
		default:
			t.Errorf("request %d: %s", i+1, a)
		}
	}
	if passed != 10 || limited != 2 {
		t.Errorf("%d passed and %d were limited across two nodes, want 10 and 2", passed, limited)
	}
	if got := o.count("/shared/x"); got != passed {
		t.Errorf("the origin got %d requests, %d passed", got, passed)
	}
}

// TestPoliciesJWTWithJWKSRotation: RS256 tokens verified with a JWKS, the client_id claim
// naming the app, and a key rotation picked up on the first token with the new kid.
func TestPoliciesJWTWithJWKSRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := newRSASigner(t, "k1"), newRSASigner(t, "k2")
	js := newJWKSServer(t, k1)
	o := newOrigin(t)
	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "jwt-orders", "state": "published", "path": "/jwt",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "jwt", "config": map[string]any{"jwks_url": js.URL + "/.well-known/jwks.json"}}}})
	rev := n.create("/v1/plans", map[string]any{"name": "jwt-plan", "apis": []string{"jwt-orders"}})
	n.subscribedApp("jwt@example.com", "jwt-app", "jwt-plan")
	n.waitTable(rev)
	url := n.proxy() + "/jwt/x"
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "user-1", "client_id": "jwt-app", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	eventually(t, 5*time.Second, func() error { return send("GET", url, bearer(k1.token(t, "k1", claims(nil)))...).is(200, "") })
	h := o.lastHeader()
	if h.Get("X-Consumer-App") != "jwt-app" || h.Get("X-Consumer-Plan") != "jwt-plan" || h.Get("X-Consumer-Subject") != "user-1" {
		t.Errorf("upstream identity: app %q plan %q subject %q", h.Get("X-Consumer-App"), h.Get("X-Consumer-Plan"), h.Get("X-Consumer-Subject"))
	}
	if h.Get("Authorization") != "" {
		t.Errorf("the token reached the upstream")
	}
	a := expect(t, 401, "missing_credentials", "GET", url)
	if !strings.Contains(a.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge", a.header.Get("WWW-Authenticate"))
	}
	// A known kid with another key's signature, and an expired token.
	expect(t, 401, "invalid_token", "GET", url, bearer(k2.token(t, "k1", claims(nil)))...)
	expect(t, 401, "token_expired", "GET", url, bearer(k1.token(t, "k1", claims(map[string]any{
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})))...)
	expect(t, 403, "unknown_app", "GET", url, bearer(k1.token(t, "k1", claims(map[string]any{"client_id": "no-such-app"})))...)
	fetches := js.fetches.Load()

	// Rotation: the identity provider now publishes k2 only.
	js.set(k2)
	eventually(t, 5*time.Second, func() error { return send("GET", url, bearer(k2.token(t, "k2", claims(nil)))...).is(200, "") })
	if js.fetches.Load() <= fetches {
		t.Errorf("the JWKS was not fetched again for the new kid")
	}
	expect(t, 401, "invalid_token", "GET", url, bearer(k1.token(t, "k1", claims(nil)))...) // k1 is gone
}

// TestPoliciesConfigCacheAndEdge: on one node, invalid policy configurations refused by
// the admin API, the cache policy with purge, CORS preflights at the edge and ip-filter.
func TestPoliciesConfigCacheAndEdge(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	n := start(t, t.TempDir(), testToken)

	t.Run("invalid_config", func(t *testing.T) {
		n := n.bind(t)
		good := map[string]any{"name": "bad-orders", "state": "published", "path": "/bad",
			"upstream": map[string]any{"targets": targets(o.URL)},
			"policies": []map[string]any{{"type": "rate-limit", "config": map[string]any{"limit": 10, "window": "1m"}}}}
		n.create("/v1/apis", good)
		rev := n.revision()

		bad := map[string]any{"name": "bad-orders", "state": "published", "path": "/bad",
			"upstream": map[string]any{"targets": targets(o.URL)},
			"policies": []map[string]any{{"type": "rate-limit", "config": map[string]any{"limit": "lots"}}}}
		var doc struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
			Errors []struct{ Field, Message string }
		}
		body := n.mustCall("PUT", "/v1/apis/bad-orders", bad, 400, &doc)
		if doc.Code != "invalid" || !strings.Contains(body, "rate-limit") || !strings.Contains(body, "limit") {
			t.Errorf("PUT with a bad rate-limit config: %s; want code invalid naming rate-limit and limit", body)
		}
		t.Logf("refused: %s", body)
		var stored struct {
			Policies []struct {
				Type   string         `json:"type"`
				Config map[string]any `json:"config"`
			} `json:"policies"`
		}
		n.mustCall("GET", "/v1/apis/bad-orders", nil, 200, &stored)
		if len(stored.Policies) != 1 || fmt.Sprint(stored.Policies[0].Config["limit"]) != "10" {
			t.Errorf("the stored API changed: %+v", stored.Policies)
		}
		bad["name"] = "bad-new"
		bad["path"] = "/bad-new"
		n.mustCall("POST", "/v1/apis", bad, 400, nil)
		n.mustCall("GET", "/v1/apis/bad-new", nil, 404, nil)

		// A plan may only add limits-phase policies.
		body = n.mustCall("POST", "/v1/plans", map[string]any{"name": "bad-plan", "apis": []string{"bad-orders"},
			"policies": []map[string]any{{"type": "cors", "config": map[string]any{"origins": []string{"https://app.example.com"}}}}}, 400, &doc)
		if doc.Code != "invalid" || !strings.Contains(body, "cors") {
			t.Errorf("plan with a cors policy: %s", body)
		}
		t.Logf("refused: %s", body)
		n.mustCall("POST", "/v1/plans", map[string]any{"name": "bad-plan", "apis": []string{"bad-orders"},
			"policies": []map[string]any{{"type": "rate-limit", "config": map[string]any{"limit": 0, "window": "1s"}}}}, 400, nil)
		n.mustCall("GET", "/v1/plans/bad-plan", nil, 404, nil)
		if got := n.revision(); got != rev {
			t.Errorf("revision %d after refused writes, want %d", got, rev)
		}
	})

	t.Run("cache", func(t *testing.T) {
		n := n.bind(t)
		n.waitTable(n.create("/v1/apis", map[string]any{"name": "cached", "state": "published", "path": "/cached",
			"upstream": map[string]any{"targets": targets(o.URL)},
			"policies": []map[string]any{{"type": "cache", "config": map[string]any{"ttl": "60s"}}}}))
		url := n.proxy() + "/cached/item"
		miss := expect(t, 200, "", "GET", url)
		hit := expect(t, 200, "", "GET", url)
		if miss.header.Get("X-Cache") != "MISS" || hit.header.Get("X-Cache") != "HIT" || hit.body != miss.body {
			t.Errorf("X-Cache %q then %q, bodies %q and %q; want MISS then HIT of one body",
				miss.header.Get("X-Cache"), hit.header.Get("X-Cache"), miss.body, hit.body)
		}
		if got := o.count("/cached/item"); got != 1 {
			t.Errorf("the origin got %d requests, want 1", got)
		}
		n.mustCall("DELETE", "/v1/apis/cached/cache", nil, 204, nil)
		again := expect(t, 200, "", "GET", url)
		if again.header.Get("X-Cache") != "MISS" || o.count("/cached/item") != 2 {
			t.Errorf("after the purge: X-Cache %q, origin hits %d; want MISS and 2", again.header.Get("X-Cache"), o.count("/cached/item"))
		}
		if h := expect(t, 200, "", "GET", url); h.header.Get("X-Cache") != "HIT" {
			t.Errorf("after the purge and a miss: X-Cache %q, want HIT", h.header.Get("X-Cache"))
		}
		n.mustCall("DELETE", "/v1/apis/no-such-api/cache", nil, 404, nil)
	})

	t.Run("cors_preflight", func(t *testing.T) {
		n := n.bind(t)
		n.waitTable(n.create("/v1/apis", map[string]any{"name": "corsy", "state": "published", "path": "/corsy",
			"upstream": map[string]any{"targets": targets(o.URL)},
			"policies": []map[string]any{
				{"type": "key-auth"},
				{"type": "cors", "config": map[string]any{"origins": []string{"https://app.example.com"}}},
			}}))
		url := n.proxy() + "/corsy/items"
		pre := expect(t, 204, "", "OPTIONS", url, "Origin", "https://app.example.com",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "X-API-Key, Content-Type")
		if pre.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(strings.ToLower(pre.header.Get("Access-Control-Allow-Headers")), "x-api-key") {
			t.Errorf("preflight headers: %v", pre.header)
		}
		expect(t, 403, "cors_origin_denied", "OPTIONS", url, "Origin", "https://evil.example.org", "Access-Control-Request-Method", "GET")
		// The API does need a key: an actual request without one is refused, and still
		// carries the CORS headers so that scripts can read the error.
		a := expect(t, 401, "missing_credentials", "GET", url, "Origin", "https://app.example.com")
		if a.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("401 without Access-Control-Allow-Origin: %v", a.header)
		}
		if got := o.count("/corsy/items"); got != 0 {
			t.Errorf("the origin got %d requests; preflights are answered at the edge", got)
		}
	})

	t.Run("ip_filter", func(t *testing.T) {
		n := n.bind(t)
		var rev int64
		for name, cfg := range map[string]map[string]any{
			"ip-deny":  {"deny": []string{"127.0.0.1"}},
			"ip-allow": {"allow": []string{"10.0.0.0/8"}},
			"ip-ok":    {"allow": []string{"127.0.0.0/8"}, "deny": []string{"127.0.0.2"}},
		} {
			rev = max(rev, n.create("/v1/apis", map[string]any{"name": name, "state": "published", "path": "/" + name,
				"upstream": map[string]any{"targets": targets(o.URL)},
				"policies": []map[string]any{{"type": "ip-filter", "config": cfg}}}))
		}
		n.waitTable(rev)
		expect(t, 403, "ip_denied", "GET", n.proxy()+"/ip-deny/x")
		// Without trusted proxies, forwarding headers prove nothing.
		expect(t, 403, "ip_denied", "GET", n.proxy()+"/ip-deny/x", "X-Forwarded-For", "203.0.113.9")
		expect(t, 403, "ip_denied", "GET", n.proxy()+"/ip-allow/x")
		expect(t, 200, "", "GET", n.proxy()+"/ip-ok/x")
		if o.count("/ip-deny/x") != 0 || o.count("/ip-allow/x") != 0 {
			t.Errorf("denied requests reached the origin")
		}
	})
}
