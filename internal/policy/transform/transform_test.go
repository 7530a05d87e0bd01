package transform

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

type params map[string]string

func (p params) Get(name string) (string, bool) { v, ok := p[name]; return v, ok }

// route stands in for the router: the X-Test-Id request header becomes path parameter
// id, and X-Test-App the caller's app.
var route = policy.Define("route", policy.Authz, "test: sets path parameters",
	func(_ *policy.Env, next policy.Handler, _ *struct{}, _ string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			if id, ok := c.R.Header["X-Test-Id"]; ok {
				c.Params = params{"id": id[0]}
			}
			c.Identity.App = c.R.Header.Get("X-Test-App")
			return next.Serve(c)
		}), nil
	})

// upstream reports the request as the proxy would receive it.
var upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Method", r.Method)
	h.Set("X-Path", r.URL.Path)
	h.Set("X-Raw-Path", r.URL.RawPath)
	h.Set("X-Query", r.URL.RawQuery)
	_, _ = io.WriteString(w, r.URL.RequestURI())
})

func serve(t *testing.T, cfg string) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "transform", Config: json.RawMessage(cfg)}, {Type: "route"}}
	return policytest.Serve(t, policy.NewRegistry(Type, route), &policy.Env{}, specs, nil, upstream)
}

type result struct {
	status                            int
	code                              string
	uri, method, path, rawPath, query string
}

func do(t *testing.T, srv *httptest.Server, target string, headers map[string]string) result {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+target, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, method: resp.Header.Get("X-Method"), path: resp.Header.Get("X-Path"),
		rawPath: resp.Header.Get("X-Raw-Path"), query: resp.Header.Get("X-Query")}
	if resp.StatusCode == 200 {
		r.uri = string(body)
	} else {
		var doc struct{ Code string }
		_ = json.Unmarshal(body, &doc)
		r.code = doc.Code
	}
	return r
}

