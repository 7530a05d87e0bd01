package gateway

import (
	"io"
	"net/http"
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

// countingBody counts the request body bytes the upstream read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
