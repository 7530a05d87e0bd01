// Package listener holds what Gatehouse puts around a raw TCP listener before HTTP sees
// it: a cap on concurrent connections, and TLS certificates loaded from files and
// reloaded when the files change, so that certificate renewal needs no restart.
package listener

import (
	"net"
	"sync"
)

// Limit returns a listener that holds at most max connections open at once; further
// clients wait in the kernel's accept queue until one closes (as nginx's worker_connections
// does), rather than being accepted and starved. max <= 0 means no limit.
func Limit(l net.Listener, max int) net.Listener {
	if max <= 0 {
		return l
	}
	return &limitListener{Listener: l, sem: make(chan struct{}, max), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// NetConn returns the connection under the cap, as tls.Conn's does, for code that reads
// and writes the socket itself (internal/sockio). Closing goes through c.
func (c *limitConn) NetConn() net.Conn { return c.Conn }
