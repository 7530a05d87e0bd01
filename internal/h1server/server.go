// Package h1server serves HTTP/1.1 on the gateway's cleartext proxy listener.
//
// net/http's server spends, on every keep-alive request, a background read that the kernel
// answers with EAGAIN (to notice a client that goes away), three or four deadline updates
// and a fresh response object with its own buffers. On a proxy that forwards a small
// request in a few microseconds those are a large share of the CPU. This server keeps
// net/http's request semantics (reqhead.go parses heads with the same result as
// http.ReadRequest, checked by a differential fuzz test, so framing and its smuggling
// defences are the standard library's) and its handler contract (http.Handler,
// http.ResponseController, Hijack for upgrades), and changes only the connection loop:
//
//   - timeouts are enforced by one sweeper goroutine per server against a coarse clock,
//     not by a deadline update per phase of every request;
//   - a request's context is cancelled when its client goes away, but the read that
//     notices it starts only once a handler has run for a while (a slow upstream, a
//     stream), not on every request;
//   - the response writer, its header map and buffers belong to the connection and are
//     reused by its next request.
//
// Cleartext HTTP/2 (prior knowledge) is recognised by its preface and handed to a
// net/http server; TLS listeners stay on net/http, which negotiates HTTP/2.
//
// It is the default on the proxy listener (proxy_server: gatehouse; net/http remains
// the fallback). Two independent reviews (2026-11-24) found issues, fixed since, each
// with a regression test: pipelined heads without a deadline, request bodies readable
// after their handler, no timeouts during Shutdown, a 1xx race, a watch that could start
// on the next request, a Hijack losing a byte, late Content-Length headers in the head,
// the context cancelled late; then a pointless drain holding back the response of a
// closing connection, framing fields on 1xx responses, a body unreadable after an
// Expect: 100-continue response began, and a reset (instead of a lingering close) that
// could destroy the answer to a refused upload. Known differences from net/http still open:
//
//   - the unread rest of a request body whose head arrived in pieces (parsed by
//     http.ReadRequest) is drained (up to 256 KiB, at most max(ReadHeaderTimeout, 1s))
//     even when its declared length shows it is too big to; net/http checks first;
//   - IdleTimeout 0 means no idle limit (net/http falls back to ReadTimeout), and a
//     deadline can fire up to one sweep early as well as late;
//   - no Content-Type sniffing, and EnableFullDuplex changes nothing (HTTP/1.1 bodies
//     are always readable while responding);
//   - header changes after WriteHeader reach the head when it is written later, except
//     Content-Length and announced trailers.
package h1server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is an HTTP/1.1 server. Fields are read once by Serve.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds the wait for a request's head, from its first byte (or from
	// the connection's start for the first request).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, head and body; 0: no limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from a request's head to the end of its response;
	// 0: no limit. http.ResponseController's SetWriteDeadline overrides it per request.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive connection;
	// 0: no limit.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request head (request line and headers); 0: 1 MiB.
	MaxHeaderBytes int
	// BaseContext is the parent of every request's context; nil: context.Background.
	BaseContext context.Context
	// HTTP2 serves connections that open with the HTTP/2 preface (cleartext HTTP/2 with
	// prior knowledge); nil: they are answered 505 and closed.
	HTTP2  *http.Server
	Logger *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	ln       net.Listener
	h2ln     *handoffListener
	closing  atomic.Bool
	stop     chan struct{} // closed by Shutdown or Close: ends the sweeper
	stopOnce sync.Once
	wg       sync.WaitGroup // connection goroutines

	clock   atomic.Int64           // coarse now, in UnixNano, advanced by the sweeper
	date    atomic.Pointer[[]byte] // "Date: ...\r\n", for the current second
	dateSec atomic.Int64
	tick    time.Duration
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

const defaultMaxHeaderBytes = 1 << 20

// watchAfter is how long a handler runs before its connection is watched for the client
// going away. Short requests never pay for the watch.
const watchAfter = 50 * time.Millisecond

// Serve accepts connections on l until Shutdown or Close, and always returns an error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ln = l
	s.conns = make(map[*conn]struct{})
	s.stop = make(chan struct{})
	s.tick = s.sweepInterval()
	s.advance(time.Now())
	if s.HTTP2 != nil {
		s.h2ln = newHandoffListener(l.Addr())
		h2 := s.HTTP2
		s.wg.Go(func() { _ = h2.Serve(s.h2ln) })
	}
	s.mu.Unlock()
	go s.sweep()

	base := s.BaseContext
	if base == nil {
		base = context.Background()
	}
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if isTemporaryAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc, base)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			_ = nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// isTemporaryAccept reports errors after which accepting can go on: out of file
// descriptors (the connection cap should prevent it, but other files count too), or a
// connection reset before it was accepted.
func isTemporaryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// sweepInterval is a tenth of the shortest timeout, between 10 ms and 250 ms: timeouts
// fire at most that late.
func (s *Server) sweepInterval() time.Duration {
	d := 250 * time.Millisecond
	for _, t := range []time.Duration{s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout} {
		if t > 0 && t/10 < d {
			d = t / 10
		}
	}
	return max(d, 10*time.Millisecond)
}

func (s *Server) now() int64 { return s.clock.Load() }

// advance moves the coarse clock and, once a second, the cached Date header value.
func (s *Server) advance(t time.Time) {
	s.clock.Store(t.UnixNano())
	if d := s.date.Load(); d == nil || t.Unix() != s.dateSec.Load() {
		b := []byte("Date: ")
		b = t.UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
		s.date.Store(&b)
		s.dateSec.Store(t.Unix())
	}
}

// sweep advances the clock and enforces every connection's deadlines until the server
// is closed, or shut down with no connection left: timeouts hold during a drain too.
func (s *Server) sweep() {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	var batch []*conn
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.advance(now)
			batch = batch[:0]
			s.mu.Lock()
			for c := range s.conns {
				batch = append(batch, c)
			}
			s.mu.Unlock()
			n := now.UnixNano()
			closing := s.closing.Load()
			for _, c := range batch {
				c.check(n, closing)
			}
			if closing && len(batch) == 0 {
				return // shut down, and the last connection is gone
			}
			clear(batch)
		}
	}
}

// Shutdown stops accepting, closes idle connections and waits for the others to finish
// their current response, or for ctx. Hijacked connections are not tracked.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	s.closeIdle()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			if s.HTTP2 != nil {
				return s.HTTP2.Shutdown(ctx)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.closeIdle()
		}
	}
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.beginClose()
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		s.stopOnce.Do(func() { close(stop) })
	}
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	if s.HTTP2 != nil {
		return s.HTTP2.Close()
	}
	return nil
}

func (s *Server) beginClose() {
	s.mu.Lock()
	s.closing.Store(true)
	ln := s.ln
	h2 := s.h2ln
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	if h2 != nil {
		_ = h2.Close()
	}
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle()
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}
