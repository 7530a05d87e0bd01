// Package cachetest is the conformance suite every policy.Cache passes: round trips,
// expiry, purging by prefix, the size bound and concurrent use.
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Subject is one fresh cache under test.
type Subject struct {
	Cache policy.Cache
	// Advance moves the cache's clock forward. Nil means the cache follows real time, and
	// the expiry test waits (polling) for a short TTL to run out.
	Advance func(time.Duration)
	// MaxBytes is the cache's size bound, 0 when it has none of its own (Redis): the
	// eviction test then skips.
	MaxBytes int64
}

// Run runs the suite; open returns a new, empty cache for each subtest. Keys the suite uses
// all start with prefixes ending in ':' as the response cache's do ("<api>:").
func Run(t *testing.T, open func(t *testing.T) Subject) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Subject)
	}{
		{"GetSet", testGetSet},
		{"Expiry", testExpiry},
		{"Purge", testPurge},
		{"PurgeOtherPrefixes", testPurgeOther},
		{"Evicts", testEvicts},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func get(t *testing.T, c policy.Cache, key string) ([]byte, bool) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ok
}

func set(t *testing.T, c policy.Cache, key, value string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func want(t *testing.T, c policy.Cache, key, value string) {
	t.Helper()
	v, ok := get(t, c, key)
	if !ok {
		t.Fatalf("Get(%q): missing, want %q", key, value)
	}
	if string(v) != value {
		t.Fatalf("Get(%q) = %q, want %q", key, v, value)
	}
}

func absent(t *testing.T, c policy.Cache, key string) {
	t.Helper()
	if v, ok := get(t, c, key); ok {
		t.Fatalf("Get(%q) = %q, want missing", key, v)
	}
}

func testGetSet(t *testing.T, s Subject) {
	c := s.Cache
	absent(t, c, "api:missing")
	set(t, c, "api:k", "one", time.Hour)
	want(t, c, "api:k", "one")
	set(t, c, "api:k", "two", time.Hour)
	want(t, c, "api:k", "two")
	// Binary values survive untouched.
	bin := []byte{0, 1, 2, 0xff, '\r', '\n', 0}
	if err := c.Set(context.Background(), "api:bin", bin, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, c, "api:bin"); !ok || !bytes.Equal(v, bin) {
		t.Fatalf("binary value = %v, %v; want %v", v, ok, bin)
	}
	// A ttl that is not positive stores nothing.
	set(t, c, "api:zero", "x", 0)
	absent(t, c, "api:zero")
}

func testExpiry(t *testing.T, s Subject) {
	c := s.Cache
	if s.Advance != nil {
		set(t, c, "api:short", "v", 10*time.Second)
		set(t, c, "api:long", "v", time.Hour)
		s.Advance(5 * time.Second)
		want(t, c, "api:short", "v")
		s.Advance(6 * time.Second)
		absent(t, c, "api:short")
		want(t, c, "api:long", "v")
		return
	}
	// Real time: only that a short TTL ends is asserted, never how fast.
	set(t, c, "api:long", "v", time.Hour)
	set(t, c, "api:short", "v", 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := get(t, c, "api:short"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an entry with a 20ms TTL was still there after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want(t, c, "api:long", "v")
}

func testPurge(t *testing.T, s Subject) {
	c := s.Cache
	ctx := context.Background()
	set(t, c, "a:1", "a1", time.Hour)
	set(t, c, "a:2", "a2", time.Hour)
	set(t, c, "ab:1", "ab1", time.Hour) // shares the letters, not the prefix
	set(t, c, "b:1", "b1", time.Hour)
	if err := c.Purge(ctx, "a:"); err != nil {
		t.Fatal(err)
	}
	absent(t, c, "a:1")
	absent(t, c, "a:2")
	want(t, c, "ab:1", "ab1")
	want(t, c, "b:1", "b1")
	// The prefix is usable again after a purge.
	set(t, c, "a:1", "new", time.Hour)
	want(t, c, "a:1", "new")
	// Purging twice, and purging what holds nothing, are fine.
	for _, p := range []string{"a:", "a:", "nothing:"} {
		if err := c.Purge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	absent(t, c, "a:1")
	want(t, c, "b:1", "b1")
}

// testPurgeOther covers prefixes outside the "<api>:" convention: longer ones and "".
func testPurgeOther(t *testing.T, s Subject) {
	c := s.Cache
	ctx := context.Background()
	set(t, c, "a:x1", "1", time.Hour)
	set(t, c, "a:x2", "2", time.Hour)
	set(t, c, "a:y1", "3", time.Hour)
	set(t, c, "glob*:1", "4", time.Hour)
	set(t, c, "globx:1", "5", time.Hour)
	if err := c.Purge(ctx, "a:x"); err != nil {
		t.Fatal(err)
	}
	absent(t, c, "a:x1")
	absent(t, c, "a:x2")
	want(t, c, "a:y1", "3")
	// Pattern characters in a prefix are literal.
	if err := c.Purge(ctx, "glob*:"); err != nil {
		t.Fatal(err)
	}
	absent(t, c, "glob*:1")
	want(t, c, "globx:1", "5")
	if err := c.Purge(ctx, ""); err != nil {
		t.Fatal(err)
	}
	absent(t, c, "a:y1")
	absent(t, c, "globx:1")
}

func testEvicts(t *testing.T, s Subject) {
	if s.MaxBytes == 0 {
		t.Skip("this cache has no size bound of its own")
	}
	c := s.Cache
	const n = 200
	size := int(s.MaxBytes / 20) // room for about 20 entries
	value := string(bytes.Repeat([]byte("x"), size))
	for i := range n {
		set(t, c, fmt.Sprintf("api:%d", i), value, time.Hour)
	}
	present := 0
	for i := range n {
		if _, ok := get(t, c, fmt.Sprintf("api:%d", i)); ok {
			present++
		}
	}
	if present == 0 || present*size > int(s.MaxBytes) {
		t.Fatalf("%d of %d entries of %d bytes present; bound %d bytes", present, n, size, s.MaxBytes)
	}
	// A value larger than the whole cache is never kept.
	big := string(bytes.Repeat([]byte("y"), int(s.MaxBytes)+1))
	set(t, c, "api:big", big, time.Hour)
	absent(t, c, "api:big")
}

func testConcurrent(t *testing.T, s Subject) {
	c := s.Cache
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := fmt.Sprintf("p%d:%d", w%3, i%17)
				val := fmt.Sprintf("%d-%d", w, i)
				if err := c.Set(ctx, key, []byte(val), time.Hour); err != nil {
					errs <- err
					return
				}
				if v, ok, err := c.Get(ctx, key); err != nil {
					errs <- err
					return
				} else if ok && len(v) == 0 {
					errs <- fmt.Errorf("Get(%q) returned an empty value", key)
					return
				}
				if i%50 == 49 {
					if err := c.Purge(ctx, fmt.Sprintf("p%d:", w%3)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// After the storm the cache still works.
	set(t, c, "p0:final", "ok", time.Hour)
	want(t, c, "p0:final", "ok")
}
