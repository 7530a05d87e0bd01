package session

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Memory is a Store in memory, for tests and single-process tools.
type Memory struct {
	mu       sync.Mutex
	sessions map[string]Session
	accounts map[[2]string]Account
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{sessions: map[string]Session{}, accounts: map[[2]string]Account{}}
}

func notFound(what string) error { return gatehouse.Errorf(gatehouse.ENotFound, "no such %s", what) }

// CreateSession implements Store.
func (m *Memory) CreateSession(_ context.Context, s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return gatehouse.Errorf(gatehouse.EConflict, "session exists")
	}
	m.sessions[s.ID] = *s
	return nil
}

// Session implements Store.
func (m *Memory) Session(_ context.Context, id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !time.Now().Before(s.ExpiresAt) {
		return nil, notFound("session")
	}
	return &s, nil
}

// DeleteSession implements Store.
func (m *Memory) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.sessions, id)
	m.mu.Unlock()
	return nil
}

// TakeSession implements Store.
func (m *Memory) TakeSession(_ context.Context, id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !time.Now().Before(s.ExpiresAt) {
		return nil, notFound("session")
	}
	delete(m.sessions, id)
	return &s, nil
}

// DeleteSessions implements Store.
func (m *Memory) DeleteSessions(_ context.Context, kind, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.sessions {
		if s.Kind == kind && s.Subject == subject {
			delete(m.sessions, id)
		}
	}
	return nil
}

// Sessions implements Store.
func (m *Memory) Sessions(_ context.Context, kind string, limit int) ([]*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []*Session{}
	now := time.Now()
	for _, s := range m.sessions {
		if s.Kind == kind && now.Before(s.ExpiresAt) {
			out = append(out, &s)
		}
	}
	slices.SortFunc(out, func(a, b *Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// PruneSessions implements Store.
func (m *Memory) PruneSessions(_ context.Context, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, s := range m.sessions {
		if s.ExpiresAt.Before(now) {
			delete(m.sessions, id)
			n++
		}
	}
	return n, nil
}

// PutAccount implements Store.
func (m *Memory) PutAccount(_ context.Context, a *Account) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{a.Kind, a.Subject}
	c := *a
	now := time.Now().UTC().Truncate(time.Microsecond)
	if old, ok := m.accounts[k]; ok {
		c.CreatedAt = old.CreatedAt
	} else {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	m.accounts[k] = c
	*a = c
	return nil
}

// Account implements Store.
func (m *Memory) Account(_ context.Context, kind, subject string) (*Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[[2]string{kind, subject}]
	if !ok {
		return nil, notFound("account")
	}
	return &a, nil
}

// Accounts implements Store.
func (m *Memory) Accounts(_ context.Context, kind string) ([]*Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Account
	for _, a := range m.accounts {
		if a.Kind == kind {
			out = append(out, &a)
		}
	}
	slices.SortFunc(out, func(a, b *Account) int { return cmp.Compare(a.Subject, b.Subject) })
	return out, nil
}

// DeleteAccount implements Store.
func (m *Memory) DeleteAccount(_ context.Context, kind, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{kind, subject}
	if _, ok := m.accounts[k]; !ok {
		return notFound("account")
	}
	delete(m.accounts, k)
	return nil
}
