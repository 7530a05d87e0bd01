package template

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

type params map[string]string

func (p params) Get(name string) (string, bool) { v, ok := p[name]; return v, ok }

func testContext() *policy.Context {
	r := httptest.NewRequest("PATCH", "http://api.example.com/items/42?q=a+b&tenant=acme&enc=%2Fx&bad=%zz&k%20ey=spaced", nil)
	r.RemoteAddr = "[::ffff:192.0.2.7]:4321"
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("X-Evil", "a\r\nInjected: yes")
	r.Header.Set("X-Request-Id", "req-1")
	c := &policy.Context{W: httptest.NewRecorder(), R: r, API: "orders", Route: "get-item"}
	c.Params = params{"id": "42", "slash": "a/b c"}
	c.Identity = policy.Identity{App: "shop", Developer: "dev@example.com", Plan: "gold", KeyID: "k1", Subject: "user-1",
		Claims: map[string]any{
			"sub": "user-1", "n": float64(42), "f": 1.5, "big": 1e22, "ok": true,
			"realm": map[string]any{"roles": []any{"a", "b"}, "name": "r"},
			"nl":    "x\ny",
		}}
	return c
}

func TestRender(t *testing.T) {
	c := testContext()
	tests := []struct{ src, want string }{
		{"plain text", "plain text"},
		{"", ""},
		{"{{request.method}}", "PATCH"},
		{"{{ request.path }}", "/items/42"},
		{"{{request.host}}", "api.example.com"},
		{"{{request.client_ip}}", "192.0.2.7"},
		{"{{request.query.q}}", "a b"},
		{"{{request.query.enc}}", "/x"},
		{"{{request.query.bad}}", "%zz"},
		{"{{request.query.k ey}}", ""}, // a space ends the name: parse error, tested below
		{"{{request.query.missing | \"none\"}}", "none"},
		{"{{request.header.x-tenant}}", "acme"},
		{"{{ request.header.X-Missing | \"default\" }}", "default"},
		{"{{request.header.X-Evil}}", "aInjected: yes"},
		{"/v2/items/{{path.id}}", "/v2/items/42"},
		{"{{path.nope}}", ""},
		{"{{app}}|{{developer}}|{{plan}}|{{key_id}}|{{subject}}", "shop|dev@example.com|gold|k1|user-1"},
		{"{{claims.sub}} {{claims.n}} {{claims.f}} {{claims.big}} {{claims.ok}}", "user-1 42 1.5 1e+22 true"},
		{"{{claims.realm.roles}}", `["a","b"]`},
		{"{{claims.realm.name}}", "r"},
		{"{{claims.realm.nope | \"x\"}}", "x"},
		{"{{claims.sub.deeper}}", ""},
		{"{{claims.nl}}", "xy"},
		{"{{api}}/{{route}}/{{request_id}}", "orders/get-item/req-1"},
		{`{{ "{{" }}literal{{ "}}" }}`, "{{literal}}"},
		{`{{ "a\"b\\c" }}`, `a"b\c`},
		{"}} alone", "}} alone"},
	}
	for _, tt := range tests {
		tpl, err := Parse(tt.src)
		if err != nil {
			if strings.Contains(tt.src, "k ey") {
				continue
			}
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := string(tpl.Render(c, nil)); got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
		}
		if tpl.String() != tt.src {
			t.Errorf("String() = %q", tpl.String())
		}
	}
}

