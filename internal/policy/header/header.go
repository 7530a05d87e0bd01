// Package header is the "header" policy: it adds, sets, removes and renames request
// headers on their way upstream and response headers on their way back, with values from
// the template language (internal/policy/template), and can hide the headers that
// advertise the upstream's software.
package header

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/respwriter"
	"github.com/gatehouse-dev/gatehouse/internal/policy/template"
)

// Type is the "header" policy type.
var Type = policy.Define("header", policy.Transform, "add, set, remove and rename request and response headers", New)

// Config configures header.
type Config struct {
	// Request edits the headers sent upstream. Default: no edits.
	Request Ops `json:"request,omitzero"`
	// Response edits the headers sent back to the client. Default: no edits.
	Response Ops `json:"response,omitzero"`
	// HideServer removes Server, X-Powered-By, X-AspNet-Version and X-AspNetMvc-Version
	// from responses. Default: false.
	HideServer bool `json:"hide_server,omitempty"`
}

// Ops are the edits of one direction, applied in this order: remove, rename, set, add.
// Values are templates ("Bearer {{ claims.sub }}").
type Ops struct {
	// Add appends a value to each header, keeping those already there. Default: empty.
	Add map[string]string `json:"add,omitempty"`
	// Set replaces each header with one value; a value that renders empty removes the
	// header, so a client cannot supply it instead. Default: empty.
	Set map[string]string `json:"set,omitempty"`
	// Remove deletes these headers. Default: empty.
	Remove []string `json:"remove,omitempty"`
	// Rename moves each header's values to a new name (old: new), replacing any values
	// the new name had. Default: empty.
	Rename map[string]string `json:"rename,omitempty"`
}

func (o *Ops) empty() bool {
	return len(o.Add) == 0 && len(o.Set) == 0 && len(o.Remove) == 0 && len(o.Rename) == 0
}

// serverHeaders are what hide_server removes, canonical.
func serverHeaders() []string {
	return []string{"Server", "X-Powered-By", "X-Aspnet-Version", "X-Aspnetmvc-Version"}
}

// settable reports why a header may not be written, or "" if it may: hop-by-hop headers
// belong to one connection (the proxy drops or rewrites them), Host routes the request,
// and Content-Length frames the body, so setting them would break the exchange.
func settable(canon string) string {
	switch canon {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Te", "Trailer":
		return "is a hop-by-hop header"
	case "Host":
		return "routes the request; use the upstream's preserve_host"
	case "Content-Length":
		return "frames the body"
	}
	if strings.HasPrefix(canon, "Proxy-") {
		return "is a hop-by-hop header"
	}
	return ""
}

// value is one header value: a shared one-element slice when static, else a template.
type value struct {
	static []string // full capacity, so that an append by anyone copies it
	tpl    *template.Template
}

type setOp struct {
	name string
	v    value
}

type renameOp struct{ from, to string }

type ops struct {
	remove []string
	rename []renameOp
	set    []setOp
	add    []setOp
}

func (o *ops) empty() bool {
	return len(o.remove) == 0 && len(o.rename) == 0 && len(o.set) == 0 && len(o.add) == 0
}

// compileOps checks and compiles one direction; field is "request" or "response".
func compileOps(field string, in *Ops) (ops, []error) {
	var out ops
	var errs []error
	canon := func(sub, name string, write bool) (string, bool) {
		if !policy.IsToken(name) {
			errs = append(errs, fmt.Errorf("%s.%s: %q is not a valid header name", field, sub, name))
			return "", false
		}
		c := http.CanonicalHeaderKey(name)
		if why := settable(c); write && why != "" {
			errs = append(errs, fmt.Errorf("%s.%s: %s %s and cannot be set", field, sub, c, why))
			return "", false
		}
		return c, true
	}
	values := func(sub string, m map[string]string) []setOp {
		var list []setOp
		for _, name := range slices.Sorted(maps.Keys(m)) {
			c, ok := canon(sub, name, true)
			if !ok {
				continue
			}
			if slices.ContainsFunc(list, func(o setOp) bool { return o.name == c }) {
				errs = append(errs, fmt.Errorf("%s.%s: %s is listed twice", field, sub, c))
				continue
			}
			t, err := template.Parse(m[name])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%s[%s]: %w", field, sub, name, err))
				continue
			}
			v := value{tpl: t}
			if t.IsStatic() {
				v = value{static: []string{t.Static()}}
			}
			list = append(list, setOp{name: c, v: v})
		}
		return list
	}
	for _, name := range in.Remove {
		if c, ok := canon("remove", name, false); ok && !slices.Contains(out.remove, c) {
			out.remove = append(out.remove, c)
		}
	}
	for _, from := range slices.Sorted(maps.Keys(in.Rename)) {
		f, ok1 := canon("rename", from, false)
		t, ok2 := canon("rename", in.Rename[from], true)
		if ok1 && ok2 {
			out.rename = append(out.rename, renameOp{f, t})
		}
	}
	out.set = values("set", in.Set)
	out.add = values("add", in.Add)
	return out, errs
}

