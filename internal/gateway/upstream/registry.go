package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gatehouse-dev/gatehouse"
)

// Registry keeps pools across configuration reloads so that health state, circuit
// breakers and warm connections survive when an API's upstream did not change, and shares
// transports between pools with the same TLS material and timeouts.
//
// Locks: Registry.mu is taken before transportCache.mu (through newPool) and Pool.life
// (through Start); pools are closed after Registry.mu is released, since Close waits for
// health checks to return.
type Registry struct {
	opts       Options
	ctx        context.Context // parent of the pools' health checks; ends with Close
	cancel     context.CancelFunc
	transports transportCache

	mu     sync.Mutex
	pools  map[string]*entry // by API name; guarded by mu
	closed bool              // guarded by mu
}

// entry is an API's current pool and the ones it replaced that may still be serving.
type entry struct {
	cfg  settings
	pool *Pool
	old  []*Pool // closed by the next Retain
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{opts: opts, ctx: ctx, cancel: cancel, pools: map[string]*entry{}}
}

// Pool returns the started pool for apiName's upstream: the same *Pool as before when cfg
// means the same thing (TLS files' contents included), else a new one. The pool it
// replaces keeps serving the previous route table until Retain closes it.
func (r *Registry) Pool(apiName string, cfg gatehouse.Upstream) (*Pool, error) {
	s, tc, err := resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream of api %q: %w", apiName, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("upstream registry is closed")
	}
	e := r.pools[apiName]
	if e != nil && e.cfg.equal(s) {
		return e.pool, nil
	}
	p, err := newPool(apiName, s, tc, r.opts, &r.transports)
	if err != nil {
		return nil, err
	}
	p.Start(r.ctx)
	if e == nil {
		e = &entry{}
		r.pools[apiName] = e
	} else {
		e.old = append(e.old, e.pool)
	}
	e.cfg, e.pool = s, p
	return p, nil
}

// Retain closes the pools of APIs not in apiNames and every pool that was replaced. Call
// it once the route table built from the latest Pool calls is being served.
func (r *Registry) Retain(apiNames []string) {
	keep := make(map[string]bool, len(apiNames))
	for _, n := range apiNames {
		keep[n] = true
	}
	var closing []*Pool
	r.mu.Lock()
	for name, e := range r.pools {
		closing = append(closing, e.old...)
		e.old = nil
		if !keep[name] {
			closing = append(closing, e.pool)
			delete(r.pools, name)
		}
	}
	r.mu.Unlock()
	for _, p := range closing {
		p.Close()
	}
}

// Close closes every pool. Pools asked for afterwards are refused.
func (r *Registry) Close() {
	var closing []*Pool
	r.mu.Lock()
	r.closed = true
	for _, e := range r.pools {
		closing = append(closing, e.old...)
		closing = append(closing, e.pool)
	}
	r.pools = map[string]*entry{}
	r.mu.Unlock()
	r.cancel()
	for _, p := range closing {
		p.Close()
	}
}
