package bot

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

func serve(t *testing.T, cfg string) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "bot", Config: json.RawMessage(cfg)}}
	return policytest.Serve(t, policy.NewRegistry(Type), &policy.Env{}, specs, nil, policytest.Echo)
}

// get sends ua as the User-Agent; "-" sends none at all (Go's client adds its own
// otherwise).
func get(t *testing.T, srv *httptest.Server, ua string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	if ua == "-" {
		req.Header["User-Agent"] = nil
	} else {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct{ Code string }
	_ = json.Unmarshal(body, &doc)
	return resp.StatusCode, doc.Code
}

func TestBot(t *testing.T) {
	tests := []struct {
		name, cfg, ua string
		status        int
	}{
		{"substring denies", `{"deny":["BadBot"]}`, "Mozilla/5.0 (compatible; badbot/2.1)", 403},
		{"substring other agent", `{"deny":["badbot"]}`, browser, 200},
		{"allow wins", `{"deny":["bot"],"allow":["goodbot"]}`, "GoodBot/1.0", 200},
		{"allow does not cover others", `{"deny":["bot"],"allow":["goodbot"]}`, "EvilBot/1.0", 403},
		{"regexp denies", `{"deny":["/^python-requests/2\\.[0-9]+/"]}`, "python-requests/2.31.0", 403},
		{"regexp case-insensitive", `{"deny":["/^curl/"]}`, "CURL/8.0", 403},
		{"regexp anchored", `{"deny":["/^curl/"]}`, "not curl/8.0", 200},
		{"regexp case-sensitive on request", `{"deny":["/(?-i)^curl/"]}`, "CURL/8.0", 200},
		{"regexp allow", `{"known_bots":true,"allow":["/sqlmap/1\\.8-internal/"]}`, "sqlmap/1.8-internal", 200},
		{"known bot", `{"known_bots":true}`, "sqlmap/1.7.2#stable (https://sqlmap.org)", 403},
		{"known bot upper case", `{"known_bots":true}`, "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)", 403},
		{"known bots spare browsers", `{"known_bots":true}`, browser, 200},
		{"known bots spare curl", `{"known_bots":true}`, "curl/8.5.0", 200},
		{"empty denied", `{"deny_empty":true}`, "-", 403},
		{"blank denied", `{"deny_empty":true}`, "   ", 403},
		{"empty allowed by default", `{"deny":["x"]}`, "-", 200},
		{"present with deny_empty", `{"deny_empty":true}`, browser, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := get(t, serve(t, tt.cfg), tt.ua)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if status == 403 && code != "bot_denied" {
				t.Errorf("code %q, want bot_denied", code)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "set at least one"},
		{`{"allow":["x"]}`, "set at least one"},
		{`{"deny":[""]}`, "deny[0]: empty pattern"},
		{`{"deny":["//"]}`, "deny[0]: empty regular expression"},
		{`{"deny":["ok","/(a/"]}`, "deny[1]: error parsing regexp: missing closing ): `(a`"},
		{`{"deny":["x"],"allow":["/[/"]}`, "allow[0]: error parsing regexp"},
		{`{"deny":"x"}`, "deny: must be an array"},
	} {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// naiveScan is Scan's specification.
func naiveScan(patterns []Pattern, s string) Flags {
	var f Flags
	ls := asciiLower(s)
	for _, p := range patterns {
		if p.Text != "" && strings.Contains(ls, asciiLower(p.Text)) {
			f |= p.List
		}
	}
	return f
}

func asciiLower(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lower(b[i])
	}
	return string(b)
}

func TestMatcherAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const alphabet = "abAB/ .é"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 500 {
		var ps []Pattern
		for range 1 + r.IntN(6) {
			ps = append(ps, Pattern{Text: word(1 + r.IntN(4)), List: Flags(1 + r.IntN(2))})
		}
		m := NewMatcher(ps)
		for range 50 {
			s := word(r.IntN(20))
			if got, want := m.Scan(s, 0), naiveScan(ps, s); got != want {
				t.Fatalf("patterns %q, scan %q: got %b, want %b", ps, s, got, want)
			}
		}
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add("sqlmap", "bot", "Mozilla/5.0 SQLMap/1.0")
	f.Add("aab", "ab", "aaab")
	f.Add("", "x", "")
	f.Fuzz(func(t *testing.T, deny, allow, ua string) {
		ps := []Pattern{{deny, Deny}, {allow, Allow}}
		if got, want := NewMatcher(ps).Scan(ua, 0), naiveScan(ps, ua); got != want {
			t.Fatalf("deny %q allow %q ua %q: got %b, want %b", deny, allow, ua, got, want)
		}
	})
}

func FuzzConfig(f *testing.F) {
	f.Add("sqlmap", "/^curl/")
	f.Add("/(/", "//")
	f.Fuzz(func(t *testing.T, deny, allow string) {
		cfg := &Config{Deny: []string{deny}, Allow: []string{allow}}
		if cfg.Validate() != nil {
			return
		}
		if _, err := New(&policy.Env{}, nil, cfg, "bot"); err != nil {
			t.Fatalf("Validate passed but New failed: %v", err)
		}
	})
}

func bench(b *testing.B, cfg *Config, ua string) {
	h, err := New(&policy.Env{}, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg, "bot")
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("User-Agent", ua)
	c := &policy.Context{R: req}
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Serve(c)
	}
}

func BenchmarkKnownBotsBrowser(b *testing.B) {
	bench(b, &Config{KnownBots: true, DenyEmpty: true}, browser)
}

func BenchmarkKnownBotsLowercase(b *testing.B) {
	bench(b, &Config{KnownBots: true}, "okhttp/4.12.0 android client for orders")
}

func BenchmarkKnownBotsDenied(b *testing.B) {
	bench(b, &Config{KnownBots: true}, "sqlmap/1.7.2#stable (https://sqlmap.org)")
}

func BenchmarkRegexp(b *testing.B) {
	bench(b, &Config{Deny: []string{"/^python-requests/", "/scan(ner)?/"}}, browser)
}
