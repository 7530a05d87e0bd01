package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// pair returns a raw Conn over the client side of a loopback TCP connection, and the
// server side as a plain net.Conn.
func pair(t *testing.T) (*Conn, net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close(); peer.Close() })
	c := New(nc)
	if c == nil {
		t.Fatal("New returned nil for a TCP connection")
	}
	return c, nc, peer
}

func TestRoundTrip(t *testing.T) {
	c, _, peer := pair(t)
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer read %q %v", buf, err)
	}
	// A read waits in the netpoller until the peer writes.
	go func() {
		time.Sleep(20 * time.Millisecond)
		peer.Write([]byte("world"))
	}()
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "world" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d %v", n, err)
	}
}

func TestEOFAndReset(t *testing.T) {
	c, _, peer := pair(t)
	peer.Close()
	buf := make([]byte, 8)
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after peer close: %d %v, want io.EOF", n, err)
	}
	// Writing to a closed peer fails soon (RST, then EPIPE) with a syscall error inside
	// a *net.OpError, as net.Conn's would.
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = c.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" || !(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("write to closed peer: %#v", err)
	}
}

// A write larger than the socket buffers completes once the peer reads: partial raw
// writes wait in the netpoller and resume.
func TestLargeWrites(t *testing.T) {
	for _, size := range []int{rawMax - 1, rawMax, rawMax + 1, 4 << 20} {
		c, _, peer := pair(t)
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		done := make(chan error, 1)
		go func() {
			// Several writes of at most rawMax, and one big one, all must arrive in order.
			var err error
			for off := 0; off < len(data) && err == nil; off += rawMax {
				_, err = c.Write(data[off:min(off+rawMax, len(data))])
			}
			if err == nil {
				_, err = c.Write(data)
			}
			done <- err
		}()
		time.Sleep(10 * time.Millisecond) // let the writer fill the buffers first
		got := make([]byte, 2*size)
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatalf("size %d: peer read: %v", size, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("size %d: write: %v", size, err)
		}
		if !bytes.Equal(got[:size], data) || !bytes.Equal(got[size:], data) {
			t.Fatalf("size %d: data differs", size)
		}
		// Reads take at most rawMax at a time, and return what is there.
		go peer.Write(data)
		var n int
		buf := make([]byte, 2*rawMax)
		for n < size {
			k, err := c.Read(buf)
			if err != nil || k > rawMax {
				t.Fatalf("size %d: read %d: %v", size, k, err)
			}
			if !bytes.Equal(buf[:k], data[n:n+k]) {
				t.Fatalf("size %d: read data differs at %d", size, n)
			}
			n += k
		}
	}
}

func TestDeadlinesAndClose(t *testing.T) {
	c, nc, _ := pair(t)
	nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("deadline error is not a timeout net.Error: %#v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("read waited far past its deadline")
	}
	// A read blocked in the netpoller returns when the connection is closed.
	nc.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 8)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	nc.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on closed conn: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on closed conn: %v", err)
	}
}

// wrapped is a net.Conn wrapper that exposes the connection under it, as
// internal/listener's connection cap does.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

func TestNew(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if New(a) != nil {
		t.Fatal("New of a pipe: want nil, nothing to make raw calls on")
	}
	_, nc, _ := pair(t)
	if New(wrapped{nc}) == nil {
		t.Fatal("New of a wrapped TCP connection: want the TCP connection under it")
	}
}

// BenchmarkWriteRead is one small write and its read back over loopback: raw calls
// against net.Conn's.
func BenchmarkWriteRead(b *testing.B) {
	t := &testing.T{}
	for _, mode := range []string{"raw", "net.Conn"} {
		b.Run(mode, func(b *testing.B) {
			c, nc, peer := pair(t)
			var rw io.ReadWriter = c
			if mode == "net.Conn" {
				rw = nc
			}
			msg, buf := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), make([]byte, 64)
			go io.Copy(peer, peer)
			for b.Loop() {
				if _, err := rw.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(rw, buf[:len(msg)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTryRead(t *testing.T) {
	c, _, peer := pair(t)
	buf := make([]byte, 16)
	if n, err := c.TryRead(buf); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryRead with nothing sent: %d %v, want ErrWouldBlock", n, err)
	}
	peer.Write([]byte("ready"))
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, err := c.TryRead(buf)
		if err == nil {
			if string(buf[:n]) != "ready" {
				t.Fatalf("TryRead got %q", buf[:n])
			}
			break
		}
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			t.Fatalf("TryRead: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	// After a TryRead that found nothing, a Read still waits for data.
	if _, err := c.TryRead(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second TryRead: %v", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		peer.Write([]byte("later"))
	}()
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "later" {
		t.Fatalf("Read after TryRead: %q %v", buf[:n], err)
	}
	peer.Close()
	for {
		_, err := c.TryRead(buf)
		if err == io.EOF {
			break
		}
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			t.Fatalf("TryRead after the peer closed: %v, want io.EOF", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTryWrite(t *testing.T) {
	c, nc, peer := pair(t)
	if n, err := c.TryWrite([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("TryWrite: %d %v", n, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer read %q %v", buf, err)
	}
	// Fill the socket's buffers while the peer reads nothing: TryWrite stops short.
	nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	total := 0
	for i := 0; ; i++ {
		n, err := c.TryWrite(chunk)
		total += n
		if errors.Is(err, ErrWouldBlock) {
			if n == len(chunk) {
				t.Fatalf("ErrWouldBlock with all %d bytes written", n)
			}
			break
		}
		if err != nil || i > 10000 {
			t.Fatalf("TryWrite never filled the socket: %v after %d bytes", err, total)
		}
	}
	// What was written arrives, in full, once the peer reads.
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, peer)
		got <- n
	}()
	nc.Close()
	if n := <-got; n != int64(total) {
		t.Fatalf("peer read %d bytes, TryWrite reported %d", n, total)
	}
	if _, err := c.TryWrite(bytes.Repeat([]byte("y"), rawMax+1)); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryWrite beyond one raw call: %v, want ErrWouldBlock", err)
	}
}
