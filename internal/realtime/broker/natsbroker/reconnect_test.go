package natsbroker_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/brokertest"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/natsbroker"
)

// cutProxy forwards TCP from 127.0.0.1:0 to target and can cut every connection at once,
// which a NATS client sees as a network failure.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestReconnect cuts a node's connection: the client reconnects, resubscribes its channels,
// reports OnReconnect, and publishes from other nodes reach its subscribers again.
func TestReconnect(t *testing.T) {
	url := natsURL(t)
	target := strings.TrimPrefix(strings.Split(url, ",")[0], "nats://")
	proxy := newCutProxy(t, target)
	reconnected := make(chan struct{}, 1)
	node, err := natsbroker.New(natsbroker.Config{
		URL:           "nats://" + proxy.ln.Addr().String(),
		ReconnectWait: 20 * time.Millisecond,
		OnReconnect: func() {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	other := newBroker(t, url)
	ch := brokertest.Channel(t, "reconnect")
	s, err := node.Subscribe(ch, broker.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	proxy.cut()
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("OnReconnect not called")
	}
	// The resubscription reaches the server asynchronously; publish until it arrives.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := other.Publish(context.Background(), broker.Message{Channel: ch, ID: "after"}); err != nil {
			t.Fatal(err)
		}
		select {
		case m, ok := <-s.C():
			if !ok {
				t.Fatalf("subscription closed: %v", s.Err())
			}
			if m.ID != "after" {
				t.Fatalf("got %+v", m)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery after reconnecting")
		}
	}
}
