package h1wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"sync"
)

// Body is net/http's message body (its unexported body type) for the bodies the lean
// parsers frame: the same reads, errors, trailers and Close, with the LimitedReader of
// a Content-Length body in the same allocation.
type Body struct {
	src     io.Reader
	lr      io.LimitedReader
	limited bool         // src is &lr
	trailer *http.Header // chunked: where the trailer goes; nil once read
	br      *bufio.Reader
	closing bool // the connection closes after the body

	mu     sync.Mutex // guards the following, and calls to Read and Close
	sawEOF bool
	closed bool
}

// NewChunkedBody returns the chunked body that follows on br, whose trailer goes to
// *trailer (the message's Trailer field, not nil), merged into it if it is not nil.
// closing: the connection closes after the body.
func NewChunkedBody(br *bufio.Reader, trailer *http.Header, closing bool) *Body {
	return &Body{src: httputil.NewChunkedReader(br), trailer: trailer, br: br, closing: closing}
}

// NewLengthBody returns the body of n > 0 bytes (a Content-Length) that follows on br.
func NewLengthBody(br *bufio.Reader, n int64, closing bool) *Body {
	b := &Body{closing: closing, limited: true}
	b.lr = io.LimitedReader{R: br, N: n}
	b.src = &b.lr
	return b
}

// NewUntilCloseBody returns the body that is the rest of what br reads, up to the
// peer's close.
func NewUntilCloseBody(br *bufio.Reader, closing bool) *Body {
	return &Body{src: br, closing: closing}
}

// Unread is how much of a Content-Length body is left to read; -1 for other framings.
// A server uses it to tell whether draining the rest is worth it.
func (b *Body) Unread() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.limited {
		return -1
	}
	return b.lr.N
}

func (b *Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *Body) readLocked(p []byte) (n int, err error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err = b.src.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.trailer != nil {
			if e := b.readTrailer(); e != nil {
				// No further reads may succeed (golang.org/issue/12027).
				err = e
				b.sawEOF = false
				b.closed = true
			}
			b.trailer = nil
		} else if b.limited && b.lr.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	// EOF with the last bytes, as net/http returns it.
	if err == nil && n > 0 && b.limited && b.lr.N == 0 {
		err = io.EOF
		b.sawEOF = true
	}
	return n, err
}

var errTrailerEOF = errors.New("http: unexpected EOF reading trailer")

// readTrailer is net/http's: the trailer after a chunked body, at most a buffer long.
func (b *Body) readTrailer() error {
	buf, err := b.br.Peek(2)
	if bytes.Equal(buf, []byte("\r\n")) {
		b.br.Discard(2)
		return nil
	}
	if len(buf) < 2 {
		return errTrailerEOF
	}
	if err != nil {
		return err
	}
	if !seeUpcomingDoubleCRLF(b.br) {
		return errors.New("http: suspiciously long trailer after chunked body")
	}
	hdr, err := textproto.NewReader(b.br).ReadMIMEHeader()
	if err != nil {
		if err == io.EOF {
			return errTrailerEOF
		}
		return err
	}
	if *b.trailer == nil {
		*b.trailer = http.Header(hdr)
	} else {
		maps.Copy(*b.trailer, http.Header(hdr))
	}
	return nil
}

func seeUpcomingDoubleCRLF(r *bufio.Reader) bool {
	for peekSize := 4; ; peekSize++ {
		// Stops when Peek fails, which it does once r's buffer is full.
		buf, err := r.Peek(peekSize)
		if bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// Close reads the rest of the body, unless the connection closes after it anyway
// (a chunked body's trailer is still read).
func (b *Body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && (b.trailer != nil || !b.closing) {
		_, err = io.Copy(io.Discard, lockedBody{b})
	}
	b.closed = true
	return err
}

// lockedBody reads a Body whose mutex is held.
type lockedBody struct{ b *Body }

func (l lockedBody) Read(p []byte) (int, error) {
	if l.b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return l.b.readLocked(p)
}
