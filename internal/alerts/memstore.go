package alerts

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// MemoryStore is a Store in memory, for tests and for nodes without persistence. Values
// are copied in and out, as a database would.
type MemoryStore struct {
	mu         sync.Mutex
	rules      map[string]*Rule
	hooks      map[string]*Webhook
	events     []*Event // in append order
	eventIDs   map[string]bool
	deliveries []*Delivery
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{rules: map[string]*Rule{}, hooks: map[string]*Webhook{}, eventIDs: map[string]bool{}}
}

// clone deep-copies v through JSON, as the SQL store's documents do.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the package's own types always marshal
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

func memNotFound(what, id string) error {
	return gatehouse.Errorf(gatehouse.ENotFound, "%s %q not found", what, id)
}

func memConflict(what, id string) error {
	return gatehouse.Errorf(gatehouse.EConflict, "%s %q already exists", what, id)
}

// AlertRules implements Store.
func (m *MemoryStore) AlertRules(ctx context.Context) ([]*Rule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedClones(m.rules, func(r *Rule) string { return r.ID }), nil
}

// AlertRule implements Store.
func (m *MemoryStore) AlertRule(ctx context.Context, id string) (*Rule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rules[id]
	if !ok {
		return nil, memNotFound("alert rule", id)
	}
	return clone(r), nil
}

// CreateAlertRule implements Store.
func (m *MemoryStore) CreateAlertRule(ctx context.Context, r *Rule) (*Rule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rules[r.ID]; ok {
		return nil, memConflict("alert rule", r.ID)
	}
	n := clone(r)
	stampNew(&n.CreatedAt, &n.UpdatedAt)
	m.rules[r.ID] = n
	return clone(n), nil
}

// UpdateAlertRule implements Store.
func (m *MemoryStore) UpdateAlertRule(ctx context.Context, r *Rule) (*Rule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.rules[r.ID]
	if !ok {
		return nil, memNotFound("alert rule", r.ID)
	}
	n := clone(r)
	n.CreatedAt = old.CreatedAt
	stampNew(&n.UpdatedAt)
	m.rules[r.ID] = n
	return clone(n), nil
}

// DeleteAlertRule implements Store.
func (m *MemoryStore) DeleteAlertRule(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rules[id]; !ok {
		return memNotFound("alert rule", id)
	}
	delete(m.rules, id)
	return nil
}

// Webhooks implements Store.
func (m *MemoryStore) Webhooks(ctx context.Context) ([]*Webhook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedClones(m.hooks, func(w *Webhook) string { return w.ID }), nil
}

// Webhook implements Store.
func (m *MemoryStore) Webhook(ctx context.Context, id string) (*Webhook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.hooks[id]
	if !ok {
		return nil, memNotFound("webhook", id)
	}
	return clone(w), nil
}

// CreateWebhook implements Store.
func (m *MemoryStore) CreateWebhook(ctx context.Context, w *Webhook) (*Webhook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.hooks[w.ID]; ok {
		return nil, memConflict("webhook", w.ID)
	}
	n := clone(w)
	stampNew(&n.CreatedAt, &n.UpdatedAt)
	m.hooks[w.ID] = n
	return clone(n), nil
}

// UpdateWebhook implements Store.
func (m *MemoryStore) UpdateWebhook(ctx context.Context, w *Webhook) (*Webhook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.hooks[w.ID]
	if !ok {
		return nil, memNotFound("webhook", w.ID)
	}
	n := clone(w)
	n.CreatedAt = old.CreatedAt
	stampNew(&n.UpdatedAt)
	m.hooks[w.ID] = n
	return clone(n), nil
}

// DeleteWebhook implements Store.
func (m *MemoryStore) DeleteWebhook(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.hooks[id]; !ok {
		return memNotFound("webhook", id)
	}
	delete(m.hooks, id)
	m.deliveries = slices.DeleteFunc(m.deliveries, func(d *Delivery) bool { return d.Webhook == id })
	return nil
}

