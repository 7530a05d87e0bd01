package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/bench/internal/benchcli"
	"github.com/gatehouse-dev/gatehouse/bench/internal/docsection"
	"github.com/gatehouse-dev/gatehouse/bench/internal/loadgen"
)

// The generated section of docs/benchmarks.md.
const (
	markerStart = "<!-- bench:analytics-load:start -->"
	markerEnd   = "<!-- bench:analytics-load:end -->"
)

// report prints the markdown section for the results, and with -docs writes it into the
// file between the markers.
func report(args []string, stdout, stderr io.Writer) error {
	rep, err := benchcli.ParseReport[Result](args, stderr, "date, machine, pinning, command (see bench/analytics-load.sh)")
	if err != nil {
		return err
	}
	var b strings.Builder
	writeReport(&b, rep.Meta, rep.Runs)
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return err
	}
	if rep.Docs != "" {
		return docsection.Update(rep.Docs, markerStart, markerEnd, b.String())
	}
	return nil
}

// writeReport is the section: a table of the runs, the figure, the machine.
func writeReport(w io.Writer, m map[string]string, runs []*Result) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	r0 := runs[0]
	p("Measured %s. One Gatehouse node (SQLite, analytics on with its defaults) on %s, the origin on %s, `loadcount` on %s; "+
		"%.0f req/s offered open-loop for %.0f s over %d keep-alive connections, to one API per scenario.\n\n",
		docsection.Or(m["date"], r0.Started), docsection.Or(m["server_cpu"], "one core"), docsection.Or(m["origin_cpu"], docsection.Or(m["server_cpu"], "one core")),
		docsection.Or(m["client_cpu"], "another"),
		r0.TargetRPS, r0.RequestedDurationS, r0.Connections)
	p("| scenario | sent | achieved req/s | answered (by status) | transport errors | analytics count | equal | equal after | " +
		"analytics errors / 5xx | events dropped | latency p50 / p99 / max | cores: gateway / origin / loadcount / others | result |\n")
	p("|---|---:|---:|---|---:|---:|---|---:|---:|---:|---|---:|---|\n")
	for _, r := range runs {
		equal := yesNo(r.Equal)
		if r.StillEqual != nil {
			equal += fmt.Sprintf(", %s %.0f s later", yesNo(*r.StillEqual), r.RecheckS)
		}
		after := "never"
		if r.Equal {
			after = fmt.Sprintf("%.2f s", r.UntilEqualS)
		}
		dropped := "?"
		if r.Dropped != nil {
			dropped = fmt.Sprint(*r.Dropped)
		}
		p("| %s | %d | %.0f | %d (%s) | %d | %d | %s | %s | %d / %d | %s | %.2f / %.2f / %.2f ms | %s | %s |\n",
			docsection.Or(r.Label, r.API), r.Sent, r.AchievedRPS, r.Answered, loadgen.StatusList(r.Statuses), r.TransportErrors,
			r.AnalyticsCount, equal, after, r.AnalyticsErrors, r.Status5xx, dropped,
			r.LatencyMs.P50, r.LatencyMs.P99, r.LatencyMs.Max, cores(r), r.Verdict())
	}
	p("\nThe analytics count is `GET /v1/analytics/totals?api=NAME` from a minute before the load to a minute after its last answer "+
		"(the node aligns both to whole minutes), minus what it had counted over the same range before the load (the readiness probes: "+
		"%s); \"equal after\" is from the load's last answer to the first query that counted them all. The recheck comes once the node "+
		"has written its rollups to the store (every 5 s). Cores are averages over the load; \"others\" is the machine's busy time "+
		"(`/proc/stat`) that none of the three explain.\n\n", baselines(runs))

	p("The issue's figure, \"an end-to-end load of %.0f requests per second for %.0f seconds whose counts in the query API equal the load generator's own count exactly\":\n\n",
		r0.TargetRPS, r0.RequestedDurationS)
	for _, r := range runs {
		sustained := r.AchievedRPS >= 0.99*r.TargetRPS && r.Sent > 0
		p("- **%s** %s: the query API counted %d, the generator %d answers", r.Verdict(), docsection.Or(r.Label, r.API), r.AnalyticsCount, r.Answered)
		if r.Baseline != 0 {
			p(" (+ %d before the load)", r.Baseline)
		}
		p("; offered %.0f req/s, achieved %.0f req/s over %.1f s (the load %s)\n", r.TargetRPS, r.AchievedRPS, r.DurationS,
			map[bool]string{true: "delivered", false: "not delivered: the rate the gateway sustained is the achieved one"}[sustained])
		for _, x := range r.Warnings {
			p("  - warning: %s\n", x)
		}
		for _, x := range r.Problems {
			p("  - %s\n", x)
		}
	}
	p("\n")
	// The run's facts, each line only when the run recorded it.
	facts := [][2]string{{"Pinning", m["pinning"]}, {"Command", m["command"]}}
	if m["cpu_model"] != "" || m["nproc"] != "" {
		facts = slices.Insert(facts, 0, [2]string{"Machine", fmt.Sprintf("%s CPUs, %s; Linux %s; load average at the start %s",
			docsection.Or(m["nproc"], "?"), docsection.Or(m["cpu_model"], "unknown CPU"), docsection.Or(m["kernel"], "?"), docsection.Or(m["loadavg"], "?"))})
	}
	if m["gatehouse_rev"] != "" || m["go"] != "" {
		facts = slices.Insert(facts, len(facts)-1, [2]string{"Gatehouse", docsection.Or(m["gatehouse_rev"], "unknown revision") +
			", built with " + docsection.Or(m["go"], "unknown Go")})
	}
	if facts[len(facts)-1][1] != "" {
		facts[len(facts)-1][1] = "`" + facts[len(facts)-1][1] + "`"
	}
	for _, f := range facts {
		if f[1] != "" {
			p("- %s: %s\n", f[0], f[1])
		}
	}
}

// cores is "gateway / origin / loadcount / others" in cores, from the -pid processes
// labelled gatehouse and origin; "?" without CPU figures.
func cores(r *Result) string {
	c := r.CPU
	if c == nil {
		return "?"
	}
	of := func(label string) string {
		for _, pc := range c.Procs {
			if pc.Label == label {
				return fmt.Sprintf("%.2f", pc.Cores)
			}
		}
		return "?"
	}
	return fmt.Sprintf("%s / %s / %.2f / %.2f", of("gatehouse"), of("origin"), c.ToolCores, c.OthersCores)
}

// baselines is each run's baseline count, "1 and 1".
func baselines(runs []*Result) string {
	var parts []string
	for _, r := range runs {
		parts = append(parts, fmt.Sprint(r.Baseline))
	}
	return strings.Join(parts, " and ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
