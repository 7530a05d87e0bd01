package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/bench/internal/benchcli"
	"github.com/gatehouse-dev/gatehouse/bench/internal/docsection"
)

// Markers delimit limitcheck's generated section of docs/benchmarks.md.
const (
	markerStart = "<!-- bench:redis-limit:start -->"
	markerEnd   = "<!-- bench:redis-limit:end -->"
)

// report prints the markdown of the runs' summaries and, with -docs, writes it between the
// markers. An invalid run makes it exit 1 and leave the document alone.
func report(args []string, stdout, stderr io.Writer) error {
	rep, err := benchcli.ParseReport[Summary](args, stderr, "date, machine, versions, command (see bench/redis-limit.sh)")
	if err != nil {
		return err
	}
	runs, m := rep.Runs, rep.Meta
	var md bytes.Buffer
	writeMarkdown(&md, runs, m)
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	var invalid []string
	for i, s := range runs {
		if !s.Valid {
			invalid = append(invalid, fmt.Sprintf("run %d: %s", i+1, strings.Join(s.Invalid, "; ")))
		}
	}
	if len(invalid) > 0 {
		return fmt.Errorf("\n\n!!! ERRORS DURING THE RUN: these numbers are not valid results !!!\n%s", strings.Join(invalid, "\n"))
	}
	if rep.Docs != "" {
		if err := updateDoc(rep.Docs, md.String()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote the results into %s\n", rep.Docs)
	}
	return nil
}

// writeMarkdown is the section of docs/benchmarks.md: what ran, a row per run, the verdict
// per run against the figure, and the machine.
func writeMarkdown(w io.Writer, runs []*Summary, m map[string]string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	if len(runs) == 0 {
		return
	}
	r0 := runs[0]
	p("Measured %s. %s Gatehouse processes (`limits.backend: %s`, `limits.fallback: closed`), each with one published API at `/` "+
		"and `%s`; `limitcheck` offered %.0f req/s open-loop, split evenly (round-robin) over the nodes, "+
		"%d keep-alive connections per node. Each run: %gs of the same load uncounted (warm-up), %gs pause "+
		"(the bucket refills), then %gs measured.\n\n",
		docsection.Or(m["date"], r0.Started), docsection.Or(m["nodes"], fmt.Sprint(len(r0.Nodes))), docsection.Or(m["backend"], "redis"),
		docsection.Or(m["policy"], fmt.Sprintf("rate-limit {limit: %d, window: %gs}", r0.Limit, r0.WindowS)),
		r0.TargetRPS, r0.ConnectionsPerNode, r0.WarmupS, r0.SettleS, r0.RequestedDurationS)

	p("| run | sent | achieved req/s | D (first to last sent) | allowed (200) | expected | error | 429 |")
	for i := range r0.Nodes {
		p(" node %d: sent / 200 / 429 |", i+1)
	}
	p(" send lag p99 | latency p50 / p99 | load tool CPU | result |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|")
	for range r0.Nodes {
		p("---|")
	}
	p("---:|---|---:|---|\n")
	for i, s := range runs {
		p("| %d | %d | %.0f | %.3f s | %d | %.0f | %+.2f%% | %d |", i+1, s.Sent, s.AchievedRPS, s.DurationS,
			s.OK, s.Expected, s.ErrorPct, s.Limited)
		for _, n := range s.Nodes {
			p(" %d / %d / %d", n.Sent, n.OK, n.Limited)
			if n.Other > 0 || n.Errors > 0 {
				p(" (+%d other, %d errors)", n.Other, n.Errors)
			}
			p(" |")
		}
		p(" %.2f ms | %.2f / %.2f ms | %.2f cores | %s |\n", s.SendLagMs.P99, s.LatencyMs.P50, s.LatencyMs.P99,
			s.ClientCPUCores, s.Verdict())
	}
	writeCPUTable(w, runs)
	p("\nExpected is GCRA's allowance over the run: `limit × D / window + burst` = `%d × D / %gs + %d`; "+
		"error is `(allowed − expected) / expected`.\n\n", r0.Limit, r0.WindowS, r0.Burst)

	p("The issue's figure, \"Redis-backed rate limiting holds its limit within %g%% at %.0f requests per second across %d gateway processes\":\n\n",
		r0.MaxErrorPct, r0.TargetRPS, len(r0.Nodes))
	for i, s := range runs {
		p("- **%s** run %d: allowed %d vs expected %.0f, %+.2f%% (within ±%g%%: %s), at %.0f req/s achieved",
			s.Verdict(), i+1, s.OK, s.Expected, s.ErrorPct, s.MaxErrorPct, yesNo(s.Pass), s.AchievedRPS)
		if s.BucketRefills == 0 {
			p("; the bucket never full again after the start (the 200s' `RateLimit` headers)")
		}
		p("\n")
		for _, x := range s.Warnings {
			p("  - warning: %s\n", x)
		}
		for _, x := range s.Invalid {
			p("  - invalid: %s\n", x)
		}
	}
	p("\n")
	if m["cpu_model"] != "" || m["nproc"] != "" {
		p("- Machine: %s CPUs, %s; Linux %s; load average at the start %s; nothing pinned (the nodes, Redis, the origin and the load tool share the cores)\n",
			docsection.Or(m["nproc"], "?"), docsection.Or(m["cpu_model"], "unknown CPU"), docsection.Or(m["kernel"], "?"), docsection.Or(m["loadavg"], "?"))
	}
	if m["redis"] != "" || m["go"] != "" {
		p("- Versions: Redis %s; Gatehouse built with %s\n", docsection.Or(m["redis"], "unknown"), docsection.Or(m["go"], "unknown Go"))
	}
	if m["gatehouse_rev"] != "" {
		p("- Gatehouse: %s\n", m["gatehouse_rev"])
	}
	if m["command"] != "" {
		p("- Command: `%s`\n", m["command"])
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// replaceSection puts body between this report's markers of doc.
func replaceSection(doc, body string) (string, error) {
	return docsection.Replace(doc, markerStart, markerEnd, body)
}

// updateDoc rewrites this report's section in the file at path, atomically.
func updateDoc(path, body string) error { return docsection.Update(path, markerStart, markerEnd, body) }

// writeCPUTable shows where the machine's CPU went in each run, in cores (average over the
// measured run), when the runs measured it.
func writeCPUTable(w io.Writer, runs []*Summary) {
	c0 := runs[0].CPU
	if c0 == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\nCPU over the measured run, in cores (of %d):\n\n| run | machine busy |", c0.NCPU)
	for _, pc := range c0.Procs {
		p(" %s |", pc.Label)
	}
	p(" Redis | limitcheck | others |\n|---:|---:|")
	for range c0.Procs {
		p("---:|")
	}
	p("---:|---:|---:|\n")
	for i, s := range runs {
		c := s.CPU
		if c == nil || len(c.Procs) != len(c0.Procs) {
			continue
		}
		p("| %d | %.2f |", i+1, c.MachineCores)
		for _, pc := range c.Procs {
			p(" %.2f |", pc.Cores)
		}
		redis := "?"
		if c.RedisCores != nil {
			redis = fmt.Sprintf("%.2f", *c.RedisCores)
		}
		p(" %s | %.2f | %.2f |\n", redis, c.ToolCores, c.OthersCores)
	}
	p("\n\"Others\" is the machine's busy time (`/proc/stat`) that none of the processes explain: other work on the machine, kernel threads, the hypervisor.\n")
}
