// Package sockio reads and writes TCP sockets with raw system calls.
//
// Go's netpoller keeps sockets non-blocking, so a read or write never waits in the
// kernel; yet net.Conn's Read and Write still enter the runtime's syscall state, and
// the runtime's monitor hands the processor (P) to another thread when a call seems
// slow. On a busy core a write that wakes the peer is often preempted by it: the P
// moves, and each move costs thread wakeups and switches. These calls skip that state
// for transfers that can only copy a bounded amount, and fall back to the net.Conn
// beyond it.
package sockio

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// rawMax bounds the bytes one raw call may copy: beyond it the runtime is told of the
// syscall, so a long copy cannot hold the P while the garbage collector waits.
const rawMax = 64 << 10

// Conn is a net.Conn's Read and Write over raw system calls.
type Conn struct {
	nc net.Conn
	rc syscall.RawConn

	// The callbacks given to rc, and what they work on, are bound once: a closure per
	// call would cost allocations on every read and write. The mutexes keep concurrent
	// Reads (or Writes) off each other's fields; the poller serializes them anyway.
	rmu    sync.Mutex
	rp     []byte
	rn     int
	rerrno syscall.Errno
	rtry   bool // TryRead: EAGAIN ends the call
	rwould bool // and it did
	readFn func(uintptr) bool

	wmu     sync.Mutex
	wp      []byte
	wn      int
	werrno  syscall.Errno
	wtry    bool
	wwould  bool
	writeFn func(uintptr) bool
}

// ErrWouldBlock is TryRead's and TryWrite's answer when the socket is not ready.
var ErrWouldBlock = errors.New("sockio: the socket is not ready")

// TCP is the plain TCP connection under nc, through wrappers that expose it with NetConn
// (the max-connections cap); nil when there is none, or under TLS, whose bytes on the
// socket are ciphertext (and whose half-close is its own).
func TCP(nc net.Conn) *net.TCPConn {
	for {
		switch c := nc.(type) {
		case *net.TCPConn:
			return c
		case *tls.Conn:
			return nil
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
}

// New returns a Conn for nc, or nil when nc is not a socket it can use.
func New(nc net.Conn) *Conn {
	if !supported {
		return nil
	}
	tc := TCP(nc)
	if tc == nil {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	c := &Conn{nc: tc, rc: rc}
	c.readFn, c.writeFn = c.doRead, c.doWrite
	return c
}

// Read reads like net.Conn's Read, waiting in the netpoller when nothing is there.
func (c *Conn) Read(p []byte) (int, error) { return c.read(p, false) }

// TryRead is Read that does not wait: with nothing there yet it returns ErrWouldBlock.
// A caller can then prepare for a wait (arm a timer, a cancellation hook) that a read
// finding its data at once does not need.
func (c *Conn) TryRead(p []byte) (int, error) { return c.read(p, true) }

func (c *Conn) read(p []byte, try bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > rawMax {
		p = p[:rawMax]
	}
	c.rmu.Lock()
	c.rp, c.rn, c.rerrno, c.rtry, c.rwould = p, 0, 0, try, false
	err := c.rc.Read(c.readFn)
	n, errno, would := c.rn, c.rerrno, c.rwould
	c.rp = nil
	c.rmu.Unlock()
	if would {
		return 0, ErrWouldBlock
	}
	if err != nil {
		return 0, c.opError("read", unwrapRaw(err))
	}
	if errno != 0 {
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// doRead is Read's callback: true when done (data, EOF or an error), false to wait.
func (c *Conn) doRead(fd uintptr) bool {
	for {
		r, e := rawRead(fd, c.rp)
		switch e {
		case 0:
			c.rn = r
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.rwould = c.rtry
			return c.rtry
		default:
			c.rerrno = e
			return true
		}
	}
}

// Write writes all of p like net.Conn's Write, waiting in the netpoller while the
// socket's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) > rawMax {
		return c.nc.Write(p)
	}
	return c.write(p, false)
}

// TryWrite is Write that does not wait: it writes what the socket takes at once and,
// when that is not all of p, returns how much with ErrWouldBlock. Beyond the bound on
// one raw call it writes nothing.
func (c *Conn) TryWrite(p []byte) (int, error) {
	if len(p) > rawMax {
		return 0, ErrWouldBlock
	}
	return c.write(p, true)
}

func (c *Conn) write(p []byte, try bool) (int, error) {
	c.wmu.Lock()
	c.wp, c.wn, c.werrno, c.wtry, c.wwould = p, 0, 0, try, false
	err := c.rc.Write(c.writeFn)
	n, errno, would := c.wn, c.werrno, c.wwould
	c.wp = nil
	c.wmu.Unlock()
	if would && err == nil && errno == 0 {
		return n, ErrWouldBlock
	}
	if err != nil {
		return n, c.opError("write", unwrapRaw(err))
	}
	if errno != 0 {
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

// doWrite is Write's callback: true when all is written or on an error, false to wait.
func (c *Conn) doWrite(fd uintptr) bool {
	for c.wn < len(c.wp) {
		r, e := rawWrite(fd, c.wp[c.wn:])
		switch e {
		case 0:
			c.wn += r
		case syscall.EINTR:
		case syscall.EAGAIN:
			c.wwould = c.wtry
			return c.wtry
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

// unwrapRaw turns the raw-read/raw-write OpError into its cause, so that the error
// reads as net.Conn's would (net.ErrClosed, os.ErrDeadlineExceeded).
func unwrapRaw(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}
