package ipfilter

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// probe passes the client address the chain settled on to the upstream, as a later
// policy (rate-limit by ip) would read it.
var probe = policy.Define("probe", policy.Transform, "test: forwards c.ClientIP()",
	func(_ *policy.Env, next policy.Handler, _ *struct{}, _ string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			c.R.Header.Set("X-Client", c.ClientIP().String())
			return next.Serve(c)
		}), nil
	})

func serve(t *testing.T, cfg string) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "ip-filter", Config: json.RawMessage(cfg)}, {Type: "probe"}}
	return policytest.Serve(t, policy.NewRegistry(Type, probe), &policy.Env{}, specs, nil, policytest.Echo)
}

func get(t *testing.T, srv *httptest.Server, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
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

func TestFilter(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		headers map[string]string
		status  int
		client  string // the address later policies see, when allowed
	}{
		{"allowed", `{"allow":["127.0.0.1"]}`, nil, 200, "127.0.0.1"},
		{"allowed by prefix", `{"allow":["10.0.0.0/8","127.0.0.0/8"]}`, nil, 200, "127.0.0.1"},
		{"not in allow list", `{"allow":["10.0.0.0/8","2001:db8::/32"]}`, nil, 403, ""},
		{"denied", `{"deny":["127.0.0.0/8"]}`, nil, 403, ""},
		{"deny wins over allow", `{"allow":["127.0.0.0/8"],"deny":["127.0.0.1"]}`, nil, 403, ""},
		{"deny elsewhere", `{"deny":["10.0.0.0/8"]}`, nil, 200, "127.0.0.1"},
		{"mapped deny entry", `{"deny":["::ffff:127.0.0.0/104"]}`, nil, 403, ""},
		// An untrusted peer's forwarding headers are ignored: spoofing gets nothing.
		{"xff spoof without trusted proxies", `{"allow":["127.0.0.1"]}`, map[string]string{"X-Forwarded-For": "10.9.9.9"}, 200, "127.0.0.1"},
		{"xff spoof cannot evade deny", `{"deny":["127.0.0.1"]}`, map[string]string{"X-Forwarded-For": "8.8.8.8"}, 403, ""},
		{"peer not trusted", `{"trusted_proxies":["10.0.0.0/8"]}`, map[string]string{"X-Forwarded-For": "8.8.8.8"}, 200, "127.0.0.1"},
		// A trusted proxy's chain: the rightmost address that is not a trusted proxy.
		{"trusted chain", `{"trusted_proxies":["127.0.0.0/8","10.0.0.0/8"]}`,
			map[string]string{"X-Forwarded-For": "1.1.1.1, 203.0.113.9, 10.0.0.5"}, 200, "203.0.113.9"},
		{"trusted chain, spoofed left part is skipped", `{"trusted_proxies":["127.0.0.0/8"],"deny":["203.0.113.9"]}`,
			map[string]string{"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}, 200, "198.51.100.1"},
		{"trusted chain, denied client", `{"trusted_proxies":["127.0.0.0/8"],"deny":["203.0.113.0/24"]}`,
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403, ""},
		{"trusted chain, all trusted", `{"trusted_proxies":["127.0.0.0/8","10.0.0.0/8"]}`,
			map[string]string{"X-Forwarded-For": "10.0.0.1, 10.0.0.2"}, 200, "10.0.0.1"},
		{"trusted chain, garbage", `{"trusted_proxies":["127.0.0.0/8"]}`,
			map[string]string{"X-Forwarded-For": "1.2.3.4, nonsense"}, 200, "127.0.0.1"},
		{"trusted chain, ipv6 and ports", `{"trusted_proxies":["127.0.0.0/8"]}`,
			map[string]string{"X-Forwarded-For": "[2001:db8::7]:443"}, 200, "2001:db8::7"},
		{"trusted chain, mapped", `{"trusted_proxies":["127.0.0.0/8"],"allow":["192.0.2.0/24"]}`,
			map[string]string{"X-Forwarded-For": "::ffff:192.0.2.1"}, 200, "192.0.2.1"},
		{"x-real-ip", `{"trusted_proxies":["127.0.0.1"],"real_ip_header":"X-Real-IP"}`,
			map[string]string{"X-Real-IP": "192.0.2.44", "X-Forwarded-For": "9.9.9.9"}, 200, "192.0.2.44"},
		{"forwarded", `{"trusted_proxies":["127.0.0.1"],"real_ip_header":"forwarded"}`,
			map[string]string{"Forwarded": `for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";by=x`}, 200, "2001:db8:cafe::17"},
		{"forwarded unknown", `{"trusted_proxies":["127.0.0.1"],"real_ip_header":"Forwarded"}`,
			map[string]string{"Forwarded": `for=unknown`}, 200, "127.0.0.1"},
		{"ipv6 allow list denies ipv4", `{"allow":["::/0"]}`, nil, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.cfg)
			resp, code := get(t, srv, tt.headers)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 403 {
				if code != "ip_denied" {
					t.Errorf("code %q, want ip_denied", code)
				}
				return
			}
			if got := resp.Header.Get("X-Echo-X-Client"); got != tt.client {
				t.Errorf("client address %q, want %q", got, tt.client)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "set at least one"},
		{`{"allow":["10.0.0.0/33"]}`, `allow[0]: "10.0.0.0/33" is not an IP address or CIDR prefix`},
		{`{"deny":["1.2.3.4","nope"]}`, `deny[1]: "nope"`},
		{`{"trusted_proxies":["fe80::1%eth0"]}`, "trusted_proxies[0]"},
		{`{"allow":["::1"],"real_ip_header":"X-Client"}`, "real_ip_header: must be"},
		{`{"allow":"1.2.3.4"}`, "allow: must be an array"},
	} {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestSet(t *testing.T) {
	s, err := ParseSet("x", []string{"10.0.0.0/8", "10.1.0.0/16", "192.0.2.1", "192.0.2.2/31", "2001:db8::/32", "::ffff:198.51.100.0/120", "fe80::1", "0.0.0.0/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.0.0.0", true}, {"10.255.255.255", true}, {"11.0.0.0", false}, {"9.255.255.255", false},
		{"192.0.2.1", true}, {"192.0.2.2", true}, {"192.0.2.3", true}, {"192.0.2.4", false}, {"192.0.2.0", false},
		{"2001:db8::1", true}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"2001:db9::", false},
		{"198.51.100.7", true}, {"::ffff:198.51.100.7", true}, {"::ffff:10.2.3.4", true},
		{"fe80::1", true}, {"fe80::2", false}, {"::", false}, {"0.0.0.0", true}, {"255.255.255.255", false},
	} {
		if got := s.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if (*Set)(nil).Contains(netip.MustParseAddr("1.2.3.4")) {
		t.Error("a nil set contains nothing")
	}
	all, _ := ParseSet("x", []string{"0.0.0.0/0", "::/0"})
	if !all.Contains(netip.MustParseAddr("255.255.255.255")) || !all.Contains(netip.MustParseAddr("ffff::1")) {
		t.Error("/0 prefixes contain everything")
	}
}

// TestSetMatchesLinearScan checks the merged ranges against netip.Prefix.Contains.
func TestSetMatchesLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	prefixes := randomPrefixes(r, 300)
	s := NewSet(prefixes)
	for range 20000 {
		a := randomAddr(r)
		want := false
		for _, p := range prefixes {
			if p.Contains(a) {
				want = true
				break
			}
		}
		if got := s.Contains(a); got != want {
			t.Fatalf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
}

func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte{byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	var b [16]byte
	b[0], b[1], b[2] = 0x20, 0x01, byte(r.IntN(4))
	for i := 3; i < 16; i++ {
		b[i] = byte(r.IntN(256))
	}
	return netip.AddrFrom16(b)
}

func randomPrefixes(r *rand.Rand, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		a := randomAddr(r)
		bits := 8 + r.IntN(25)
		if a.Is6() {
			bits = 16 + r.IntN(113)
		}
		out[i] = netip.PrefixFrom(a, bits).Masked()
	}
	return out
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "1.2.3.4", "::1", "2001:db8::/32", "::ffff:1.2.3.4/120", "fe80::1%eth0", "1.2.3.4/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseEntry(s)
		if err != nil {
			return
		}
		set := NewSet([]netip.Prefix{p})
		if !set.Contains(p.Addr()) {
			t.Fatalf("set of %s does not contain its own address", p)
		}
	})
}

func FuzzFromXFF(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.1", "[::1]:80, 1.2.3.4:5", ",,", "unknown", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	trusted, _ := ParseSet("t", []string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, v string) {
		if a, ok := FromXFF([]string{v}, trusted); ok && (!a.IsValid() || a.Is4In6()) {
			t.Fatalf("FromXFF(%q) = %v", v, a)
		}
		if a, ok := FromForwarded([]string{v}, trusted); ok && !a.IsValid() {
			t.Fatalf("FromForwarded(%q) = %v", v, a)
		}
	})
}

