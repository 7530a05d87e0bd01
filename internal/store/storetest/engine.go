package storetest

import (
	"io"
	"log/slog"
	"testing"
)

// The helpers below serve the engines' own tests (opening a store, and what they check
// beyond the suite), so that each engine opens its stores for Run the same way.

// Logger returns a logger that writes everything, debug included, to t's output.
func Logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Opened takes the results of an engine's Open: it fails t on err, else closes s when t
// ends (reporting a failed Close) and returns it.
func Opened[S io.Closer](t *testing.T, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}
