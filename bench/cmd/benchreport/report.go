package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/docsection"
)

// The target ids run.sh writes; the ratios and the checks refer to them.
const (
	idOrigin    = "origin"
	idNginx     = "nginx"
	idCaddy     = "caddy"
	idGatehouse = "gatehouse"
	idPolicies  = "gatehouse-policies"
)

// Markers delimit the generated section of docs/benchmarks.md.
const (
	markerStart = "<!-- bench:gateway:start -->"
	markerEnd   = "<!-- bench:gateway:end -->"
)

// sample is one measured wrk run of one target.
type sample struct {
	Round       int
	Wrk         wrkResult
	ServerUser  int64   // utime of the server under test over the run, in clock ticks
	ServerSys   int64   // its stime
	ServerTicks int64   // both
	OriginTicks int64   // utime+stime of the origin
	Wall        float64 // seconds between the two CPU readings

	// From /proc/stat: the busy and total ticks of the server CPU and of wrk's CPU.
	ServerCPU, ClientCPU cpuUse
}

// cpuUse is how much of one CPU was busy over a run, in clock ticks.
type cpuUse struct{ Busy, Total int64 }

// target is one row of the table: a server measured in every round, or skipped.
type target struct {
	ID      string
	Label   string
	Skipped string // why it was not measured; empty when it was
	Samples []sample
}

// run is everything one invocation of run.sh measured.
type run struct {
	Targets []*target // in the order run.sh first reported them
	Meta    map[string]string
	ClkTck  float64 // clock ticks per second, for /proc/<pid>/stat
}

