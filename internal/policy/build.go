package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// Type is one kind of policy, as registered in internal/policy/builtin.
type Type struct {
	Name    string
	Phase   Phase
	Summary string // one line, for docs and errors

	config func() any
	build  func(env *Env, next Handler, cfg any, name string) (Handler, error)
	auth   func(env *Env, cfg any, name string) (Authenticator, error)
}

// Define registers a policy type whose New wraps the next handler. C is its documented
// Config; if *C has a Validate() error method it runs after decoding.
func Define[C any](name string, phase Phase, summary string, newFn func(env *Env, next Handler, cfg *C, name string) (Handler, error)) Type {
	if phase == Authn {
		panic("policy: authentication policies use DefineAuth")
	}
	return Type{Name: name, Phase: phase, Summary: summary,
		config: func() any { return new(C) },
		build: func(env *Env, next Handler, cfg any, n string) (Handler, error) {
			return newFn(env, next, cfg.(*C), n)
		}}
}

// DefineAuth registers an authentication policy type.
func DefineAuth[C any](name, summary string, newFn func(env *Env, cfg *C, name string) (Authenticator, error)) Type {
	return Type{Name: name, Phase: Authn, Summary: summary,
		config: func() any { return new(C) },
		auth: func(env *Env, cfg any, n string) (Authenticator, error) {
			return newFn(env, cfg.(*C), n)
		}}
}

// ConfigType is the Go type of the policy's Config (a struct), for documentation.
func (t Type) ConfigType() reflect.Type { return reflect.TypeOf(t.config()).Elem() }

// Decode parses and validates raw as this type's config.
func (t Type) Decode(raw json.RawMessage) (any, error) {
	cfg := t.config()
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			return nil, decodeError(err)
		}
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", f)
	}
	return errors.New(strings.TrimPrefix(msg, "json: "))
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// Registry is the set of known policy types by name.
type Registry map[string]Type

// NewRegistry indexes types; a duplicate name panics (it is a programming error).
func NewRegistry(types ...Type) Registry {
	r := make(Registry, len(types))
	for _, t := range types {
		if _, dup := r[t.Name]; dup {
			panic("policy: type " + t.Name + " registered twice")
		}
		r[t.Name] = t
	}
	return r
}

// Names returns the registered type names, sorted.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// SpecError is a problem with one spec of a list: its index, the spec's field ("type" or
// "config") and, for config, the policy type. Error() reads "policies[2] (rate-limit):
// limit: must be positive".
type SpecError struct {
	Index int
	Type  string
	Field string
	Err   error
}

