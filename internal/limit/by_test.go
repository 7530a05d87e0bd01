package limit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func TestParseBy(t *testing.T) {
	cases := []struct {
		in      string
		allowed []string
		want    string // String() of the result; "" for an error
	}{
		{"", nil, "consumer"},
		{"consumer", nil, "consumer"},
		{"app", nil, "app"},
		{"key", nil, "key"},
		{"ip", nil, "ip"},
		{"route", nil, ""},
		{"route", []string{"route"}, "route"},
		{"api", []string{"route"}, ""},
		{"api", []string{"route", "api"}, "api"},
		{"header:x-tenant-id", nil, "header:X-Tenant-Id"},
		{"header:X_Odd~Name", nil, "header:X_odd~name"}, // as net/http canonicalizes it
		{"header:", nil, ""},
		{"header:X Tenant", nil, ""},
		{"header:X:Y", nil, ""},
		{"header:" + strings.Repeat("a", 257), nil, ""},
		{"App", nil, ""},
		{"header", nil, ""},
	}
	for _, tc := range cases {
		b, err := ParseBy(tc.in, tc.allowed...)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseBy(%q, %q) = %s, want an error", tc.in, tc.allowed, b)
		case tc.want != "" && err != nil:
			t.Errorf("ParseBy(%q, %q): %v", tc.in, tc.allowed, err)
		case tc.want != "" && b.String() != tc.want:
			t.Errorf("ParseBy(%q) = %s, want %s", tc.in, b, tc.want)
		case err != nil && !strings.HasPrefix(err.Error(), "by: "):
			t.Errorf("ParseBy(%q): error %q does not name the field", tc.in, err)
		}
	}
}

func TestAppendKey(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		by       string
		identity policy.Identity
		header   string
		route    string
		want     string
	}{
		{"consumer", policy.Identity{App: "a", Subject: "s"}, "", "", "app:a"},
		{"consumer", policy.Identity{Subject: "s"}, "", "", "sub:s"},
		{"consumer", policy.Identity{}, "", "", "ip:10.1.2.3"},
		{"app", policy.Identity{Subject: "s"}, "", "", "ip:10.1.2.3"},
		{"app", policy.Identity{App: "a"}, "", "", "app:a"},
		{"key", policy.Identity{App: "a", KeyID: "k1"}, "", "", "key:k1"},
		{"key", policy.Identity{App: "a"}, "", "", "ip:10.1.2.3"},
		{"ip", policy.Identity{App: "a"}, "", "", "ip:10.1.2.3"},
		{"route", policy.Identity{}, "", "list", "route:orders/list"},
		{"route", policy.Identity{}, "", "", "route:orders/"},
		{"api", policy.Identity{App: "a"}, "", "", "api:orders"},
		{"header:X-Tenant", policy.Identity{}, "acme", "", "hdr:acme"},
		{"header:X-Tenant", policy.Identity{}, "", "", "ip:10.1.2.3"},
		{"header:X-Tenant", policy.Identity{}, long, "", "hdr:#"},
		{"app", policy.Identity{App: long}, "", "", "app:#"},
	}
	for _, tc := range cases {
		b, err := ParseBy(tc.by, "route", "api")
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			r.Header.Set("X-Tenant", tc.header)
		}
		c := &policy.Context{R: r, API: "orders", Route: tc.route, Identity: tc.identity}
		c.SetClientIP(netip.MustParseAddr("10.1.2.3"))
		got := string(b.AppendKey([]byte("scope:"), c))
		want := "scope:" + tc.want
		if strings.HasSuffix(tc.want, "#") {
			if !strings.HasPrefix(got, want) || len(got) != len(want)+32 {
				t.Errorf("by %s with a long value: key %q, want %s and a 32-digit hash", tc.by, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("by %s, %+v: key %q, want %q", tc.by, tc.identity, got, want)
		}
	}
	// Without a usable peer address, anonymous callers share one "unknown" bucket.
	b, _ := ParseBy("ip")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "@"
	if got := string(b.AppendKey(nil, &policy.Context{R: r})); got != "ip:unknown" {
		t.Errorf("no client IP: %q", got)
	}
}

func FuzzParseBy(f *testing.F) {
	for _, s := range []string{"", "consumer", "app", "key", "ip", "route", "api", "header:X-Tenant", "header:", "header:a b", "header:\u00e9"} {
		f.Add(s)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBy(s, "route", "api")
		if err != nil {
			return
		}
		again, err := ParseBy(b.String(), "route", "api")
		if err != nil || again != b {
			t.Fatalf("ParseBy(%q) = %s, which parses back as %v, %v", s, b, again, err)
		}
		r.Header.Set("X-Tenant", s)
		b.AppendKey(nil, &policy.Context{R: r, Identity: policy.Identity{App: s}})
	})
}

func BenchmarkAppendKey(b *testing.B) {
	for _, by := range []string{"app", "ip", "header:X-Tenant"} {
		b.Run(by, func(b *testing.B) {
			p, _ := ParseBy(by)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-Tenant", "acme")
			c := &policy.Context{R: r, Identity: policy.Identity{App: "mobile"}}
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf = p.AppendKey(append(buf[:0], "orders:rate-limit:"...), c)
			}
		})
	}
}