// loadRun reads results.tsv and meta.env from dir, the layout run.sh writes.
func loadRun(dir string) (*run, error) {
	meta, err := readMeta(filepath.Join(dir, "meta.env"))
	if err != nil {
		return nil, err
	}
	clk, err := strconv.ParseFloat(meta["clk_tck"], 64)
	if err != nil || clk <= 0 {
		return nil, fmt.Errorf("meta.env: bad clk_tck %q", meta["clk_tck"])
	}
	f, err := os.Open(filepath.Join(dir, "results.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &run{Meta: meta, ClkTck: clk}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := r.addLine(dir, sc.Text()); err != nil {
			return nil, fmt.Errorf("results.tsv:%d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(r.Targets) == 0 {
		return nil, errors.New("results.tsv: no targets")
	}
	return r, nil
}

// addLine reads one line of results.tsv: id, label, round, status, detail, server utime,
// server stime, origin ticks, wall nanoseconds, /proc/stat file; tab-separated. For status "ok" the
// detail is the file holding wrk's output; for "skipped" it is the reason.
func (r *run) addLine(dir, line string) error {
	f := strings.Split(line, "\t")
	if len(f) != 10 {
		return fmt.Errorf("want 10 tab-separated fields, got %d", len(f))
	}
	t := r.target(f[0])
	if t == nil {
		t = &target{ID: f[0], Label: f[1]}
		r.Targets = append(r.Targets, t)
	}
	switch f[3] {
	case "skipped":
		t.Skipped = f[4]
		return nil
	case "ok":
	default:
		return fmt.Errorf("status %q: want ok or skipped", f[3])
	}
	round, err := strconv.Atoi(f[2])
	if err != nil {
		return fmt.Errorf("%s: bad round %q", t.ID, f[2])
	}
	out, err := os.ReadFile(filepath.Join(dir, f[4]))
	if err != nil {
		return err
	}
	s := sample{Round: round}
	if s.Wrk, err = parseWrk(string(out)); err != nil {
		return fmt.Errorf("%s: %s: %w", t.ID, f[4], err)
	}
	nums := make([]int64, 4)
	for i, v := range f[5:9] {
		if nums[i], err = strconv.ParseInt(v, 10, 64); err != nil || nums[i] < 0 {
			return fmt.Errorf("%s: bad number %q", t.ID, v)
		}
	}
	s.ServerUser, s.ServerSys, s.OriginTicks, s.Wall = nums[0], nums[1], nums[2], float64(nums[3])/1e9
	s.ServerTicks = s.ServerUser + s.ServerSys
	stat, err := os.ReadFile(filepath.Join(dir, f[9]))
	if err != nil {
		return err
	}
	if s.ServerCPU, s.ClientCPU, err = parseCPUStat(string(stat)); err != nil {
		return fmt.Errorf("%s: %s: %w", t.ID, f[9], err)
	}
	t.Samples = append(t.Samples, s)
	return nil
}

// parseCPUStat reads the lines run.sh copies from /proc/stat around a run,
// "before|after server|client cpuN user nice system idle iowait irq softirq steal ...",
// and returns how busy the server and the client CPU were between the two.
func parseCPUStat(text string) (server, client cpuUse, err error) {
	type key struct{ when, role string }
	seen := map[key]cpuUse{}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 11 || !strings.HasPrefix(f[2], "cpu") {
			return server, client, fmt.Errorf("bad line %q", strings.TrimSpace(line))
		}
		var v [8]int64 // user nice system idle iowait irq softirq steal; guest is within user
		for i := range v {
			if v[i], err = strconv.ParseInt(f[3+i], 10, 64); err != nil {
				return server, client, fmt.Errorf("bad line %q", strings.TrimSpace(line))
			}
		}
		var u cpuUse
		for _, x := range v {
			u.Total += x
		}
		u.Busy = u.Total - v[3] - v[4]
		seen[key{f[0], f[1]}] = u
	}
	diff := func(role string) (cpuUse, error) {
		b, ok1 := seen[key{"before", role}]
		a, ok2 := seen[key{"after", role}]
		if !ok1 || !ok2 {
			return cpuUse{}, fmt.Errorf("no before and after lines for the %s CPU", role)
		}
		return cpuUse{Busy: a.Busy - b.Busy, Total: a.Total - b.Total}, nil
	}
	if server, err = diff("server"); err != nil {
		return server, client, err
	}
	client, err = diff("client")
	return server, client, err
}

func readMeta(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

func (r *run) target(id string) *target {
	for _, t := range r.Targets {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// measured returns the target with that id if it has samples, else nil.
func (r *run) measured(id string) *target {
	if t := r.target(id); t != nil && t.Skipped == "" && len(t.Samples) > 0 {
		return t
	}
	return nil
}

// perReq is CPU time in microseconds per request completed in s.
func (r *run) perReq(ticks int64, s sample) float64 {
	if s.Wrk.Requests == 0 {
		return 0
	}
	return float64(ticks) / r.ClkTck / float64(s.Wrk.Requests) * 1e6
}

// share is CPU time as a fraction of one core over the wall time of s.
func (r *run) share(ticks int64, s sample) float64 {
	return ratio(float64(ticks)/r.ClkTck, s.Wall)
}

// stats are a target's numbers over its rounds: medians, so one round disturbed by
// something else on the machine does not move the result.
type stats struct {
	RPS         float64
	P50, P75    time.Duration
	P90, P99    time.Duration
	CPU         float64   // the server's CPU µs/request; the origin's for the origin row
	UserCPU     float64   // the server's user CPU µs/request
	SysCPU      float64   // the server's system CPU µs/request
	CPUs        []float64 // CPU per round, in round order
	P99s        []time.Duration
	OriginCPU   float64   // the origin's CPU µs/request
	ServerShare float64   // the server's CPU, fraction of one core
	OthersByRd  []float64 // per round: the fraction of the server CPU busy with neither server nor origin
	ClientBusy  float64   // fraction of wrk's CPU that was busy
	Requests    int64     // all rounds
	Errors      int64     // all rounds
}

func (r *run) stats(t *target) stats {
	var st stats
	var rps, cpu, ucpu, scpu, ocpu, sshare, others, client []float64
	var p50, p75, p90, p99 []time.Duration
	for _, s := range t.Samples {
		rps = append(rps, s.Wrk.RPS)
		p50, p75 = append(p50, s.Wrk.P50), append(p75, s.Wrk.P75)
		p90, p99 = append(p90, s.Wrk.P90), append(p99, s.Wrk.P99)
		c := r.perReq(s.ServerTicks, s)
		if t.ID == idOrigin {
			c = r.perReq(s.OriginTicks, s)
		}
		cpu = append(cpu, c)
		ucpu, scpu = append(ucpu, r.perReq(s.ServerUser, s)), append(scpu, r.perReq(s.ServerSys, s))
		ocpu = append(ocpu, r.perReq(s.OriginTicks, s))
		sshare = append(sshare, r.share(s.ServerTicks, s))
		ours := s.ServerTicks + s.OriginTicks
		if t.ID == idOrigin {
			ours = s.OriginTicks
		}
		others = append(others, max(0, ratio(float64(s.ServerCPU.Busy-ours), float64(s.ServerCPU.Total))))
		client = append(client, ratio(float64(s.ClientCPU.Busy), float64(s.ClientCPU.Total)))
		st.Requests += s.Wrk.Requests
		st.Errors += s.Wrk.Errors()
	}
	st.CPUs, st.P99s = slices.Clone(cpu), slices.Clone(p99)
	st.RPS, st.CPU, st.OriginCPU = median(rps), median(cpu), median(ocpu)
	st.UserCPU, st.SysCPU = median(ucpu), median(scpu)
	st.ServerShare = median(sshare)
	st.OthersByRd, st.ClientBusy = others, median(client)
	st.P50, st.P75, st.P90, st.P99 = medianDur(p50), medianDur(p75), medianDur(p90), medianDur(p99)
	return st
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// Validate fails when a measured target had errors: its numbers would mean nothing.
func (r *run) Validate() error {
	var errs []error
	for _, t := range r.Targets {
		for _, s := range t.Samples {
			if s.Wrk.Errors() > 0 {
				errs = append(errs, fmt.Errorf("%s, round %d: %s", t.Label, s.Round, s.Wrk.ErrorSummary()))
			}
			if s.Wrk.Requests == 0 {
				errs = append(errs, fmt.Errorf("%s, round %d: no request completed", t.Label, s.Round))
			}
		}
	}
	return errors.Join(errs...)
}

// disturbedAbove is the share of the server CPU taken by other processes beyond which a
// measurement is reported as disturbed.
const disturbedAbove = 0.10

// Warnings says which measurements other processes disturbed, so nobody reads noise as a
// result.
func (r *run) Warnings() []string {
	var out []string
	for _, t := range r.Targets {
		if t.Skipped != "" || len(t.Samples) == 0 {
			continue
		}
		st := r.stats(t)
		var bad []string
		for i, o := range st.OthersByRd {
			if o > disturbedAbove {
				bad = append(bad, fmt.Sprintf("round %d: %.0f%%", t.Samples[i].Round, 100*o))
			}
		}
		if len(bad) == 0 {
			continue
		}
		advice := "the median absorbs a minority of disturbed rounds."
		if 2*len(bad) >= len(st.OthersByRd) {
			advice = "that is most of its rounds: rerun on a quieter machine."
		}
		out = append(out, fmt.Sprintf("other processes took more than %.0f%% of CPU %s while %s was measured (%s); %s",
			100*disturbedAbove, r.Meta["server_cpu"], t.Label, strings.Join(bad, ", "), advice))
	}
	return out
}

// check is one line of the figure.
type check struct {
	Status string // PASS, FAIL or SKIP
	Text   string
}

// Checks compares Gatehouse with the figure: CPU per request at most 2.0× nginx's
// and at most half of Caddy's, p99 no worse than Caddy's.
func (r *run) Checks() []check {
	gh, ng, cd := r.measured(idGatehouse), r.measured(idNginx), r.measured(idCaddy)
	var out []check
	cpuCheck := func(name string, ref *target, limit float64) {
		text := fmt.Sprintf("Gatehouse CPU/request ≤ %.1f× %s's", limit, name)
		if gh == nil || ref == nil || r.stats(ref).CPU == 0 {
			out = append(out, check{"SKIP", text + ": not measured"})
			return
		}
		g, n := r.stats(gh).CPU, r.stats(ref).CPU
		out = append(out, check{passFail(g <= limit*n), fmt.Sprintf("%s: %.2f× (%.1f µs vs %.1f µs)", text, g/n, g, n)})
	}
	cpuCheck("nginx", ng, 2.0)
	cpuCheck("Caddy", cd, 0.5)
	text := "Gatehouse p99 ≤ Caddy's p99"
	if gh == nil || cd == nil || r.stats(cd).P99 == 0 {
		out = append(out, check{"SKIP", text + ": not measured"})
	} else {
		g, c := r.stats(gh).P99, r.stats(cd).P99
		out = append(out, check{passFail(g <= c), fmt.Sprintf("%s: %.2f× (%s vs %s)", text, ratio(g.Seconds(), c.Seconds()), ms(g), ms(c))})
	}
	// Issue 4's figure: key-auth + rate limit + quota cost at most 1.3× the CPU per request
	// of the same gateway with no policies.
	text = "Gatehouse with key-auth + rate limit + quota CPU/request ≤ 1.3× without policies"
	if pol := r.measured(idPolicies); gh == nil || pol == nil || r.stats(gh).CPU == 0 {
		out = append(out, check{"SKIP", text + ": not measured"})
	} else {
		p, g := r.stats(pol).CPU, r.stats(gh).CPU
		out = append(out, check{passFail(p <= 1.3*g), fmt.Sprintf("%s: %.2f× (%.1f µs vs %.1f µs)", text, p/g, p, g)})
	}
	return out
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func fmtRatio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func joinf(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

func joinms(ds []time.Duration) string {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d) / float64(time.Millisecond)
	}
	return joinf(xs, "%.2f")
}

// WriteMarkdown writes the results section: the table, the checks, the details and the
// environment, so that it stands on its own in docs/benchmarks.md.
func (r *run) WriteMarkdown(w io.Writer) {
	m := r.Meta
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("Measured %s. Every target: %s round(s), each a %s s warm-up and %s s measured with "+
		"`wrk -t%s -c%s --latency`, a small `GET /` over keep-alive connections; the rounds are "+
		"interleaved across targets and every number is the median over the rounds.\n\n",
		m["date"], m["rounds"], m["warmup"], m["duration"], m["threads"], m["connections"])

	var ng stats
	haveNginx := r.measured(idNginx) != nil
	if haveNginx {
		ng = r.stats(r.measured(idNginx))
	}
	p("| target | req/s | p50 | p99 | CPU/request | req/s vs nginx | p50 vs nginx | p99 vs nginx | CPU/request vs nginx |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.Targets {
		if t.Skipped != "" || len(t.Samples) == 0 {
			p("| %s | %s | | | | | | | |\n", t.Label, cmp.Or(t.Skipped, "not measured"))
			continue
		}
		st := r.stats(t)
		rr, r50, r99, rc := "n/a", "n/a", "n/a", "n/a"
		if haveNginx {
			rr = fmtRatio(st.RPS, ng.RPS)
			r50 = fmtRatio(st.P50.Seconds(), ng.P50.Seconds())
			r99 = fmtRatio(st.P99.Seconds(), ng.P99.Seconds())
			rc = fmtRatio(st.CPU, ng.CPU)
		}
		p("| %s | %.0f | %s | %s | %.1f µs | %s | %s | %s | %s |\n",
			t.Label, st.RPS, ms(st.P50), ms(st.P99), st.CPU, rr, r50, r99, rc)
	}
	p("\nCPU/request: the server's own user+system CPU time (`/proc/<pid>/stat`, all its " +
		"processes and threads) over a measured run, divided by the requests wrk completed in it; " +
		"for \"origin direct\" it is the origin's.\n\n")

	p("The issue's figure, for Gatehouse without policies:\n\n")
	for _, c := range r.Checks() {
		p("- **%s** %s\n", c.Status, c.Text)
	}
	for _, wn := range r.Warnings() {
		p("\n**Warning:** %s\n", wn)
	}

	p("\n<details><summary>Details per target</summary>\n\n")
	p("| target | requests | CPU/request: user + system | CPU/request by round (µs) | p99 by round (ms) | p75 | p90 | "+
		"server CPU (of one core) | origin CPU/request | CPU %s taken by others, by round | CPU %s busy (wrk) | errors |\n",
		m["server_cpu"], m["client_cpu"])
	p("|---|---:|---:|---|---|---:|---:|---:|---:|---|---:|---:|\n")
	for _, t := range r.Targets {
		if t.Skipped != "" || len(t.Samples) == 0 {
			continue
		}
		st := r.stats(t)
		others := make([]float64, len(st.OthersByRd))
		for i, o := range st.OthersByRd {
			others[i] = 100 * o
		}
		p("| %s | %d | %.1f + %.1f µs | %s | %s | %s | %s | %.0f%% | %.1f µs | %s | %.0f%% | %d |\n",
			t.Label, st.Requests, st.UserCPU, st.SysCPU, joinf(st.CPUs, "%.1f"), joinms(st.P99s),
			ms(st.P75), ms(st.P90), 100*st.ServerShare, st.OriginCPU, joinf(others, "%.0f%%"), 100*st.ClientBusy, st.Errors)
	}
	p("\nMedians over the rounds, except where the column says \"by round\". Server CPU is the server's "+
		"share of CPU %s (the origin has most of the rest); \"taken by others\" is the time CPU %s was busy "+
		"with neither server nor origin (other processes, the hypervisor), from `/proc/stat`.\n",
		m["server_cpu"], m["server_cpu"])
	p("\n</details>\n\n")

	p("- Machine: %s CPUs, %s; Linux %s; load average at the start %s\n", m["nproc"], m["cpu_model"], m["kernel"], m["loadavg"])
	p("- Pinning: the origin and the server under test on CPU %s, wrk on CPU %s; Caddy and Gatehouse with `GOMAXPROCS=1`\n",
		m["server_cpu"], m["client_cpu"])
	p("- Versions: %s; Caddy %s (built with %s); Gatehouse built with %s; %s\n", m["nginx"], m["caddy"], m["caddy_go"], m["go"], m["wrk"])
	p("- Gatehouse: %s\n", m["gatehouse_rev"])
	if m["baseline_bin"] != "" {
		p("- Gatehouse baseline: the binary %s\n", m["baseline_bin"])
	}
	p("- Command: `%s`\n", m["command"])
}

// replaceSection puts body between this report's markers of doc.
func replaceSection(doc, body string) (string, error) {
	return docsection.Replace(doc, markerStart, markerEnd, body)
}

// updateDoc rewrites this report's section in the file at path, atomically.
func updateDoc(path, body string) error { return docsection.Update(path, markerStart, markerEnd, body) }