func TestPath(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		target  string
		headers map[string]string
		want    result
	}{
		{"template with a parameter", `{"path":"/v2/items/{{path.id}}"}`, "/items/42?x=1", map[string]string{"X-Test-Id": "42"},
			result{status: 200, uri: "/v2/items/42?x=1", path: "/v2/items/42", query: "x=1"}},
		{"a slash in a parameter stays in its segment", `{"path":"/v2/items/{{path.id}}"}`, "/items/a%2Fb", map[string]string{"X-Test-Id": "a/b c"},
			result{status: 200, uri: "/v2/items/a%2Fb%20c", path: "/v2/items/a/b c", rawPath: "/v2/items/a%2Fb%20c"}},
		{"dot-dot parameter", `{"path":"/v2/items/{{path.id}}"}`, "/items/x", map[string]string{"X-Test-Id": ".."},
			result{status: 400, code: "invalid_path"}},
		{"missing parameter with fallback", `{"path":"/v2/items/{{path.id | \"all\"}}"}`, "/items", nil,
			result{status: 200, uri: "/v2/items/all", path: "/v2/items/all"}},
		{"keeps the request path", `{"path":"/shop{{request.path}}"}`, "/a%2Fb/c", nil,
			result{status: 200, uri: "/shop/a%2Fb/c", path: "/shop/a/b/c", rawPath: "/shop/a%2Fb/c"}},
		{"query value into the path", `{"path":"/search/{{request.query.q}}"}`, "/s?q=a+b%2Fc", nil,
			result{status: 200, uri: "/search/a%20b%2Fc?q=a+b%2Fc", path: "/search/a b/c", rawPath: "/search/a%20b%2Fc", query: "q=a+b%2Fc"}},
		{"regexp", `{"path_regex":{"pattern":"^/api/v1/(.*)$","replace":"/internal/$1"}}`, "/api/v1/users/7", nil,
			result{status: 200, uri: "/internal/users/7", path: "/internal/users/7"}},
		{"regexp keeps escapes", `{"path_regex":{"pattern":"^/api/v1/","replace":"/internal/"}}`, "/api/v1/a%2Fb", nil,
			result{status: 200, uri: "/internal/a%2Fb", path: "/internal/a/b", rawPath: "/internal/a%2Fb"}},
		{"regexp named group", `{"path_regex":{"pattern":"^/u/(?P<user>[^/]+)$","replace":"/users/${user}/profile"}}`, "/u/ann", nil,
			result{status: 200, uri: "/users/ann/profile", path: "/users/ann/profile"}},
		{"regexp without match", `{"path_regex":{"pattern":"^/nomatch","replace":"/x"}}`, "/keep/me", nil,
			result{status: 200, uri: "/keep/me", path: "/keep/me"}},
		{"regexp result without slash", `{"path_regex":{"pattern":"^/old/","replace":""}}`, "/old/rest", nil,
			result{status: 200, uri: "/rest", path: "/rest"}},
		{"method", `{"method":"post"}`, "/x", nil, result{status: 200, uri: "/x", path: "/x", method: "POST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, serve(t, tt.cfg), tt.target, tt.headers)
			if tt.want.method == "" && got.status == 200 {
				tt.want.method = "GET"
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	srv := serve(t, `{"query":{
		"remove":["debug"],
		"rename":{"q":"search"},
		"set":{"tenant":"{{ request.header.X-Tenant }}","v":"2"},
		"add":{"src":"gw","who":"{{ app }}","with space":"a&b"}}}`)
	tests := []struct {
		name, target string
		headers      map[string]string
		query        string
	}{
		{"all edits", "/x?q=hello+world&debug=1&tenant=evil&keep=1&search=old", map[string]string{"X-Tenant": "acme"},
			"search=hello+world&keep=1&tenant=acme&v=2&src=gw&with+space=a%26b"},
		{"template values are escaped", "/x?keep", map[string]string{"X-Tenant": "a b&c=d", "X-Test-App": "shop/1"},
			"keep&tenant=a+b%26c%3Dd&v=2&src=gw&who=shop%2F1&with+space=a%26b"},
		{"set with an empty value removes", "/x?tenant=evil&Debug=kept", nil, "Debug=kept&v=2&src=gw&with+space=a%26b"},
		{"escaped keys match", "/x?%71=1&debu%67=2", nil, "search=1&v=2&src=gw&with+space=a%26b"},
		{"rename target kept without source", "/x?search=old", nil, "search=old&v=2&src=gw&with+space=a%26b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, srv, tt.target, tt.headers)
			if got.status != 200 || got.query != tt.query {
				t.Errorf("status %d, query %q\nwant %q", got.status, got.query, tt.query)
			}
		})
	}
}

func TestQueryUntouched(t *testing.T) {
	srv := serve(t, `{"query":{"remove":["debug"]}}`)
	// Nothing to remove: the query goes on byte for byte, odd encodings included.
	if got := do(t, srv, "/x?b=%7e&&a=1;x", nil); got.query != "b=%7e&&a=1;x" {
		t.Errorf("query %q", got.query)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "set at least one"},
		{`{"path":"/a","path_regex":{"pattern":"x"}}`, "path, path_regex: set one or the other"},
		{`{"path":"v2/{{path.id}}"}`, `path: "v2/{{path.id}}" must start with /`},
		{`{"path":"/v2/{{ path. }}"}`, "path: column 13: path needs a name"},
		{`{"path":"/v2?x=1"}`, "path: \"/v2?x=1\": no query"},
		{`{"path_regex":{"pattern":"(","replace":"/"}}`, "path_regex.pattern: error parsing regexp"},
		{`{"path_regex":{"replace":"/"}}`, "path_regex.pattern: required"},
		{`{"method":"GET POST"}`, `method: "GET POST" is not a valid method`},
		{`{"query":{"rename":{"a":"b","b":"c"}}}`, "renames do not chain"},
		{`{"query":{"set":{"a":"{{ bogus }}"}}}`, "query.set[a]: column 4: unknown expression"},
		{`{"query":{"remove":[""]}}`, "query.remove[0]: empty name"},
		{`{"query":{"add":{"":"x"}}}`, "query.add: empty name"},
	} {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func FuzzQuery(f *testing.F) {
	f.Add("a=1&b=2&debug=x", "debug", "a")
	f.Add("%zz=1&&=&q", "q", "%zz")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, raw, remove, from string) {
		if remove == "" || from == "" || from == remove {
			return
		}
		ops, errs := compileQuery(&Query{Remove: []string{remove}, Rename: map[string]string{from: "renamed"}, Set: map[string]string{"v": "1"}})
		if len(errs) > 0 {
			return
		}
		u := &url.URL{RawQuery: raw}
		ops.apply(&policy.Context{R: &http.Request{URL: u, Header: http.Header{}}}, u)
		got, err := url.ParseQuery(u.RawQuery)
		if _, inErr := url.ParseQuery(raw); inErr != nil || err != nil {
			return // malformed pairs pass through as they came
		}
		if _, ok := got[remove]; ok && remove != "renamed" && remove != "v" {
			t.Fatalf("%q: %q survived in %q", raw, remove, u.RawQuery)
		}
		if _, ok := got[from]; ok && from != "renamed" && from != "v" {
			t.Fatalf("%q: %q was not renamed in %q", raw, from, u.RawQuery)
		}
		if v := got["v"]; len(v) != 1 || v[0] != "1" {
			t.Fatalf("%q: v = %q in %q", raw, v, u.RawQuery)
		}
	})
}

func bench(b *testing.B, cfg *Config, target string) {
	h, err := New(&policy.Env{}, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg, "transform")
	if err != nil {
		b.Fatal(err)
	}
	orig := httptest.NewRequest("GET", target, nil)
	req := new(http.Request)
	u := new(url.URL)
	c := new(policy.Context)
	p := params{"id": "42"}
	b.ReportAllocs()
	for b.Loop() {
		*req, *u = *orig, *orig.URL
		req.URL = u
		*c = policy.Context{R: req, Params: p}
		if err := h.Serve(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPathTemplate(b *testing.B) {
	bench(b, &Config{Path: "/v2/items/{{path.id}}"}, "/items/42")
}

func BenchmarkPathRegex(b *testing.B) {
	bench(b, &Config{PathRegex: &PathRegex{Pattern: "^/api/v1/(.*)$", Replace: "/internal/$1"}}, "/api/v1/items/42")
}

func BenchmarkQuery(b *testing.B) {
	bench(b, &Config{Query: Query{Remove: []string{"debug"}, Set: map[string]string{"v": "2"}, Rename: map[string]string{"q": "search"}}}, "/items?q=shoes&page=2&debug=1")
}

func BenchmarkQueryNoEdit(b *testing.B) {
	bench(b, &Config{Query: Query{Remove: []string{"debug"}}}, "/items?q=shoes&page=2")
}
