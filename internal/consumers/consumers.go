// Package consumers is the gateway's view of who may call: it resolves API key secrets
// and app names into policy.Credential and policy.Consumer values through a bounded
// in-memory cache, and drops cached entries as soon as the store reports a change, so a
// revoked key stops working within a second (in practice, at the next change notice).
package consumers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Options tune a Directory.
type Options struct {
	// MaxEntries bounds the key cache (default 100,000); apps are bounded by the same figure.
	MaxEntries int
	// TTL bounds how long a found key or app is trusted without a change notice (default
	// 60s): a safety net for a lost notice, not the revocation mechanism.
	TTL time.Duration
	// NegativeTTL is how long an unknown secret is remembered (default 5s), so a flood of
	// bad keys does not become a flood of store queries. Creating a key clears them.
	NegativeTTL time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Directory implements policy.Directory over a gatehouse.Store.
type Directory struct {
	st   gatehouse.Store
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	keys    map[[sha256.Size]byte]keyEntry
	byID    map[string][sha256.Size]byte // key id -> hash, to drop a key on its change notice
	apps    map[string]appEntry
	gen     uint64 // bumped by every invalidation; loads that began earlier are not cached
	flights singleflight.Group
}

type keyEntry struct {
	cred    *policy.Credential // nil: no such key
	expires int64              // unix nanos
}

type appEntry struct {
	c       *policy.Consumer // nil: no such app
	expires int64
}

var _ policy.Directory = (*Directory)(nil)

// New returns a Directory over st. Start keeps it current.
func New(st gatehouse.Store, opts Options) *Directory {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100_000
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Directory{st: st, opts: opts, log: opts.Logger,
		keys: map[[sha256.Size]byte]keyEntry{}, byID: map[string][sha256.Size]byte{}, apps: map[string]appEntry{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Start subscribes to the store's change notices at once and applies them in a goroutine
// until ctx ends; the returned channel closes when it has stopped. Subscribing before
// returning means no change made after Start can be missed.
func (d *Directory) Start(ctx context.Context) <-chan struct{} {
	changes := d.st.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.watch(ctx, changes)
	}()
	return done
}

func (d *Directory) watch(ctx context.Context, changes <-chan gatehouse.Change) {
	for {
		select {
		case <-ctx.Done():
			return
		case ch, ok := <-changes:
			if !ok {
				return
			}
			d.apply(ch)
		}
	}
}

// apply drops what a change may have made stale. Key changes are precise; any change to
// an app, developer, subscription or plan may alter any consumer's grants, and such writes
// are rare next to traffic, so they drop everything.
func (d *Directory) apply(ch gatehouse.Change) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	switch {
	case ch.Resync:
		d.clearLocked()
	case ch.Kind == gatehouse.KindKey:
		if h, ok := d.byID[ch.Name]; ok {
			delete(d.keys, h)
			delete(d.byID, ch.Name)
		}
		if ch.Action == gatehouse.ActionCreate {
			for h, e := range d.keys { // a new key may be one we remember as unknown
				if e.cred == nil {
					delete(d.keys, h)
				}
			}
		}
	case ch.Kind == gatehouse.KindApp, ch.Kind == gatehouse.KindDeveloper,
		ch.Kind == gatehouse.KindSubscription, ch.Kind == gatehouse.KindPlan:
		d.clearLocked()
	}
}

func (d *Directory) clearLocked() {
	clear(d.keys)
	clear(d.byID)
	clear(d.apps)
}

// Invalidate drops every cached entry.
func (d *Directory) Invalidate() {
	d.mu.Lock()
	d.gen++
	d.clearLocked()
	d.mu.Unlock()
}

// Key implements policy.Directory. A cached hit allocates nothing.
func (d *Directory) Key(ctx context.Context, secret string) (*policy.Credential, error) {
	// The secret is only read: hash its bytes in place rather than copying it.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(secret), len(secret)))
	now := d.opts.Now().UnixNano()
	d.mu.RLock()
	e, ok := d.keys[h]
	gen := d.gen
	d.mu.RUnlock()
	if ok && now < e.expires {
		return e.cred, nil
	}
	hexHash := hex.EncodeToString(h[:])
	v, err, _ := d.flights.Do("k"+hexHash, func() (any, error) { return d.loadKey(ctx, hexHash) })
	if err != nil {
		return nil, err
	}
	cred, _ := v.(*policy.Credential)
	ttl := d.opts.TTL
	if cred == nil {
		ttl = d.opts.NegativeTTL
	}
	d.mu.Lock()
	if d.gen == gen { // nothing changed while we loaded: safe to remember
		d.evictLocked(len(d.keys))
		d.keys[h] = keyEntry{cred: cred, expires: now + int64(ttl)}
		if cred != nil {
			d.byID[cred.KeyID] = h
		}
	}
	d.mu.Unlock()
	return cred, nil
}

func (d *Directory) loadKey(ctx context.Context, hash string) (any, error) {
	k, err := d.st.KeyByHash(ctx, hash)
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		return (*policy.Credential)(nil), nil
	}
	if err != nil {
		return nil, err
	}
	c, err := d.App(ctx, k.App)
	if err != nil {
		return nil, err
	}
	if c == nil { // a key outliving its app cannot happen (keys go with the app), but be safe
		return (*policy.Credential)(nil), nil
	}
	cred := &policy.Credential{KeyID: k.ID, Revoked: k.RevokedAt != nil, Consumer: c}
	if k.ExpiresAt != nil {
		cred.ExpiresAt = *k.ExpiresAt
	}
	return cred, nil
}

// evictLocked keeps a map under MaxEntries by dropping an arbitrary tenth of it: Go's map
// iteration order is random enough for a cache that is rarely full.
func (d *Directory) evictLocked(n int) {
	if n < d.opts.MaxEntries {
		return
	}
	drop := max(d.opts.MaxEntries/10, 1)
	for h, e := range d.keys {
		if drop == 0 {
			break
		}
		delete(d.keys, h)
		if e.cred != nil {
			delete(d.byID, e.cred.KeyID)
		}
		drop--
	}
}

// App implements policy.Directory.
func (d *Directory) App(ctx context.Context, name string) (*policy.Consumer, error) {
	now := d.opts.Now().UnixNano()
	d.mu.RLock()
	e, ok := d.apps[name]
	gen := d.gen
	d.mu.RUnlock()
	if ok && now < e.expires {
		return e.c, nil
	}
	v, err, _ := d.flights.Do("a"+name, func() (any, error) { return d.loadApp(ctx, name) })
	if err != nil {
		return nil, err
	}
	c, _ := v.(*policy.Consumer)
	ttl := d.opts.TTL
	if c == nil {
		ttl = d.opts.NegativeTTL
	}
	d.mu.Lock()
	if d.gen == gen {
		if len(d.apps) >= d.opts.MaxEntries {
			clear(d.apps)
		}
		d.apps[name] = appEntry{c: c, expires: now + int64(ttl)}
	}
	d.mu.Unlock()
	return c, nil
}

func (d *Directory) loadApp(ctx context.Context, name string) (any, error) {
	app, err := d.st.App(ctx, name)
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		return (*policy.Consumer)(nil), nil
	}
	if err != nil {
		return nil, err
	}
	dev, err := d.st.Developer(ctx, app.Developer)
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		return nil, err
	}
	c := &policy.Consumer{App: app.Name, Developer: app.Developer, Blocked: dev == nil || dev.Status != gatehouse.DeveloperActive}
	f := gatehouse.SubscriptionFilter{App: app.Name, Status: gatehouse.SubActive, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}}
	for {
		page, err := d.st.Subscriptions(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Items {
			p, err := d.st.Plan(ctx, s.Plan)
			if gatehouse.ErrorCode(err) == gatehouse.ENotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			c.Grants = append(c.Grants, policy.Grant{Subscription: s.ID, Plan: p})
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	slices.SortFunc(c.Grants, func(a, b policy.Grant) int {
		if a.Plan.Name < b.Plan.Name {
			return -1
		}
		if a.Plan.Name > b.Plan.Name {
			return 1
		}
		return 0
	})
	return c, nil
}

// Unavailable reports whether err means the store could not answer, as opposed to a bug.
func Unavailable(err error) bool {
	return err != nil && (gatehouse.ErrorCode(err) == gatehouse.EUnavailable || errors.Is(err, context.DeadlineExceeded))
}
