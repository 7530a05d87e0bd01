package realtime

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/hold"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsproxy"
)

// Status is GET /v1/realtime: this node's realtime state.
type Status struct {
	Broker     broker.Stats  `json:"broker"`
	Fanout     fanout.Stats  `json:"fanout"`
	Holds      hold.Stats    `json:"holds"`
	WebSockets wsproxy.Stats `json:"websockets"`
	Usage      []meter.Usage `json:"usage"`
}

// Status reports the node's realtime counters.
func (n *Node) Status() Status {
	u := n.meter.Snapshot()
	if u == nil {
		u = []meter.Usage{}
	}
	return Status{Broker: n.broker.Stats(), Fanout: n.fanout.Stats(), Holds: n.holder.Stats(), WebSockets: n.ws.Stats(), Usage: u}
}

// maxChannelsListed bounds GET /v1/realtime/channels and the per-channel metrics: a node
// may have a channel per user, and a scrape must stay small.
const maxChannelsListed = 1000

// Mount adds the realtime routes to the admin mux: the publish API, node status and channel
// statistics. WriteMetrics is the realtime part of the node's /metrics.
func (n *Node) Mount(mux *http.ServeMux, authenticate func(*http.Request) error) {
	pub := n.PublishHandler(authenticate)
	mux.Handle("/publish", pub)
	mux.Handle("/publish/", pub)
	mux.Handle("/recover", pub)
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := authenticate(r); err != nil {
				problem.WriteAuthError(w, err)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /v1/realtime", guard(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Status())
	}))
	mux.HandleFunc("GET /v1/realtime/channels", guard(func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			l, err := strconv.Atoi(v)
			if err != nil || l < 1 || l > maxChannelsListed {
				problem.Write(w, http.StatusBadRequest, gatehouse.EInvalid, fmt.Sprintf("limit must be a number from 1 to %d", maxChannelsListed))
				return
			}
			limit = l
		}
		items := n.fanout.Channels(limit)
		if items == nil {
			items = []fanout.ChannelStat{}
		}
		writeJSON(w, map[string]any{"items": items})
	}))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteMetrics writes the realtime metrics in the Prometheus text format.
func (n *Node) WriteMetrics(w io.Writer) {
	st := n.Status()
	m := &metricWriter{w: w}
	m.family("gatehouse_realtime_broker_subscribers", "gauge", "Live broker subscriptions on this node (one per channel with local subscribers).")
	m.sample("gatehouse_realtime_broker_subscribers", nil, float64(st.Broker.Subscribers))
	m.family("gatehouse_realtime_broker_published_total", "counter", "Messages this node handed to the broker.")
	m.sample("gatehouse_realtime_broker_published_total", nil, float64(st.Broker.Published))
	m.family("gatehouse_realtime_broker_dropped_total", "counter", "Broker subscriptions dropped for being too slow.")
	m.sample("gatehouse_realtime_broker_dropped_total", nil, float64(st.Broker.Dropped))
	m.family("gatehouse_realtime_channels", "gauge", "Channels with subscribers on this node.")
	m.sample("gatehouse_realtime_channels", nil, float64(st.Fanout.Channels))
	m.family("gatehouse_realtime_subscriptions", "gauge", "Connection subscriptions to channels on this node.")
	m.sample("gatehouse_realtime_subscriptions", nil, float64(st.Fanout.Subscribers))
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"gatehouse_realtime_items_published_total", "Items published through this node.", st.Fanout.Published},
		{"gatehouse_realtime_items_received_total", "Items received from the broker.", st.Fanout.Received},
		{"gatehouse_realtime_deliveries_total", "Items handed to subscribed connections.", st.Fanout.Delivered},
		{"gatehouse_realtime_items_duplicate_total", "Items dropped because their id was seen recently.", st.Fanout.Duplicates},
		{"gatehouse_realtime_items_reordered_total", "Items that waited for their predecessor.", st.Fanout.Reordered},
	} {
		m.family(c.name, "counter", c.help)
		m.sample(c.name, nil, float64(c.v))
	}
	m.family("gatehouse_realtime_channel_subscribers", "gauge", "Subscribers per channel (the busiest channels).")
	for _, c := range n.fanout.Channels(maxChannelsListed) {
		m.sample("gatehouse_realtime_channel_subscribers", []string{"channel", c.Name}, float64(c.Subscribers))
	}
	m.family("gatehouse_realtime_connections", "gauge", "Held realtime connections per API and app.")
	for _, u := range st.Usage {
		m.sample("gatehouse_realtime_connections", []string{"api", u.API, "app", u.App}, float64(u.Connections))
	}
	for _, f := range []struct {
		name, help string
		v          func(meter.Usage) float64
	}{
		{"gatehouse_realtime_connections_total", "Realtime connections opened per API and app.", func(u meter.Usage) float64 { return float64(u.ConnectionsTotal) }},
		{"gatehouse_realtime_connections_rejected_total", "Connections refused by max_connections_per_app.", func(u meter.Usage) float64 { return float64(u.Rejected) }},
		{"gatehouse_realtime_connection_seconds_total", "Time realtime connections were held.", func(u meter.Usage) float64 { return u.ConnectionSeconds }},
		{"gatehouse_realtime_messages_total", "Messages delivered to clients per API and app.", func(u meter.Usage) float64 { return float64(u.Messages) }},
		{"gatehouse_realtime_bytes_total", "Bytes delivered to clients per API and app.", func(u meter.Usage) float64 { return float64(u.Bytes) }},
		{"gatehouse_realtime_messages_throttled_total", "Messages dropped by max_messages_per_app.", func(u meter.Usage) float64 { return float64(u.Throttled) }},
	} {
		m.family(f.name, "counter", f.help)
		for _, u := range st.Usage {
			m.sample(f.name, []string{"api", u.API, "app", u.App}, f.v(u))
		}
	}
}

type metricWriter struct{ w io.Writer }

func (m *metricWriter) family(name, typ, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one line; labels alternate names and values.
func (m *metricWriter) sample(name string, labels []string, v float64) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(escapeLabel(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte('\n')
	_, _ = io.WriteString(m.w, b.String())
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
