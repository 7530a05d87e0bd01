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
	"syscall"
)

// rawMax bounds the bytes one raw call may copy: beyond it the runtime is told of the
// syscall, so a long copy cannot hold the P while the garbage collector waits.
const rawMax = 64 << 10

// Conn is a net.Conn's Read and Write over raw system calls.
type Conn struct {
	nc net.Conn
	rc syscall.RawConn
}

// New returns a Conn for nc, or nil when nc is not a socket it can use.
func New(nc net.Conn) *Conn {
	if !supported {
		return nil
	}
	for {
		if _, ok := nc.(*tls.Conn); ok {
			return nil // its bytes on the socket are ciphertext
		}
		if u, ok := nc.(interface{ NetConn() net.Conn }); ok {
			nc = u.NetConn()
			continue
		}
		break
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &Conn{nc: tc, rc: rc}
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > rawMax {
		p = p[:rawMax]
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, e := rawRead(fd, p)
			switch e {
			case 0:
				n = r
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
	})
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

func (c *Conn) Write(p []byte) (int, error) {
	if len(p) > rawMax {
		return c.nc.Write(p)
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, e := rawWrite(fd, p[n:])
			switch e {
			case 0:
				n += r
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err != nil {
		return n, c.opError("write", unwrapRaw(err))
	}
	if errno != 0 {
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
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