func TestStatic(t *testing.T) {
	for _, tt := range []struct {
		src    string
		static bool
		value  string
	}{
		{"abc", true, "abc"},
		{"", true, ""},
		{`a{{ "b" }}c`, true, "abc"},
		{"a{{app}}", false, ""},
	} {
		tpl, err := Parse(tt.src)
		if err != nil {
			t.Fatal(err)
		}
		if tpl.IsStatic() != tt.static || tpl.Static() != tt.value {
			t.Errorf("%q: IsStatic %v Static %q", tt.src, tpl.IsStatic(), tpl.Static())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a {{ request.method", `column 3: unclosed "{{"`},
		{"{{", `column 1: unclosed "{{"`},
		{"{{ }}", "column 1: empty expression"},
		{"ab{{ bogus }}", `column 6: unknown expression "bogus"`},
		{"{{ request.header. }}", "column 19: request.header needs a name"},
		{"{{ request.header.X(y) }}", `column 20: "X(y)" is not a valid header name`},
		{"{{ claims.a..b }}", `column 13: empty claim name`},
		{"{{ app | default }}", `column 10: want a quoted fallback`},
		{`{{ app | "x }}`, "column 10: unterminated string"},
		{`{{ "x" | "y" }}`, "column 10: a literal needs no fallback"},
		{`{{ app x }}`, `column 8: unexpected "x", want "}}"`},
		{`{{ "\n" }}`, `column 5: unknown escape`},
		{"a\nb", `column 2: control character '\n' not allowed`},
		{"é{{x}}", `column 4: unknown expression "x"`},
		{"{{ request.query.a b }}", `column 20: unexpected "b"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.src, err, tt.want)
		}
	}
}

func TestRenderPath(t *testing.T) {
	c := testContext()
	c.R.URL.Path, c.R.URL.RawPath = "/a b/c%2Fd", "/a%20b/c%252Fd"
	tpl, err := Parse("/v2/{{path.slash}}/{{request.path}}/{{path.missing|\"x y\"}}/{{request.header.X-Evil}}")
	if err != nil {
		t.Fatal(err)
	}
	got := string(tpl.RenderPath(c, make([]byte, 0, 4))) // a small buffer makes escaping grow it
	if want := "/v2/a%2Fb%20c//a%20b/c%252Fd/x%20y/aInjected:%20yes"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// EscapedPath allocates to check a RawPath; the common request has none.
	c.R.URL.Path, c.R.URL.RawPath = "/plain/path", ""
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = tpl.RenderPath(c, buf[:0]) }); n != 0 {
		t.Errorf("RenderPath allocates %v times per run", n)
	}
}

func FuzzSegmentEscape(f *testing.F) {
	for _, s := range []string{"a/b", "a b", "%", "é", "..", "a;b,c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := string(AppendSegmentEscape(nil, []byte(s)))
		if strings.ContainsAny(e, "/?# ") {
			t.Fatalf("escape(%q) = %q", s, e)
		}
		if u, err := url.PathUnescape(e); err != nil || u != s {
			t.Fatalf("unescape(escape(%q)) = %q, %v", s, u, err)
		}
	})
}

func TestAppendQueryValue(t *testing.T) {
	for _, tt := range []struct{ q, name, want string }{
		{"a=1&b=2", "b", "2"},
		{"a=1&a=2", "a", "1"},
		{"a", "a", ""},
		{"x%41=1", "xA", "1"},
		{"a+b=c%20d", "a b", "c d"},
		{"&&a=1", "a", "1"},
		{"a=%", "a", "%"},
		{"", "a", ""},
	} {
		if got := string(AppendQueryValue(nil, tt.q, tt.name)); got != tt.want {
			t.Errorf("AppendQueryValue(%q, %q) = %q, want %q", tt.q, tt.name, got, tt.want)
		}
	}
}

func TestRenderAllocs(t *testing.T) {
	c := testContext()
	c.SetClientIP(netip.MustParseAddr("2001:db8::1"))
	tpl, err := Parse("{{request.method}} {{request.client_ip}} {{request.query.q}} {{request.header.X-Tenant}} {{path.id}} {{claims.sub}} {{claims.n}} {{app}} {{request_id}}")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = tpl.Render(c, buf[:0]) }); n != 0 {
		t.Errorf("Render allocates %v times per run", n)
	}
}

func BenchmarkRenderStatic(b *testing.B) {
	c := testContext()
	tpl, _ := Parse("no-store")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = tpl.Render(c, buf[:0])
	}
}

func BenchmarkRenderDynamic(b *testing.B) {
	c := testContext()
	tpl, _ := Parse("tenant={{request.header.X-Tenant}};app={{app}};id={{path.id}};q={{request.query.q}};ip={{request.client_ip}}")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = tpl.Render(c, buf[:0])
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "plain", "{{request.method}}", "{{ request.header.X-Tenant | \"default\" }}", "/v2/items/{{path.id}}",
		`{{ "{{" }}`, "{{claims.a.b.c}}", "{{", "}}", "{{ app | }}", "{{request.query.a%20b}}", "a\x00b", "{{\"\\\"\"}}",
	} {
		f.Add(s)
	}
	c := testContext()
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Parse(src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "column ") {
				t.Fatalf("error without a column: %v", err)
			}
			return
		}
		out := tpl.Render(c, nil)
		if strings.ContainsAny(string(out), "\r\n\x00") {
			t.Fatalf("Render(%q) = %q contains a control character", src, out)
		}
		if !strings.Contains(src, "{{") && string(out) != src {
			t.Fatalf("a template without placeholders rendered %q, want %q", out, src)
		}
		if tpl.IsStatic() && tpl.Static() != string(out) {
			t.Fatalf("Static %q != Render %q", tpl.Static(), out)
		}
	})
}

func FuzzAppendUnescape(f *testing.F) {
	for _, s := range []string{"a+b", "%41", "%", "%4", "%zz", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendUnescape(nil, s)
		if len(got) > len(s) {
			t.Fatalf("decoded %q longer than %q", got, s)
		}
	})
}