// AppendAlertEvent implements Store.
func (m *MemoryStore) AppendAlertEvent(ctx context.Context, e *Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eventIDs[e.ID] {
		return memConflict("alert event", e.ID)
	}
	m.eventIDs[e.ID] = true
	n := clone(e)
	n.At, n.StartedAt = stamp(n.At), stamp(n.StartedAt)
	m.events = append(m.events, n)
	return nil
}

// AlertEvents implements Store.
func (m *MemoryStore) AlertEvents(ctx context.Context, f EventFilter) (gatehouse.Page[*Event], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return pageNewestFirst(m.events, f.ListOptions, func(e *Event) bool {
		return (f.Rule == "" || e.Rule == f.Rule) && (f.State == "" || e.State == f.State) &&
			(f.API == "" || e.API == f.API) && (f.Since.IsZero() || !e.At.Before(f.Since)) &&
			(f.Until.IsZero() || e.At.Before(f.Until))
	})
}

// FiringAlerts implements Store.
func (m *MemoryStore) FiringAlerts(ctx context.Context) ([]*Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type key struct{ rule, subject string }
	seen := map[key]bool{}
	var out []*Event
	for i := len(m.events) - 1; i >= 0; i-- {
		e := m.events[i]
		k := key{e.Rule, e.Subject}
		if seen[k] {
			continue
		}
		seen[k] = true
		if e.State == StateFiring {
			out = append(out, clone(e))
		}
	}
	slices.Reverse(out) // oldest first, like the SQL stores
	return out, nil
}

// AppendDelivery implements Store.
func (m *MemoryStore) AppendDelivery(ctx context.Context, d *Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := clone(d)
	n.At = stamp(n.At)
	m.deliveries = append(m.deliveries, n)
	return nil
}

// PruneAlertLog implements Store.
func (m *MemoryStore) PruneAlertLog(ctx context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type key struct{ rule, subject string }
	latest := map[key]*Event{}
	for _, e := range m.events {
		latest[key{e.Rule, e.Subject}] = e
	}
	n := len(m.events) + len(m.deliveries)
	m.events = slices.DeleteFunc(m.events, func(e *Event) bool {
		return e.At.Before(before) && latest[key{e.Rule, e.Subject}] != e
	})
	m.deliveries = slices.DeleteFunc(m.deliveries, func(d *Delivery) bool { return d.At.Before(before) })
	return int64(n - len(m.events) - len(m.deliveries)), nil
}

// stampNew sets each zero time to now and brings each to the microsecond, as stored.
func stampNew(ts ...*time.Time) {
	now := time.Now()
	for _, t := range ts {
		if t.IsZero() {
			*t = now
		}
		*t = stamp(*t)
	}
}

// Deliveries implements Store.
func (m *MemoryStore) Deliveries(ctx context.Context, f DeliveryFilter) (gatehouse.Page[*Delivery], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return pageNewestFirst(m.deliveries, f.ListOptions, func(d *Delivery) bool {
		return (f.Webhook == "" || d.Webhook == f.Webhook) && (f.Event == "" || d.Event == f.Event)
	})
}

func sortedClones[T any](m map[string]*T, id func(*T) string) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, clone(v))
	}
	slices.SortFunc(out, func(a, b *T) int { return cmp.Compare(id(a), id(b)) })
	return out
}

// pageNewestFirst pages through log (in append order) from its end. The cursor is the
// index of the last item returned.
func pageNewestFirst[T any](log []*T, o gatehouse.ListOptions, match func(*T) bool) (gatehouse.Page[*T], error) {
	start := len(log) - 1
	if o.After != "" {
		n, err := strconv.Atoi(o.After)
		if err != nil || n < 0 || n > len(log) {
			return gatehouse.Page[*T]{}, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid list options",
				Fields: []gatehouse.FieldError{{Field: "after", Message: "is not a cursor returned by this list"}}}
		}
		start = n - 1
	}
	limit := o.PageLimit()
	page := gatehouse.Page[*T]{Items: []*T{}}
	for i := start; i >= 0; i-- {
		if !match(log[i]) {
			continue
		}
		if len(page.Items) == limit {
			page.Next = strconv.Itoa(i + 1)
			break
		}
		page.Items = append(page.Items, clone(log[i]))
	}
	return page, nil
}
