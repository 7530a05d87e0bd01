package limit

import (
	"hash/maphash"
	"strings"
	"sync"
)

// shards spreads keys over independent locks so that parallel requests for different keys
// rarely wait for each other.
const shards = 64

// minSweep is the size a shard may reach before inserting sweeps its dead entries.
const minSweep = 1024

// table is a sharded map from keys to pointers, the storage of Memory and InFlight. Values
// are pointers so that updating one never writes the map, whose stored key must stay the
// copy made on insert. Dead entries (dead says which) are swept when inserting into a
// shard that has doubled since its last sweep: memory stays bounded without a goroutine.
type table[V any] struct {
	seed   maphash.Seed
	dead   func(v V, now int64) bool
	floor  int // minSweep; tests lower it
	shards [shards]tableShard[V]
}

type tableShard[V any] struct {
	mu      sync.Mutex
	m       map[string]V
	sweepAt int
	_       [40]byte // keep neighbouring shards' locks off one cache line
}

func (t *table[V]) init(dead func(v V, now int64) bool) {
	t.seed, t.dead = maphash.MakeSeed(), dead
	t.setFloor(minSweep)
	for i := range t.shards {
		t.shards[i].m = make(map[string]V)
	}
}

// shard returns key's shard, unlocked.
func (t *table[V]) shard(key string) *tableShard[V] {
	return &t.shards[maphash.String(t.seed, key)%shards]
}

// insert adds v under a copy of key (the caller's may be reused); s.mu is held.
func (t *table[V]) insert(s *tableShard[V], key string, v V, now int64) {
	if len(s.m) >= s.sweepAt {
		t.sweep(s, now)
	}
	s.m[strings.Clone(key)] = v
}

// sweep drops dead entries and, when most were dead, moves the rest to a new map (a Go
// map never shrinks); s.mu is held.
func (t *table[V]) sweep(s *tableShard[V], now int64) {
	before := len(s.m)
	for k, v := range s.m {
		if t.dead(v, now) {
			delete(s.m, k)
		}
	}
	if live := len(s.m); live < before/2 {
		fresh := make(map[string]V, live)
		for k, v := range s.m {
			fresh[k] = v
		}
		s.m = fresh
	}
	s.sweepAt = max(t.floor, 2*len(s.m))
}

// setFloor sets the size below which shards are not swept.
func (t *table[V]) setFloor(n int) {
	t.floor = n
	for i := range t.shards {
		t.shards[i].sweepAt = n
	}
}

// sweepAll sweeps every shard.
func (t *table[V]) sweepAll(now int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		t.sweep(s, now)
		s.mu.Unlock()
	}
}

// len is the number of entries, dead or alive.
func (t *table[V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