func compile(cfg *Config) (req, resp ops, err error) {
	var errs []error
	if cfg.Request.empty() && cfg.Response.empty() && !cfg.HideServer {
		errs = append(errs, errors.New("request, response or hide_server: set at least one"))
	}
	req, e1 := compileOps("request", &cfg.Request)
	resp, e2 := compileOps("response", &cfg.Response)
	errs = append(append(errs, e1...), e2...)
	if cfg.HideServer {
		for _, h := range serverHeaders() {
			if !slices.Contains(resp.remove, h) {
				resp.remove = append(resp.remove, h)
			}
		}
	}
	return req, resp, errors.Join(errs...)
}

// Validate checks names and templates.
func (c *Config) Validate() error {
	_, _, err := compile(c)
	return err
}

type headers struct {
	next policy.Handler
	req  ops
	resp ops
}

// New builds the policy.
func New(_ *policy.Env, next policy.Handler, cfg *Config, _ string) (policy.Handler, error) {
	req, resp, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return &headers{next: next, req: req, resp: resp}, nil
}

func (p *headers) Serve(c *policy.Context) error {
	if !p.req.empty() {
		p.req.apply(c, c.R.Header, true)
	}
	if p.resp.empty() {
		return p.next.Serve(c)
	}
	w := respwriter.Wrap(c, p)
	err := p.next.Serve(c)
	w.Finish()
	return err
}

// BeforeHeader applies the response edits to whatever the upstream (or a rejection) set.
// Values may live in the Context (OneValue) only when the headers go out now: with status
// 0 net/http sends them after the chain has returned and the Context has been reused.
func (p *headers) BeforeHeader(c *policy.Context, h http.Header, status int) {
	p.resp.apply(c, h, status != 0)
}

// apply edits h. inContext says whether rendered values may be stored in c (see
// policy.Context.OneValue): true while h is read before the chain returns (the request's
// headers, which the proxy copies; response headers written now).
func (o *ops) apply(c *policy.Context, h http.Header, inContext bool) {
	for _, name := range o.remove {
		delete(h, name)
	}
	for _, r := range o.rename {
		if v, ok := h[r.from]; ok {
			delete(h, r.from)
			h[r.to] = v
		}
	}
	for i := range o.set {
		s := &o.set[i]
		delete(h, s.name)
		if v := s.v.render(c, inContext); v != nil {
			h[s.name] = v
		}
	}
	for i := range o.add {
		a := &o.add[i]
		v := a.v.render(c, inContext)
		if v == nil {
			continue
		}
		if old := h[a.name]; len(old) > 0 {
			h[a.name] = append(old, v[0])
		} else {
			h[a.name] = v
		}
	}
}

// render returns v as a header's value slice, or nil when it is empty.
func (v *value) render(c *policy.Context, inContext bool) []string {
	if v.tpl == nil {
		if v.static[0] == "" {
			return nil
		}
		return v.static
	}
	var arr [256]byte
	buf := dropControls(v.tpl.Render(c, arr[:0]))
	if len(buf) == 0 {
		return nil
	}
	if !inContext {
		return []string{string(buf)}
	}
	return c.OneValue(string(buf))
}

// dropControls removes the control characters other than tab that the template left
// (it drops CR, LF and NUL): Go's transport refuses to send a header that has any, which
// would turn a client's odd claim into a 502.
func dropControls(b []byte) []byte {
	j := 0
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			continue
		}
		b[j] = c
		j++
	}
	return b[:j]
}
