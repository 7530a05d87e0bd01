package settle

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestReleasesAfterABurst(t *testing.T) {
	var released atomic.Int32
	s := New(10, 50*time.Millisecond, func() { released.Add(1) })
	defer s.Stop()
	for range 9 {
		s.Opened()
	}
	time.Sleep(150 * time.Millisecond)
	if released.Load() != 0 {
		t.Fatal("released after fewer opens than a burst")
	}
	for range 500 {
		s.Opened()
	}
	deadline := time.Now().Add(5 * time.Second)
	for released.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if released.Load() != 1 {
		t.Fatalf("released %d times after one burst, want 1", released.Load())
	}
	// The count starts over: a few more opens are not a burst.
	for range 5 {
		s.Opened()
	}
	time.Sleep(150 * time.Millisecond)
	if released.Load() != 1 {
		t.Fatalf("released %d times, want 1", released.Load())
	}
}

func TestStop(t *testing.T) {
	var released atomic.Int32
	s := New(1, 30*time.Millisecond, func() { released.Add(1) })
	s.Opened()
	s.Stop()
	time.Sleep(100 * time.Millisecond)
	if released.Load() != 0 {
		t.Fatal("released after Stop")
	}
}
