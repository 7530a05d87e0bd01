//go:build !unix

package hold

import "net"

// Without non-blocking reads of the socket, each stream keeps a reader goroutine.
func peerSweepable(net.Conn) bool { return false }

func peerGone(net.Conn) bool { return false }
