// Package logtest holds what tests need to read logs written by servers' goroutines.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects output written from many goroutines (a slog handler's, a server's
// stderr) and hands it to the test as a string. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