// benchFilter builds the handler directly, so that the benchmark measures the policy and
// not a network round trip.
func benchFilter(b *testing.B, cfg *Config) policy.Handler {
	h, err := New(&policy.Env{}, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg, "ip-filter")
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func thousandPrefixes() []string {
	r := rand.New(rand.NewPCG(3, 4))
	var out []string
	for _, p := range randomPrefixes(r, 1000) {
		out = append(out, p.String())
	}
	return out
}

func BenchmarkAllowList1000(b *testing.B) {
	list := thousandPrefixes()
	h := benchFilter(b, &Config{Allow: append(list, "127.0.0.1")})
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	c := &policy.Context{R: req}
	b.ReportAllocs()
	for b.Loop() {
		*c = policy.Context{R: req}
		if err := h.Serve(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDenyList1000IPv6(b *testing.B) {
	h := benchFilter(b, &Config{Deny: thousandPrefixes()})
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "[2a00:1450::1]:5555"
	c := &policy.Context{R: req}
	b.ReportAllocs()
	for b.Loop() {
		*c = policy.Context{R: req}
		if err := h.Serve(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrustedXFF(b *testing.B) {
	h := benchFilter(b, &Config{TrustedProxies: []string{"10.0.0.0/8", "127.0.0.0/8"}, Deny: thousandPrefixes()})
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("X-Forwarded-For", "203.0.113.5, 198.51.100.7, 10.0.0.3")
	c := &policy.Context{R: req}
	b.ReportAllocs()
	for b.Loop() {
		*c = policy.Context{R: req}
		if err := h.Serve(c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestServeAllocs(t *testing.T) {
	h, _ := New(&policy.Env{}, policy.HandlerFunc(func(*policy.Context) error { return nil }),
		&Config{TrustedProxies: []string{"127.0.0.0/8"}, Deny: thousandPrefixes()}, "ip-filter")
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("X-Forwarded-For", "203.0.113.5")
	c := &policy.Context{R: req}
	if n := testing.AllocsPerRun(100, func() {
		*c = policy.Context{R: req}
		_ = h.Serve(c)
	}); n != 0 {
		t.Errorf("Serve allocates %v times per request", n)
	}
}