func (e *SpecError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("policies[%d] (%s): %v", e.Index, e.Type, e.Err)
	}
	return fmt.Sprintf("policies[%d]: %v", e.Index, e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

// SpecErrors returns the SpecErrors joined in err, and whatever else as one error.
func SpecErrors(err error) (specs []*SpecError, other []error) {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else if err != nil {
		list = []error{err}
	}
	for _, e := range list {
		if se, ok := e.(*SpecError); ok {
			specs = append(specs, se)
		} else {
			other = append(other, e)
		}
	}
	return specs, other
}

// Implicit policy types Build adds when an API authenticates and does not list them.
const (
	SubscriptionType = "subscription" // authorization: the app must subscribe to a plan with this API
	RateLimitType    = "rate-limit"   // a plan's rate_limit becomes one of these
	QuotaType        = "quota"        // a plan's quota becomes one of these
)

// Merge returns the API's specs with the route's applied: a route spec of a type replaces
// every API spec of that type (Disabled removes it); other route specs are added.
func Merge(api, route []gatehouse.PolicySpec) []gatehouse.PolicySpec {
	if len(route) == 0 {
		return api
	}
	out := make([]gatehouse.PolicySpec, 0, len(api)+len(route))
	for _, s := range api {
		if !slices.ContainsFunc(route, func(r gatehouse.PolicySpec) bool { return r.Type == s.Type }) {
			out = append(out, s)
		}
	}
	return append(out, route...)
}

type compiled struct {
	t    Type
	name string
	cfg  any
	idx  int // index in the specs, -1 for implicit ones
}

// newErr attributes a New failure to its spec.
func (c compiled) newErr(err error) error {
	if c.idx < 0 {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	return &SpecError{Index: c.idx, Type: c.t.Name, Field: "config", Err: err}
}

// Build compiles specs (already merged, see Merge) into one chain that ends at terminal.
// plans are the plans that include env.API: each one's rate_limit, quota and policies run
// at the start of the limits phase for requests that subscription authorized under it.
// Every problem is reported, each prefixed by the spec's index.
func (r Registry) Build(env *Env, specs []gatehouse.PolicySpec, plans []*gatehouse.Plan, terminal Handler) (Handler, error) {
	var errs []error
	var list []compiled
	seen := map[string]int{}
	hasAuthn := false
	for i, s := range specs {
		if s.Disabled {
			continue
		}
		t, ok := r[s.Type]
		if !ok {
			errs = append(errs, &SpecError{Index: i, Field: "type", Err: fmt.Errorf("unknown policy type %q (known: %s)", s.Type, strings.Join(r.Names(), ", "))})
			continue
		}
		cfg, err := t.Decode(s.Config)
		if err != nil {
			errs = append(errs, &SpecError{Index: i, Type: s.Type, Field: "config", Err: err})
			continue
		}
		seen[s.Type]++
		name := s.Type
		if n := seen[s.Type]; n > 1 {
			name = fmt.Sprintf("%s#%d", s.Type, n)
		}
		list = append(list, compiled{t, name, cfg, i})
		hasAuthn = hasAuthn || t.Phase == Authn
	}
	if hasAuthn && seen[SubscriptionType] == 0 && !disabled(specs, SubscriptionType) {
		if t, ok := r[SubscriptionType]; ok {
			cfg, _ := t.Decode(nil)
			list = append(list, compiled{t, SubscriptionType, cfg, -1})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(list, func(a, b compiled) int { return int(a.t.Phase) - int(b.t.Phase) })

	// Build back to front: each handler wraps the one after it.
	h := terminal
	planAt := -1 // plan limits go in front of the first limits-phase (or later) policy
	for i, c := range list {
		if c.t.Phase >= Limits {
			planAt = i
			break
		}
	}
	if planAt < 0 {
		planAt = len(list)
	}
	var authn []Authenticator
	for i := len(list) - 1; i >= 0; i-- {
		c := list[i]
		if i+1 == planAt && hasAuthn && len(plans) > 0 {
			ph, err := r.planLimits(env, plans, h)
			if err != nil {
				return nil, err
			}
			h = ph
		}
		if c.t.Phase == Authn {
			a, err := c.t.auth(env, c.cfg, c.name)
			if err != nil {
				errs = append(errs, c.newErr(err))
				continue
			}
			authn = append(authn, a)
			if i == 0 || list[i-1].t.Phase != Authn {
				slices.Reverse(authn)
				g := &authGroup{next: h, methods: authn, challenge: challenges(authn)}
				for _, a := range authn {
					if s, ok := a.(Stripper); ok {
						g.strippers = append(g.strippers, s)
					}
				}
				h = g
				authn = nil
			}
			continue
		}
		nh, err := c.t.build(env, h, c.cfg, c.name)
		if err != nil {
			errs = append(errs, c.newErr(err))
			continue
		}
		h = nh
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return h, nil
}

func disabled(specs []gatehouse.PolicySpec, typ string) bool {
	return slices.ContainsFunc(specs, func(s gatehouse.PolicySpec) bool { return s.Type == typ && s.Disabled })
}

// planLimits builds, per plan, the plan's own limits chain in front of next, and a
// handler that picks the chain of the plan subscription authorized the request under.
func (r Registry) planLimits(env *Env, plans []*gatehouse.Plan, next Handler) (Handler, error) {
	byPlan := make(map[string]Handler, len(plans))
	for _, p := range plans {
		var specs []gatehouse.PolicySpec
		if rl := p.RateLimit; rl != nil {
			cfg, _ := json.Marshal(map[string]any{"limit": rl.Limit, "window": rl.Window, "by": "app", "scope": "plan:" + p.Name})
			specs = append(specs, gatehouse.PolicySpec{Type: RateLimitType, Config: cfg})
		}
		if q := p.Quota; q != nil {
			cfg, _ := json.Marshal(map[string]any{"limit": q.Limit, "period": q.Period, "by": "app", "scope": "plan:" + p.Name})
			specs = append(specs, gatehouse.PolicySpec{Type: QuotaType, Config: cfg})
		}
		specs = append(specs, p.Policies...)
		names := make([]string, len(specs))
		seen := map[string]int{}
		for i, s := range specs {
			seen[s.Type]++
			names[i] = "plan:" + p.Name + ":" + s.Type
			if n := seen[s.Type]; n > 1 {
				names[i] += fmt.Sprintf("#%d", n)
			}
		}
		h := next
		for i := len(specs) - 1; i >= 0; i-- {
			s := specs[i]
			if s.Disabled {
				continue
			}
			t, ok := r[s.Type]
			if !ok {
				return nil, fmt.Errorf("plan %q: unknown policy type %q", p.Name, s.Type)
			}
			if t.Phase != Limits {
				return nil, fmt.Errorf("plan %q: policy %q runs in the %s phase; plans may add limits-phase policies only", p.Name, s.Type, t.Phase)
			}
			cfg, err := t.Decode(s.Config)
			if err != nil {
				return nil, fmt.Errorf("plan %q: %s: %w", p.Name, s.Type, err)
			}
			nh, err := t.build(env, h, cfg, names[i])
			if err != nil {
				return nil, fmt.Errorf("plan %q: %s: %w", p.Name, s.Type, err)
			}
			h = nh
		}
		byPlan[p.Name] = h
	}
	return HandlerFunc(func(c *Context) error {
		if h, ok := byPlan[c.Identity.Plan]; ok {
			return h.Serve(c)
		}
		return next.Serve(c)
	}), nil
}

// CheckPlan validates a plan's policies without an API: each must be a known limits-phase
// type with a valid config.
func (r Registry) CheckPlan(p *gatehouse.Plan) error {
	var errs []error
	for i, s := range p.Policies {
		t, ok := r[s.Type]
		if !ok {
			errs = append(errs, &SpecError{Index: i, Field: "type", Err: fmt.Errorf("unknown policy type %q", s.Type)})
			continue
		}
		if t.Phase != Limits {
			errs = append(errs, &SpecError{Index: i, Field: "type", Err: fmt.Errorf("%q runs in the %s phase; plans may add limits-phase policies only", s.Type, t.Phase)})
			continue
		}
		if _, err := t.Decode(s.Config); err != nil {
			errs = append(errs, &SpecError{Index: i, Type: s.Type, Field: "config", Err: err})
		}
	}
	return errors.Join(errs...)
}

// Stripper is implemented by an authentication method that forwards something upstream
// in a header (mtls's certificate): Strip removes client-sent copies, and the group calls
// it on every request before any method runs, so a request that another method
// authenticates cannot carry a forged one.
type Stripper interface {
	Strip(c *Context)
}

// authGroup tries each authentication method in order; the first whose credentials are
// present decides.
type authGroup struct {
	next      Handler
	methods   []Authenticator
	strippers []Stripper
	challenge string
}

// errMissing is the one rejection when no method found credentials.
var errMissing = &Error{Status: http.StatusUnauthorized, Code: "missing_credentials", Detail: "this API requires credentials", Policy: "authentication"}

func (g *authGroup) Serve(c *Context) error {
	for _, s := range g.strippers {
		s.Strip(c)
	}
	for _, m := range g.methods {
		ok, err := m.Authenticate(c)
		if err != nil {
			if g.challenge != "" {
				c.W.Header().Set("WWW-Authenticate", g.challenge)
			}
			return err
		}
		if ok {
			return g.next.Serve(c)
		}
	}
	if g.challenge != "" {
		c.W.Header().Set("WWW-Authenticate", g.challenge)
	}
	return errMissing
}

func challenges(as []Authenticator) string {
	var parts []string
	for _, a := range as {
		if ch := a.Challenge(); ch != "" && !slices.Contains(parts, ch) {
			parts = append(parts, ch)
		}
	}
	return strings.Join(parts, ", ")
}
