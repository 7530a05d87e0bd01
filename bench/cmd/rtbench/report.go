package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/bench/internal/docsection"
)

// Markers delimit rtbench's generated section of docs/benchmarks.md.
const (
	markerStart = "<!-- bench:realtime:start -->"
	markerEnd   = "<!-- bench:realtime:end -->"
)

// The issue's figures, relative to tuned Pushpin measured in the same run.
const (
	maxKBPerConn     = 15.0 // and at most a third of Pushpin's
	memRatio         = 1.0 / 3
	p99Ratio         = 1.0 / 3
	throughputRatio  = 2.5
	maxConnectS      = 3.0
	issueSubscribers = 10000
)

// report prints the markdown of the results and, with -docs, writes it between the markers.
// A run with errors (failed connections aside: those are a result) leaves the doc alone.
func report(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	meta := fs.String("meta", "", "key=value lines about the run (see bench/realtime.sh)")
	docs := fs.String("docs", "", "write the section between the markers of this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("report: no result files")
	}
	var runs []*Summary
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var s Summary
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		runs = append(runs, &s)
	}
	m := map[string]string{}
	if *meta != "" {
		var err error
		if m, err = docsection.ReadMeta(*meta); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	writeMarkdown(&md, runs, m)
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if *docs != "" {
		if err := docsection.Update(*docs, markerStart, markerEnd, md.String()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote the results into %s\n", *docs)
	}
	return nil
}

func (s *Summary) phase(name string) *PhaseSummary {
	for i := range s.Phases {
		if s.Phases[i].Name == name {
			return &s.Phases[i]
		}
	}
	return nil
}

func find(runs []*Summary, label string) *Summary {
	for _, s := range runs {
		if strings.EqualFold(s.Label, label) {
			return s
		}
	}
	return nil
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// writeMarkdown is the section of docs/benchmarks.md.
func writeMarkdown(w io.Writer, runs []*Summary, m map[string]string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	if len(runs) == 0 {
		return
	}
	r0 := runs[0]
	paced, flood := r0.phase("paced"), r0.phase("flood")
	p("Measured %s with %d SSE subscribers on one channel", docsection.Or(m["date"], r0.Started), r0.Subscribers)
	p(", connected %d at a time", r0.Concurrency)
	if paced != nil {
		p("; paced phase: %d messages at %g per second", paced.Messages, paced.Rate)
	}
	if flood != nil {
		p("; flood phase: %d messages, each published as soon as the previous publish was answered", flood.Messages)
	}
	p(". Latency is publish to receipt, over every delivery; deliveries per second are the flood " +
		"phase's deliveries over the time from its first publish to its last receipt.\n\n")

	p("| system | connected in | failed connects | RSS idle → %d held | KB per connection |", r0.Subscribers)
	p(" paced p50 / p99 / max | flood deliveries/s | flood p50 / p99 | lost / dup / reordered | server CPU (paced / flood) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range runs {
		p("| %s | %.3f s | %d |", s.Label, s.ConnectS, s.ConnectFailed)
		p(" %.1f → %.1f MB | %.1f |", float64(s.MemBefore.RSSKB)/1024, float64(s.MemConnected.RSSKB)/1024, s.KBPerConnection)
		if ph := s.phase("paced"); ph != nil {
			p(" %.0f / %.0f / %.0f ms |", ph.Latency.P50Ms, ph.Latency.P99Ms, ph.Latency.MaxMs)
		} else {
			p(" – |")
		}
		if ph := s.phase("flood"); ph != nil {
			p(" %.0f | %.0f / %.0f ms |", ph.DeliveriesPerSec, ph.Latency.P50Ms, ph.Latency.P99Ms)
		} else {
			p(" – | – |")
		}
		p(" %d / %d / %d |", s.Lost, s.Duplicated, s.Reordered)
		var cp, cf string = "–", "–"
		if ph := s.phase("paced"); ph != nil {
			cp = fmt.Sprintf("%.2f", ph.ServerCores)
		}
		if ph := s.phase("flood"); ph != nil {
			cf = fmt.Sprintf("%.2f", ph.ServerCores)
		}
		p(" %s / %s cores |\n", cp, cf)
	}
	gh, pp := find(runs, "Gatehouse"), find(runs, "Pushpin")
	if gh != nil && pp != nil {
		p("| Gatehouse / Pushpin | %s | | | %s |", ratio(gh.ConnectS, pp.ConnectS), ratio(gh.KBPerConnection, pp.KBPerConnection))
		if a, b := gh.phase("paced"), pp.phase("paced"); a != nil && b != nil {
			p(" p99 %s |", ratio(a.Latency.P99Ms, b.Latency.P99Ms))
		} else {
			p(" |")
		}
		if a, b := gh.phase("flood"), pp.phase("flood"); a != nil && b != nil {
			p(" %s | p99 %s |", ratio(a.DeliveriesPerSec, b.DeliveriesPerSec), ratio(a.Latency.P99Ms, b.Latency.P99Ms))
		} else {
			p(" | |")
		}
		p(" | |\n")
	}
	p("\n")
	for _, s := range runs {
		for _, ph := range s.Phases {
			p("- %s, %s phase: %d/%d published in %.2f s (publish round trip p50 %.2f ms, p99 %.2f ms); %d of %d deliveries in %.2f s; latency p90 %.0f ms, p99.9 %.0f ms; CPU: server %.2f, rtbench %.2f, other work on the machine %.2f cores\n",
				s.Label, ph.Name, ph.Published, ph.Messages, ph.PublishS, ph.PublishLatency.P50Ms, ph.PublishLatency.P99Ms,
				ph.Deliveries, ph.Expected, ph.DeliveryS, ph.Latency.P90Ms, ph.Latency.P999Ms, ph.ServerCores, ph.ToolCores, ph.OthersCores)
		}
		if s.ConnectFailed > 0 {
			p("- %s: %d of %d subscribers failed to connect at the first attempt: %s", s.Label, s.ConnectFailed,
				s.Subscribers, failures(s.ConnectFailures))
			if s.RetriedConnected > 0 {
				p("; %d connected on a retry (at most %d at a time), all %d connected after %.2f s, and the fan-out was measured with them",
					s.RetriedConnected, retryConc(s), s.Connected, s.ConnectAllS)
			}
			p("\n")
		}
		if s.Dropped > 0 {
			p("- %s: %d connections dropped during the run: %s\n", s.Label, s.Dropped, failures(s.DropCauses))
		}
		for _, x := range s.Invalid {
			p("- %s: error: %s\n", s.Label, x)
		}
	}

	if gh != nil && pp != nil {
		p("\nThe issue's figures, Gatehouse against tuned Pushpin in this run")
		if gh.Subscribers != issueSubscribers {
			p(" (**with %d subscribers, not the issue's %d: indicative only**)", gh.Subscribers, issueSubscribers)
		}
		p(":\n\n")
		memOK := gh.KBPerConnection <= maxKBPerConn && gh.KBPerConnection <= pp.KBPerConnection*memRatio
		p("- **%s** memory per held SSE connection: %.1f KB (at most %.0f KB and a third of Pushpin's %.1f KB = %.1f KB)\n",
			verdict(memOK), gh.KBPerConnection, maxKBPerConn, pp.KBPerConnection, pp.KBPerConnection*memRatio)
		if a, b := gh.phase("paced"), pp.phase("paced"); a != nil && b != nil {
			ok := a.Complete && a.Latency.P99Ms <= b.Latency.P99Ms*p99Ratio
			p("- **%s** publish-to-receipt p99: %.0f ms (at most a third of Pushpin's %.0f ms = %.0f ms)\n",
				verdict(ok), a.Latency.P99Ms, b.Latency.P99Ms, b.Latency.P99Ms*p99Ratio)
		}
		if a, b := gh.phase("flood"), pp.phase("flood"); a != nil && b != nil {
			ok := a.Complete && a.DeliveriesPerSec >= b.DeliveriesPerSec*throughputRatio
			p("- **%s** sustained deliveries per second: %.0f (at least 2.5× Pushpin's %.0f = %.0f)\n",
				verdict(ok), a.DeliveriesPerSec, b.DeliveriesPerSec, b.DeliveriesPerSec*throughputRatio)
		}
		clean := gh.Lost == 0 && gh.Duplicated == 0 && gh.Reordered == 0 && gh.Dropped == 0 && gh.BadLines == 0
		p("- **%s** nothing lost, duplicated or reordered: %d lost, %d duplicated, %d reordered, %d connections dropped (Pushpin: %d / %d / %d / %d)\n",
			verdict(clean), gh.Lost, gh.Duplicated, gh.Reordered, gh.Dropped, pp.Lost, pp.Duplicated, pp.Reordered, pp.Dropped)
		connOK := gh.ConnectFailed == 0 && gh.Connected == gh.Subscribers && gh.ConnectS < maxConnectS
		p("- **%s** %d subscribers connected in %.3f s with %d failures (under %.0f s, none failed; Pushpin: %.3f s, %d failed)\n",
			verdict(connOK), gh.Subscribers, gh.ConnectS, gh.ConnectFailed, maxConnectS, pp.ConnectS, pp.ConnectFailed)
	}

	p("\n")
	if m["cpu_model"] != "" || m["nproc"] != "" {
		p("- Machine: %s CPUs, %s; Linux %s; load average at the start %s\n",
			docsection.Or(m["nproc"], "?"), docsection.Or(m["cpu_model"], "unknown CPU"), docsection.Or(m["kernel"], "?"), docsection.Or(m["loadavg"], "?"))
	}
	if m["pinning"] != "" {
		p("- Pinning: %s\n", m["pinning"])
	}
	if m["nofile"] != "" {
		p("- Open files: %s\n", m["nofile"])
	}
	if m["pushpin"] != "" {
		p("- Pushpin: %s\n", m["pushpin"])
	}
	if m["gatehouse"] != "" {
		p("- Gatehouse: %s\n", m["gatehouse"])
	}
	if m["gatehouse_rev"] != "" || m["go"] != "" {
		p("- Built: %s, %s\n", docsection.Or(m["gatehouse_rev"], "unknown revision"), docsection.Or(m["go"], "unknown Go"))
	}
	if m["command"] != "" {
		p("- Command: `%s`\n", m["command"])
	}
}

func retryConc(s *Summary) int {
	if s.RetryConcurrency > 0 {
		return s.RetryConcurrency
	}
	return 100
}

func failures(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%d × %s", m[k], k))
	}
	return strings.Join(parts, "; ")
}
