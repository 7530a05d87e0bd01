package gateway

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// recWriter notes what the gateway answered, for the analytics event: the status, when
// the response headers were written (for proxied requests, about when the upstream's
// arrived) and the body bytes. It unwraps for http.ResponseController (flushes, hijacks).
type recWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	headerAt time.Time
	proxied  bool // the answer came from the upstream, not from a policy or the cache
}

func (w *recWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		w.headerAt = time.Now()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.headerAt = time.Now()
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush keeps streaming responses streaming for code that asserts http.Flusher.
func (w *recWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
			w.headerAt = time.Now()
		}
		f.Flush()
	}
}

// countingBody counts the request body bytes the upstream read. It is its own object,
// not part of the pooled reqState: a transport may still be reading the body after the
// handler returned (http.RoundTripper allows it; an upstream that answered an upload
// early is the common case), and such a late read must not touch a reused state.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
