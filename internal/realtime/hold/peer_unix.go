//go:build unix

package hold

import (
	"net"
	"syscall"
)

// peerSweepable reports whether the sweep can watch conn without a goroutine.
func peerSweepable(conn net.Conn) bool {
	_, ok := conn.(syscall.Conn)
	return ok
}

// peerGone reads, without blocking, what the client sent on a held stream and reports
// whether it closed the connection. Clients send nothing on a held stream; anything they
// do send is discarded, as the reader goroutine this replaces did.
func peerGone(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	var buf [64]byte
	err = rc.Read(func(fd uintptr) bool {
		for range 16 { // bounded: a client streaming junk is read a little per sweep
			n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_DONTWAIT)
			switch {
			case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
				return true
			case rerr == syscall.EINTR:
				continue
			case rerr != nil || n == 0: // reset, or end of stream
				gone = true
				return true
			}
		}
		return true
	})
	return gone || err != nil
}
