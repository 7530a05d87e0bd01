package gateway

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// TestWatchCatchesUpAfterLoad: a write between the first Load and Watch's subscription
// must still be served, not wait for the next write.
func TestWatchCatchesUpAfterLoad(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := origin(t, "o")
	g := New(Options{})
	defer g.Close()
	if err := g.Load(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	// Written after the load and before anyone subscribed.
	if _, err := st.CreateAPI(t.Context(), api("late", "/late", nil, gatehouse.StatePublished, o.URL)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go g.Watch(ctx, st)
	deadline := time.Now().Add(3 * time.Second)
	for do(g, "GET", "http://gw/late").Code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("an API written before Watch subscribed was never served")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
