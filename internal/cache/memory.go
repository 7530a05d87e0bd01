// Package cache implements policy.Cache, the store behind the response cache: Memory, an
// in-process cache bounded by the bytes it holds, and Redis, shared by every node that
// points at the same server.
//
// Keys follow one convention: everything up to and including the first ':' is the key's
// prefix ("<api>:"), the unit the admin API purges. Values are owned by the cache once Set
// returns (callers must not modify them), and the slices Get returns may be shared with
// other readers (callers must not modify them either).
package cache

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// DefaultMaxBytes bounds a Memory cache when MemoryOptions.MaxBytes is 0.
const DefaultMaxBytes = 64 << 20

// entryOverhead approximates what an entry costs beyond its key and value bytes (otter's
// node, the key and value headers), so that many tiny entries cannot exceed the bound.
const entryOverhead = 128

// MemoryOptions configure NewMemory.
type MemoryOptions struct {
	// MaxBytes bounds the keys, values and per-entry overhead held; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Now is the clock entries expire by; nil means time.Now. Tests move it.
	Now func() time.Time
}

// Memory is an in-process policy.Cache, bounded by bytes, with a TTL per entry (otter's
// W-TinyLFU eviction and timer wheel).
//
// Purging a conventional prefix ("<api>:") is O(1): each such prefix has a generation
// number that is part of every stored key, and Purge bumps it, so older entries can no
// longer be found. They are not freed at once: they leave as their TTL runs out or as the
// byte bound evicts them, which it does first since nothing reads them any more. Any other
// prefix is purged by scanning the keys.
//
// Memory runs no goroutines: maintenance (eviction, expiry) happens during reads and
// writes, on the caller's goroutine.
type Memory struct {
	c   *otter.Cache[memKey, memValue]
	max int64

	purgeMu sync.Mutex                        // serialises generation bumps
	gens    atomic.Pointer[map[string]uint64] // copy on write: Get reads it without a lock
}

var _ policy.Cache = (*Memory)(nil)

// memKey is a comparable struct rather than a concatenated string, so that looking a key
// up under its generation allocates nothing.
type memKey struct {
	key string
	gen uint64
}

type memValue struct {
	b   []byte
	ttl time.Duration
}

// NewMemory returns an empty Memory cache.
func NewMemory(o MemoryOptions) (*Memory, error) {
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("memory cache: max bytes must not be negative")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	c, err := otter.New(&otter.Options[memKey, memValue]{
		MaximumWeight: uint64(o.MaxBytes),
		Weigher: func(k memKey, v memValue) uint32 {
			return uint32(min(len(k.key)+len(v.b)+entryOverhead, math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[memKey, memValue]) time.Duration {
			return e.Value.ttl
		}),
		// Maintenance on the caller's goroutine: no goroutine per write, none that outlives
		// the cache, and eviction done by the time Set returns.
		Executor: func(fn func()) { fn() },
		Clock:    clock{now},
	})
	if err != nil {
		return nil, fmt.Errorf("memory cache: %w", err)
	}
	return &Memory{c: c, max: o.MaxBytes}, nil
}

// clock adapts a time.Time clock to otter. Its nil Tick turns off otter's periodic
// clean-up goroutine: expired entries are dropped during reads and writes instead.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                    { return c.now().UnixNano() }
func (clock) Tick(time.Duration) <-chan time.Time { return nil }

// Get implements policy.Cache. The returned slice is shared: do not modify it.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := m.c.GetIfPresent(memKey{key, m.gen(key)})
	return v.b, ok, nil
}

// Set implements policy.Cache. The cache keeps value: do not modify it afterwards. A ttl
// that is not positive, and a value larger than the whole cache, store nothing.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 || int64(len(key)+len(value)+entryOverhead) > m.max {
		return nil
	}
	m.c.Set(memKey{key, m.gen(key)}, memValue{value, ttl})
	return nil
}

// Purge implements policy.Cache.
func (m *Memory) Purge(_ context.Context, prefix string) error {
	switch {
	case prefix == "":
		m.c.InvalidateAll()
	case strings.IndexByte(prefix, ':') == len(prefix)-1:
		m.purgeMu.Lock()
		next := map[string]uint64{}
		if cur := m.gens.Load(); cur != nil {
			for k, v := range *cur {
				next[k] = v
			}
		}
		next[prefix]++
		m.gens.Store(&next)
		m.purgeMu.Unlock()
	default:
		for k := range m.c.Keys() {
			if strings.HasPrefix(k.key, prefix) {
				m.c.Invalidate(k)
			}
		}
	}
	return nil
}

// gen is the current generation of key's conventional prefix.
func (m *Memory) gen(key string) uint64 {
	i := strings.IndexByte(key, ':')
	if i < 0 {
		return 0
	}
	gens := m.gens.Load()
	if gens == nil {
		return 0
	}
	return (*gens)[key[:i+1]]
}

// Len is the number of entries held, including purged ones not yet evicted (for tests
// and metrics).
func (m *Memory) Len() int { return m.c.EstimatedSize() }
