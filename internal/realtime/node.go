// Package realtime assembles a node's GRIP engine: the broker between nodes, the fan-out
// to held connections, HTTP holds (hold), WebSockets (wsproxy), usage metering and caps
// (meter), and the Pushpin-compatible publish API. The gateway hands it connections
// through gateway.Realtime; the admin listener mounts its publish API and statistics.
package realtime

import (
	"log/slog"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/hold"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/settle"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsproxy"
)

// Options configures a Node.
type Options struct {
	// Broker carries publishes between nodes; the Node closes it.
	Broker broker.Broker
	Logger *slog.Logger
	// PublishKey, when set ("base64:..." for binary), lets publishers authenticate with an
	// HS256 JWT signed with it; PublishIssuer, when set, must be its iss.
	PublishKey    string
	PublishIssuer string
	// Fanout tunes the channel table (tests shorten its timers); Broker and Logger in it
	// are filled in.
	Fanout fanout.Options
}

// Node is one node's realtime engine.
type Node struct {
	log        *slog.Logger
	broker     broker.Broker
	fanout     *fanout.Fanout
	meter      *meter.Meter
	holder     *hold.Holder
	ws         *wsproxy.Proxy
	settle     *settle.Settler
	publishKey []byte
	publishIss string
}

var _ gateway.Realtime = (*Node)(nil)

// New assembles a Node.
func New(opts Options) (*Node, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fo := opts.Fanout
	fo.Broker, fo.Logger = opts.Broker, log
	n := &Node{log: log, broker: opts.Broker, fanout: fanout.New(fo), meter: meter.New(), publishIss: opts.PublishIssuer}
	if opts.PublishKey != "" {
		k, err := grip.ParseKey(opts.PublishKey)
		if err != nil {
			return nil, err
		}
		n.publishKey = k
	}
	n.settle = settle.New(0, 0, nil)
	n.holder = hold.New(hold.Options{Fanout: n.fanout, Meter: n.meter, Logger: log.With("component", "realtime"), Settle: n.settle})
	n.ws = wsproxy.New(wsproxy.Options{Fanout: n.fanout, Meter: n.meter, Logger: log.With("component", "realtime"), Settle: n.settle})
	return n, nil
}

// Fanout is the node's channel table.
func (n *Node) Fanout() *fanout.Fanout { return n.fanout }

// Meter is the node's usage counters.
func (n *Node) Meter() *meter.Meter { return n.meter }

// Close ends every held connection and closes the broker.
func (n *Node) Close() {
	n.settle.Stop()
	n.holder.Close()
	n.ws.Close()
	_ = n.broker.Close()
}

func limits(api *gateway.RealtimeAPI) meter.Limits {
	s := &api.Settings
	return meter.Limits{MaxConnections: s.MaxConnectionsPerApp, MaxMessages: s.MaxMessagesPerApp, Period: s.MessagesPeriod.D()}
}

// Hold implements gateway.Realtime.
func (n *Node) Hold(w http.ResponseWriter, r *http.Request, api *gateway.RealtimeAPI, app string, up *gateway.OriginResponse, o gateway.Origin) {
	s := &api.Settings
	cfg := &hold.Config{API: api.Name, ChannelPrefix: s.ChannelPrefix, Debug: s.Debug,
		UpdateOnFirstSubscription: s.UpdateOnFirstSubscription, Limits: limits(api)}
	n.holder.Serve(w, r, cfg, app, (*hold.Upstream)(up), holdOrigin{o})
}

// WebSocket implements gateway.Realtime.
func (n *Node) WebSocket(w http.ResponseWriter, r *http.Request, api *gateway.RealtimeAPI, app string, o gateway.Origin) {
	s := &api.Settings
	cfg := &wsproxy.Config{API: api.Name, ChannelPrefix: s.ChannelPrefix, OverHTTP: s.WebSocketOverHTTP, Debug: s.Debug, Limits: limits(api)}
	n.ws.Serve(w, r, cfg, app, wsOrigin{o})
}
