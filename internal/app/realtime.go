package app

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/realtime"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/natsbroker"
)

// newRealtime builds the node's GRIP engine on the configured broker.
func newRealtime(cfg config.Config, log *slog.Logger) (*realtime.Node, error) {
	rc := cfg.Realtime
	var b broker.Broker
	var node atomic.Pointer[realtime.Node]
	switch rc.Broker {
	case "nats":
		nb, err := natsbroker.New(natsbroker.Config{
			URL: rc.NATSURL, Prefix: rc.NATSPrefix, Logger: log.With("component", "realtime-broker"),
			// Publishes made while the connection was down were missed: every session
			// recovers (re-requests or follows its next link), as after Pushpin's recover.
			OnReconnect: func() {
				if n := node.Load(); n != nil {
					n.Fanout().Recover()
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("realtime broker: %w", err)
		}
		b = nb
	default:
		b = broker.NewHub(broker.HubOptions{})
	}
	n, err := realtime.New(realtime.Options{Broker: b, Logger: log, PublishKey: rc.PublishKey})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("realtime: %w", err)
	}
	node.Store(n)
	return n, nil
}
