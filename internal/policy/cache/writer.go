package cache

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// recorder stands in for c.W while the upstream answers. The upstream writes its headers
// into a map of the recorder's own, so that what is stored is exactly the upstream's
// response and not the headers earlier policies set for this one request (rate limits,
// CORS); they are copied to the real writer when the status goes out. Bodies pass
// straight through, teed into the new entry until max_body, then just passed on.
//
// When the recorder may answer instead of the upstream (a revalidation's 304, a failure
// with stale_if_error) it holds the status back and swallows the body.
type recorder struct {
	h   *handler
	hdr http.Header // the upstream's headers until they go out; reused

	c   *policy.Context
	w   http.ResponseWriter // the writer it wraps
	now time.Time

	store        bool   // a GET: the response may become an entry
	revalidating bool   // the request carries the stale entry's validators
	staleOK      bool   // a 5xx may be replaced by the stale entry
	inm, ims     string // the client's conditional, answered here (taken off the request)

	wrote       bool   // the status has been decided
	forwarded   bool   // the status went to the client
	notModified bool   // revalidating, and the upstream said 304
	swallowed   bool   // the upstream's answer is not the client's (304 or 5xx held back)
	to304       bool   // the client gets 304 for a 200 matching its conditional
	storing     bool   // teeing into buf
	buf         []byte // the entry: head, then body as it streams
	bodyStart   int
	declared    int64 // Content-Length, -1 when not given
	keep        time.Duration
}

var (
	_ http.ResponseWriter = (*recorder)(nil)
	_ http.Flusher        = (*recorder)(nil)
)

func (rec *recorder) start(c *policy.Context, now time.Time, store bool) {
	rec.c, rec.w, rec.now, rec.store = c, c.W, now, store
	rec.declared = -1
}

// reset makes rec ready for the pool. buf is not reused: the cache keeps it.
func (rec *recorder) reset() {
	hdr := rec.hdr
	clear(hdr)
	*rec = recorder{h: rec.h, hdr: hdr}
}

// Header is the upstream's header map until the status goes out, the real one after (so
// that trailers set after the body reach the client).
func (rec *recorder) Header() http.Header {
	if rec.forwarded {
		return rec.w.Header()
	}
	return rec.hdr
}

// Unwrap lets http.ResponseController reach the connection (deadlines, hijacking).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

func (rec *recorder) WriteHeader(code int) {
	if rec.wrote {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rec.informational(code)
		return
	}
	rec.wrote = true
	if rec.revalidating && code == http.StatusNotModified {
		rec.notModified, rec.swallowed = true, true
		return
	}
	if rec.staleOK && code >= 500 {
		rec.swallowed = true
		return
	}
	h := rec.h
	if rec.store && h.storable(code, rec.hdr) {
		if fresh, flags, keep, ok := h.freshness(rec.hdr, rec.now); ok {
			rec.declared = declaredLength(rec.hdr)
			if rec.declared <= h.maxBody {
				size := 512 + max(rec.declared, 0)
				rec.buf = appendEntryHead(make([]byte, 0, size), code, rec.now, fresh, flags, rec.hdr)
				rec.bodyStart, rec.keep, rec.storing = len(rec.buf), keep, true
			}
		}
	}
	status := code
	if code == http.StatusOK && (rec.inm != "" || rec.ims != "") &&
		notModified(rec.inm, rec.ims, first(rec.hdr["Etag"]), first(rec.hdr["Last-Modified"])) {
		status, rec.to304 = http.StatusNotModified, true
	}
	dst := rec.w.Header()
	for k, vs := range rec.hdr {
		if rec.to304 && isContentHeader(k) {
			continue
		}
		if old := dst[k]; len(old) > 0 {
			vs = append(old, vs...)
		}
		dst[k] = vs
	}
	dst["X-Cache"] = []string{outMiss}
	rec.c.Cache = outMiss
	rec.forwarded = true
	rec.w.WriteHeader(status)
}

// informational passes a 1xx (103 Early Hints) on with the headers set so far, leaving
// the real map as it was.
func (rec *recorder) informational(code int) {
	dst := rec.w.Header()
	var added []string
	for k, vs := range rec.hdr {
		if _, ok := dst[k]; !ok {
			dst[k] = vs
			added = append(added, k)
		}
	}
	rec.w.WriteHeader(code)
	for _, k := range added {
		delete(dst, k)
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.swallowed {
		return len(p), nil
	}
	if rec.storing {
		if int64(len(rec.buf)-rec.bodyStart+len(p)) > rec.h.maxBody {
			rec.storing, rec.buf = false, nil // too big: pass the rest through
		} else {
			rec.buf = append(rec.buf, p...)
		}
	}
	if rec.to304 {
		return len(p), nil
	}
	n, err := rec.w.Write(p)
	if err != nil {
		rec.storing, rec.buf = false, nil // the upstream stops copying: the body is cut short
	}
	return n, err
}

// Flush passes streaming responses on as the upstream flushes them.
func (rec *recorder) Flush() {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.swallowed || rec.to304 {
		return
	}
	_ = http.NewResponseController(rec.w).Flush()
}

// complete reports whether the teed response is whole and to be stored.
func (rec *recorder) complete() bool {
	if !rec.storing {
		return false
	}
	n := int64(len(rec.buf) - rec.bodyStart)
	return rec.declared < 0 || n == rec.declared
}

func declaredLength(h http.Header) int64 {
	v := first(h["Content-Length"])
	if v == "" {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
