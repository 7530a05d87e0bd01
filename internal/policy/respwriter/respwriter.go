// Package respwriter wraps a policy Context's ResponseWriter so that a policy can edit the
// upstream's response headers at the last moment: just before the status line goes out.
// The wrapper keeps streaming and protocol switches working (Flush, and Unwrap for
// http.ResponseController), and is pooled so wrapping allocates nothing.
package respwriter

import (
	"net/http"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Hook edits response headers once per response.
type Hook interface {
	// BeforeHeader runs once, before the headers are sent. status is the status about to
	// be written, or 0 when the chain ended without writing (a rejection about to be
	// rendered, or an empty 200 net/http will send).
	BeforeHeader(c *policy.Context, h http.Header, status int)
}

// Writer is the wrapper. Use Wrap and Finish; the zero value is not usable.
type Writer struct {
	rw   http.ResponseWriter
	c    *policy.Context
	hook Hook
	done bool
}

// pool recycles Writers: a chain runs one per request per wrapping policy, and the
// wrapper never outlives the policy's Serve.
var pool = sync.Pool{New: func() any { return new(Writer) }}

// Wrap replaces c.W with a Writer that calls hook before the headers go out. The caller
// must call Finish after the next handler returns.
func Wrap(c *policy.Context, hook Hook) *Writer {
	w := pool.Get().(*Writer)
	w.rw, w.c, w.hook, w.done = c.W, c, hook, false
	c.W = w
	return w
}

// Finish restores c.W and runs the hook on the original writer's headers if nothing was
// written yet: a rejection rendered after this returns, or the empty 200 net/http sends
// when the handler wrote nothing, then carries the hook's headers too. w must not be used
// afterwards.
func (w *Writer) Finish() {
	c := w.c
	c.W = w.rw
	if !w.done {
		w.done = true
		w.hook.BeforeHeader(c, w.rw.Header(), 0)
	}
	*w = Writer{}
	pool.Put(w)
}

// Wrote reports whether the headers have gone out through w.
func (w *Writer) Wrote() bool { return w.done }

func (w *Writer) before(status int) {
	if !w.done {
		w.done = true
		w.hook.BeforeHeader(w.c, w.rw.Header(), status)
	}
}

// Header returns the underlying writer's headers.
func (w *Writer) Header() http.Header { return w.rw.Header() }

// WriteHeader runs the hook before a final status (or 101); other 1xx responses carry
// their own headers and are passed through untouched.
func (w *Writer) WriteHeader(status int) {
	if status >= 200 || status == http.StatusSwitchingProtocols {
		w.before(status)
	}
	w.rw.WriteHeader(status)
}

// Write runs the hook for the implicit 200 of a first Write.
func (w *Writer) Write(b []byte) (int, error) {
	w.before(http.StatusOK)
	return w.rw.Write(b)
}

// Flush commits the headers (an implicit 200 when none was written) and flushes, so that
// streamed responses (SSE, long polls) reach the client through the wrapper.
func (w *Writer) Flush() {
	w.before(http.StatusOK)
	_ = http.NewResponseController(w.rw).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer's Hijack, deadlines and
// full-duplex support.
func (w *Writer) Unwrap() http.ResponseWriter { return w.rw }
