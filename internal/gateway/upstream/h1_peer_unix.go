//go:build unix

package upstream

import (
	"net"
	"syscall"
)

// peerOpen peeks, without blocking, whether the peer closed nc (or sent something
// unasked, which makes the connection unusable too) while it was idle.
func peerOpen(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
			open = true // nothing to read: still open
		case rerr != nil, n == 0: // an error, or EOF
		default: // unsolicited bytes: a late response, or a 408 before closing
		}
		return true
	})
	return err == nil && open
}
