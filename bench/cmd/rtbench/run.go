package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// bench is one run's shared state.
type bench struct {
	ctx   context.Context
	cfg   *Config
	addr  string // the subscribers' host:port
	req   []byte // their request
	total int    // messages in all phases; sequence numbers run 1..total
	runID string

	phases      []*phase
	connectLat  hist
	lastConnect atomic.Int64 // unix ns of the last connection made
	drops       atomic.Int64
	closing     atomic.Bool
}

// phase is one publishing phase: messages first..last.
type phase struct {
	name        string
	first, last int
	rate        float64

	lat        hist
	deliveries atomic.Int64 // first receipts
	extra      atomic.Int64 // duplicates
	lastRecv   atomic.Int64 // unix ns

	firstPub, lastPub time.Time
	published         []bool // by seq - first
	pubErrors         map[string]int
	pubLat            hist
}

func (b *bench) phaseOf(seq int) *phase {
	for _, p := range b.phases {
		if seq <= p.last {
			return p
		}
	}
	return b.phases[len(b.phases)-1]
}

func storeMax(v *atomic.Int64, x int64) {
	for {
		m := v.Load()
		if x <= m || v.CompareAndSwap(m, x) {
			return
		}
	}
}

func mustURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u
}

// Summary is the JSON rtbench prints.
type Summary struct {
	Label            string  `json:"label"`
	Started          string  `json:"started"`
	URL              string  `json:"url"`
	PublishURL       string  `json:"publish_url"`
	Subscribers      int     `json:"subscribers"`
	Concurrency      int     `json:"connect_concurrency"`
	RetryConcurrency int     `json:"retry_concurrency"`
	GOMAXPROCS       int     `json:"rtbench_gomaxprocs"`
	NoFileLimit      uint64  `json:"rtbench_nofile_limit"`
	ConnectS         float64 `json:"connect_s"` // first dial to the last subscriber connected
	Connected        int     `json:"connected"`
	// ConnectFailures counts the subscribers that never connected, by cause.
	ConnectFailures map[string]int `json:"connect_failures"`
	ConnectFailed   int            `json:"connect_failed"`
	ConnectLatency  Latency        `json:"connect_latency"`
	// RetriedConnected subscribers failed the first attempt and connected on a retry;
	// ConnectAllS is when the last of them had (0: no retries).
	RetriedConnected   int            `json:"retried_connected"`
	ConnectAllS        float64        `json:"connect_all_s"`
	MemBefore          Reading        `json:"mem_before"`
	MemConnected       Reading        `json:"mem_connected"`
	MemAfter           Reading        `json:"mem_after"`
	KBPerConnection    float64        `json:"kb_per_connection"` // (connected − before) / connected subscribers
	ConnectServerCores float64        `json:"connect_server_cores"`
	Phases             []PhaseSummary `json:"phases"`
	Dropped            int            `json:"dropped"` // connections that ended during the run
	DropCauses         map[string]int `json:"drop_causes,omitempty"`
	Lost               int64          `json:"lost"`
	Duplicated         int64          `json:"duplicated"`
	Reordered          int64          `json:"reordered"`
	BadLines           int64          `json:"bad_lines"`
	Valid              bool           `json:"valid"`
	Invalid            []string       `json:"invalid,omitempty"`
}

// PhaseSummary is one phase's figures.
type PhaseSummary struct {
	Name             string         `json:"name"`
	Messages         int            `json:"messages"`
	Rate             float64        `json:"rate"` // asked; 0: as fast as publishing goes
	Published        int            `json:"published"`
	PublishErrors    map[string]int `json:"publish_errors,omitempty"`
	PublishS         float64        `json:"publish_s"`          // first to last publish
	PublishRate      float64        `json:"publish_rate"`       // messages per second achieved
	PublishLatency   Latency        `json:"publish_latency"`    // the publish POST's round trip
	Expected         int64          `json:"expected"`           // published × connected subscribers
	Deliveries       int64          `json:"deliveries"`         // first receipts
	DeliveryS        float64        `json:"delivery_s"`         // first publish to last receipt
	DeliveriesPerSec float64        `json:"deliveries_per_sec"` // deliveries / delivery_s
	Latency          Latency        `json:"latency"`            // publish to receipt
	Complete         bool           `json:"complete"`           // every delivery arrived
	ServerCores      float64        `json:"server_cores"`       // the servers' CPU over delivery_s
	ToolCores        float64        `json:"rtbench_cores"`
	// MachineCores is the whole machine's busy time over the phase (/proc/stat); what the
	// servers and rtbench do not explain is other work on a shared machine.
	MachineCores float64 `json:"machine_cores"`
	OthersCores  float64 `json:"others_cores"`
}

