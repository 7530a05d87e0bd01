package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// subscriber is one SSE connection. Its fields belong to its goroutine until that has
// exited (run waits for it before reading them).
type subscriber struct {
	conn      net.Conn
	connected bool
	failed    string // why it never connected
	dropped   string // why it ended before the run did
	seen      []uint64
	maxSeq    int
	distinct  int
	dups      int
	reordered int
	badLines  int
}

func (s *subscriber) mark(seq int) (fresh bool) {
	w, bit := seq/64, uint64(1)<<(seq%64)
	if w >= len(s.seen) {
		return false
	}
	if s.seen[w]&bit != 0 {
		s.dups++
		return false
	}
	s.seen[w] |= bit
	s.distinct++
	if seq < s.maxSeq {
		s.reordered++
	}
	s.maxSeq = max(s.maxSeq, seq)
	return true
}

func (s *subscriber) has(seq int) bool {
	w, bit := seq/64, uint64(1)<<(seq%64)
	return w < len(s.seen) && s.seen[w]&bit != 0
}

// request is the subscribers' GET, written byte for byte.
func request(rawURL string, headers []header) []byte {
	u := mustURL(rawURL)
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nUser-Agent: rtbench\r\n", u.RequestURI(), u.Host)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// connectError is why a subscriber did not connect, short enough to count by.
func connectError(stage string, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return stage + ": timeout"
	case errors.Is(err, syscall.ETIMEDOUT):
		return stage + ": connection timed out (ETIMEDOUT)"
	case errors.As(err, &ne) && ne.Timeout():
		return stage + ": timeout (" + err.Error() + ")"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return stage + ": connection closed"
	}
	msg := err.Error()
	for _, known := range []string{"connection refused", "connection reset by peer", "broken pipe",
		"cannot assign requested address", "too many open files"} {
		if strings.Contains(msg, known) {
			return stage + ": " + known
		}
	}
	return stage + ": " + msg
}

// subscribe connects one subscriber; connected is called once it is (or has failed), then
// it reads events until the connection ends.
func (b *bench) subscribe(s *subscriber, connected func()) {
	once := false
	done := func() {
		if !once {
			once = true
			connected()
		}
	}
	defer done()
	start := time.Now()
	deadline := start.Add(b.cfg.ConnectTimeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(b.ctx, "tcp", b.addr)
	if err != nil {
		s.failed = connectError("dial", err)
		return
	}
	defer conn.Close()
	s.conn = conn
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write(b.req); err != nil {
		s.failed = connectError("request", err)
		return
	}
	br := bufio.NewReaderSize(conn, 1024)
	body, err := readHead(br)
	if err != nil {
		s.failed = err.Error()
		return
	}
	// Connected once the origin's first event (its ":ok" comment) has come through: the
	// subscription is in place by then.
	for {
		line, err := readLine(body)
		if err != nil {
			s.failed = connectError("first event", err)
			return
		}
		if len(line) == 0 {
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	s.connected = true
	b.connectLat.record(time.Since(start))
	b.lastConnect.Store(time.Now().UnixNano())
	done()

	for {
		line, err := readLine(body)
		if err != nil {
			if b.closing.Load() {
				return
			}
			s.dropped = connectError("read", err)
			b.drops.Add(1)
			return
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue // blank lines between events, comments
		}
		now := time.Now().UnixNano()
		seqB, tsB, ok := bytes.Cut(data, []byte(" "))
		seq, err1 := strconv.Atoi(string(seqB))
		ts, err2 := strconv.ParseInt(string(tsB), 10, 64)
		if !ok || err1 != nil || err2 != nil || seq < 1 || seq > b.total {
			s.badLines++
			continue
		}
		if s.mark(seq) {
			p := b.phaseOf(seq)
			p.lat.record(time.Duration(now - ts))
			p.deliveries.Add(1)
			storeMax(&p.lastRecv, now)
		} else {
			b.phaseOf(seq).extra.Add(1)
		}
	}
}

// readHead reads the status line and headers and returns the body's reader: de-chunked,
// with a small buffer of its own, or the connection's reader.
func readHead(br *bufio.Reader) (*bufio.Reader, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, errors.New(connectError("response", err))
	}
	proto, rest, _ := strings.Cut(string(line), " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		return nil, fmt.Errorf("response: not HTTP/1.x: %.40q", line)
	}
	if code != "200" {
		return nil, fmt.Errorf("response: status %s", code)
	}
	chunked := false
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, errors.New(connectError("response headers", err))
		}
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")) &&
			bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
			chunked = true
		}
	}
	if chunked {
		return bufio.NewReaderSize(httputil.NewChunkedReader(br), 256), nil
	}
	return br, nil
}

// readLine is the next line without its line ending; a line longer than the buffer is
// returned whole (rare here: long response headers).
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