func run(ctx context.Context, cfg *Config, logw io.Writer) (*Summary, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(logw, "rtbench: "+format+"\n", a...) }
	b := &bench{ctx: ctx, cfg: cfg, addr: addrOf(cfg.URL), req: request(cfg.URL, cfg.Headers),
		total: cfg.Messages + cfg.Flood, runID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	if cfg.Messages > 0 {
		b.phases = append(b.phases, &phase{name: "paced", first: 1, last: cfg.Messages, rate: cfg.Rate})
	}
	if cfg.Flood > 0 {
		b.phases = append(b.phases, &phase{name: "flood", first: cfg.Messages + 1, last: b.total})
	}
	s := &Summary{Label: cfg.Label, Started: time.Now().UTC().Format(time.RFC3339), URL: cfg.URL,
		PublishURL: cfg.PublishURL, Subscribers: cfg.N, Concurrency: cfg.Concurrency, RetryConcurrency: cfg.RetryConcurrency,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NoFileLimit: noFileLimit(), ConnectFailures: map[string]int{}}
	invalid := func(format string, a ...any) { s.Invalid = append(s.Invalid, fmt.Sprintf(format, a...)) }

	var err error
	if s.MemBefore, err = readServers(cfg.PIDs); err != nil {
		return nil, err
	}

	// Connect.
	logf("%s: connecting %d subscribers to %s, %d at a time", cfg.Label, cfg.N, cfg.URL, cfg.Concurrency)
	subs := make([]subscriber, cfg.N)
	words := b.total/64 + 1
	bits := make([]uint64, words*cfg.N)
	for i := range subs {
		subs[i].seen = bits[i*words : (i+1)*words : (i+1)*words]
	}
	var readers sync.WaitGroup
	// connect makes one attempt for each of the subscribers idx, conc at a time, and
	// returns once all of them have connected or failed.
	connect := func(idx []int, conc int) error {
		sem := make(chan struct{}, conc)
		var connecting sync.WaitGroup
		for _, i := range idx {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			readers.Add(1)
			connecting.Add(1)
			go func(s *subscriber) {
				defer readers.Done()
				b.subscribe(s, func() { <-sem; connecting.Done() })
			}(&subs[i])
		}
		connecting.Wait()
		return nil
	}
	all := make([]int, cfg.N)
	for i := range all {
		all[i] = i
	}
	start := time.Now()
	if err := connect(all, cfg.Concurrency); err != nil {
		return nil, err
	}
	end := time.Now()
	var failed []int
	for i := range subs {
		if subs[i].connected {
			s.Connected++
		} else {
			s.ConnectFailures[subs[i].failed]++
			s.ConnectFailed++
			failed = append(failed, i)
		}
	}
	if last := b.lastConnect.Load(); last > 0 {
		s.ConnectS = round3(time.Unix(0, last).Sub(start).Seconds())
	}
	s.ConnectLatency = b.connectLat.summary()
	logf("%s: %d connected in %.3f s, %d failed %v (all attempts over after %.3f s)", cfg.Label,
		s.Connected, s.ConnectS, s.ConnectFailed, s.ConnectFailures, end.Sub(start).Seconds())
	// The failed ones try again, a few at a time, so that the fan-out is measured with
	// every subscriber; the connection figures above are the first attempt's.
	for round := 1; round <= cfg.Retries && len(failed) > 0; round++ {
		for _, i := range failed {
			subs[i] = subscriber{seen: subs[i].seen}
		}
		if err := connect(failed, min(cfg.RetryConcurrency, len(failed))); err != nil {
			return nil, err
		}
		var still []int
		for _, i := range failed {
			if !subs[i].connected {
				still = append(still, i)
			}
		}
		logf("%s: retry %d: %d of %d connected", cfg.Label, round, len(failed)-len(still), len(failed))
		s.RetriedConnected += len(failed) - len(still)
		failed = still
	}
	if s.RetriedConnected > 0 {
		s.Connected += s.RetriedConnected
		s.ConnectAllS = round3(time.Unix(0, b.lastConnect.Load()).Sub(start).Seconds())
	}
	if s.Connected == 0 {
		return nil, fmt.Errorf("no subscriber connected: %v", s.ConnectFailures)
	}

	select {
	case <-time.After(cfg.Idle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.MemConnected, err = readServers(cfg.PIDs); err != nil {
		return nil, err
	}
	if len(cfg.PIDs) > 0 {
		s.KBPerConnection = round3(float64(s.MemConnected.RSSKB-s.MemBefore.RSSKB) / float64(s.Connected))
		wall := time.Since(start).Seconds()
		s.ConnectServerCores = round3(float64(s.MemConnected.CPUTicks-s.MemBefore.CPUTicks) / userHZ / wall)
		logf("%s: servers' RSS %d kB before, %d kB with %d held and idle %s: %.2f KB per connection", cfg.Label,
			s.MemBefore.RSSKB, s.MemConnected.RSSKB, s.Connected, cfg.Idle, s.KBPerConnection)
	}

	if cfg.Hold > 0 {
		logf("%s: holding %d idle subscribers for %s", cfg.Label, s.Connected, cfg.Hold)
		select {
		case <-time.After(cfg.Hold):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	// Publish.
	pub := newPublisher(cfg, b.runID)
	deadline := time.Now().Add(cfg.Duration)
	for _, p := range b.phases {
		ps := b.runPhase(ctx, p, pub, deadline, s.Connected, logf)
		s.Phases = append(s.Phases, ps)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if s.MemAfter, err = readServers(cfg.PIDs); err != nil {
		return nil, err
	}

	// Stop the readers, then look at what every subscriber got.
	b.closing.Store(true)
	for i := range subs {
		if subs[i].conn != nil {
			subs[i].conn.Close()
		}
	}
	readers.Wait()
	s.DropCauses = map[string]int{}
	for i := range subs {
		sub := &subs[i]
		if !sub.connected {
			continue
		}
		if sub.dropped != "" {
			s.Dropped++
			s.DropCauses[sub.dropped]++
		}
		s.Duplicated += int64(sub.dups)
		s.Reordered += int64(sub.reordered)
		s.BadLines += int64(sub.badLines)
		for _, p := range b.phases {
			for seq := p.first; seq <= p.last; seq++ {
				if p.published[seq-p.first] && !sub.has(seq) {
					s.Lost++
				}
			}
		}
	}
	if len(s.DropCauses) == 0 {
		s.DropCauses = nil
	}

	if s.Connected < cfg.N {
		invalid("%d of %d subscribers never connected (first attempt: %v)", cfg.N-s.Connected, cfg.N, s.ConnectFailures)
	}
	for _, p := range s.Phases {
		if p.Published < p.Messages {
			invalid("%s phase: %d of %d messages published (%v)", p.Name, p.Published, p.Messages, p.PublishErrors)
		}
	}
	if s.Lost > 0 || s.Duplicated > 0 || s.Reordered > 0 || s.Dropped > 0 || s.BadLines > 0 {
		invalid("lost %d, duplicated %d, reordered %d, connections dropped %d, unreadable events %d",
			s.Lost, s.Duplicated, s.Reordered, s.Dropped, s.BadLines)
	}
	s.Valid = len(s.Invalid) == 0
	return s, nil
}

// runPhase publishes the phase's messages and waits for their deliveries.
func (b *bench) runPhase(ctx context.Context, p *phase, pub *publisher, deadline time.Time, connected int,
	logf func(string, ...any)) PhaseSummary {
	n := p.last - p.first + 1
	p.published = make([]bool, n)
	p.pubErrors = map[string]int{}
	rateDesc := "as fast as publishing goes"
	if p.rate > 0 {
		rateDesc = fmt.Sprintf("%g per second", p.rate)
	}
	logf("%s: %s phase: %d messages, %s", b.cfg.Label, p.name, n, rateDesc)
	before, _ := readServers(b.cfg.PIDs)
	toolBefore, busyBefore := ownCPUTicks(), machineBusyTicks()
	ok := 0
	p.firstPub = time.Now()
	for i := range n {
		if p.rate > 0 {
			due := p.firstPub.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		seq := p.first + i
		t0 := time.Now()
		err := pub.publish(ctx, seq)
		p.pubLat.record(time.Since(t0))
		if err != nil {
			p.pubErrors[err.Error()]++
			continue
		}
		p.published[i] = true
		ok++
	}
	p.lastPub = time.Now()
	expected := int64(ok) * int64(connected)

	// Wait until every delivery is in, or nothing has come for -drain, or the deadline.
	lastCount, lastChange := p.deliveries.Load(), time.Now()
	for ctx.Err() == nil {
		c := p.deliveries.Load()
		if c >= expected {
			break
		}
		if c != lastCount {
			lastCount, lastChange = c, time.Now()
		}
		if time.Since(lastChange) > b.cfg.Drain || time.Now().After(deadline) {
			logf("%s: %s phase: gave up waiting with %d of %d deliveries", b.cfg.Label, p.name, c, expected)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, _ := readServers(b.cfg.PIDs)
	toolAfter, busyAfter := ownCPUTicks(), machineBusyTicks()

	ps := PhaseSummary{Name: p.name, Messages: n, Rate: p.rate, Published: ok, Expected: expected,
		Deliveries: p.deliveries.Load(), Latency: p.lat.summary(), PublishLatency: p.pubLat.summary()}
	if len(p.pubErrors) > 0 {
		ps.PublishErrors = p.pubErrors
	}
	ps.Complete = ps.Deliveries >= expected
	ps.PublishS = round3(p.lastPub.Sub(p.firstPub).Seconds())
	if ps.PublishS > 0 {
		ps.PublishRate = round3(float64(ok) / ps.PublishS)
	}
	if last := p.lastRecv.Load(); last > 0 {
		ps.DeliveryS = round3(time.Unix(0, last).Sub(p.firstPub).Seconds())
		if ps.DeliveryS > 0 {
			ps.DeliveriesPerSec = math.Round(float64(ps.Deliveries) / ps.DeliveryS)
		}
	}
	wall := time.Since(p.firstPub).Seconds()
	ps.ServerCores = round3(float64(after.CPUTicks-before.CPUTicks) / userHZ / wall)
	ps.ToolCores = round3(float64(toolAfter-toolBefore) / userHZ / wall)
	ps.MachineCores = round3(float64(busyAfter-busyBefore) / userHZ / wall)
	ps.OthersCores = round3(max(ps.MachineCores-ps.ServerCores-ps.ToolCores, 0))
	logf("%s: %s phase: %d/%d published in %.3f s, %d/%d deliveries, %.0f per second; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		b.cfg.Label, p.name, ok, n, ps.PublishS, ps.Deliveries, expected, ps.DeliveriesPerSec,
		ps.Latency.P50Ms, ps.Latency.P99Ms, ps.Latency.MaxMs)
	return ps
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// publisher POSTs one item per request to the Pushpin-compatible publish API, over one
// keep-alive connection.
type publisher struct {
	url     string
	headers []header
	channel []byte // JSON string
	runID   string
	prevID  bool
	client  *http.Client
	buf     bytes.Buffer
}

func newPublisher(cfg *Config, runID string) *publisher {
	ch, _ := json.Marshal(cfg.Channel)
	tr := &http.Transport{
		Proxy:               nil, // 127.0.0.1 only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &publisher{url: cfg.PublishURL, headers: cfg.PublishHeaders, channel: ch, runID: runID,
		prevID: cfg.PrevID, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (p *publisher) publish(ctx context.Context, seq int) error {
	b := &p.buf
	b.Reset()
	fmt.Fprintf(b, `{"items":[{"channel":%s,"id":"%s-%d"`, p.channel, p.runID, seq)
	if p.prevID && seq > 1 {
		fmt.Fprintf(b, `,"prev-id":"%s-%d"`, p.runID, seq-1)
	}
	// The timestamp is taken last, as late before sending as the body allows.
	fmt.Fprintf(b, `,"formats":{"http-stream":{"content":"data: %d %d\n\n"}}}]}`, seq, time.Now().UnixNano())
	req, err := http.NewRequestWithContext(ctx, "POST", p.url, bytes.NewReader(b.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range p.headers {
		req.Header.Set(h.name, h.value)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %v", connectError("post", err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("publish: status %d: %.100s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// noFileLimit is this process's soft limit on open files.
func noFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Cur
}

// sortedKeys is for stable output.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
