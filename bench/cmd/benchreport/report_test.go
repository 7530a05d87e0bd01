package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{100, 1, 2}, 2}, // one disturbed round does not move it
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseCPUStat(t *testing.T) {
	text := `before server cpu0 100 0 50 1000 10 0 5 0 0 0
before client cpu1 10 0 10 2000 0 0 0 0 0 0
after server cpu0 180 0 90 1010 10 0 15 5 0 0
after client cpu1 60 0 40 2050 0 0 0 0 0 0
`
	server, client, err := parseCPUStat(text)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuUse{Busy: 80 + 40 + 10 + 5, Total: 80 + 40 + 10 + 10 + 5}); server != want {
		t.Errorf("server = %+v, want %+v", server, want)
	}
	if want := (cpuUse{Busy: 80, Total: 130}); client != want {
		t.Errorf("client = %+v, want %+v", client, want)
	}
	for _, bad := range []string{"", "before server cpu0 1 2 3\n", "before server cpu0 1 2 3 4 5 6 7 x 9 10\n",
		strings.SplitAfterN(text, "\n", 2)[1]} {
		if _, _, err := parseCPUStat(bad); err == nil {
			t.Errorf("parseCPUStat(%q): no error", bad)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# Title\n\ntext\n" + markerStart + "\nold\nresults\n" + markerEnd + "\nafter\n"
	got, err := replaceSection(doc, "new\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n\ntext\n" + markerStart + "\nnew\n" + markerEnd + "\nafter\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"no markers", markerEnd + markerStart, markerStart} {
		if _, err := replaceSection(bad, "x"); err == nil {
			t.Errorf("replaceSection(%q): no error", bad)
		}
	}
}

// writeRun lays out a run directory as run.sh does: targets with (CPU ticks, p99) per round.
func writeRun(t *testing.T, rounds map[string][][2]int64, extraWrk string) string {
	t.Helper()
	dir := t.TempDir()
	meta := "clk_tck=100\nrounds=3\nduration=10\nwarmup=2\nthreads=1\nconnections=64\nserver_cpu=0\nclient_cpu=1\ncommand=bench/run.sh\n"
	must(t, os.WriteFile(filepath.Join(dir, "meta.env"), []byte(meta), 0o644))
	var tsv strings.Builder
	for _, id := range []string{idOrigin, idNginx, idCaddy, idGatehouse, idPolicies} {
		for i, s := range rounds[id] {
			base := fmt.Sprintf("%s.r%d", id, i+1)
			wrk := fmt.Sprintf("  Latency Distribution\n     50%%  1.00ms\n     75%%  1.50ms\n     90%%  2.00ms\n     99%%  %dms\n"+
				"  100000 requests in 10.00s, 1MB read\n%sRequests/sec:  10000.00\n", s[1], extraWrk)
			must(t, os.WriteFile(filepath.Join(dir, base+".wrk.txt"), []byte(wrk), 0o644))
			stat := "before server cpu0 0 0 0 0 0 0 0 0 0 0\nbefore client cpu1 0 0 0 0 0 0 0 0 0 0\n" +
				"after server cpu0 1000 0 0 0 0 0 0 0 0 0\nafter client cpu1 500 0 0 500 0 0 0 0 0 0\n"
			must(t, os.WriteFile(filepath.Join(dir, base+".stat.txt"), []byte(stat), 0o644))
			// A quarter of the server's CPU is user time.
			fmt.Fprintf(&tsv, "%s\t%s label\t%d\tok\t%s.wrk.txt\t%d\t%d\t%d\t10000000000\t%s.stat.txt\n",
				id, id, i+1, base, s[0]/4, s[0]-s[0]/4, 200, base)
		}
	}
	if rounds[idPolicies] == nil {
		tsv.WriteString("gatehouse-policies\tpolicies label\t0\tskipped\tskipped: not measured\t0\t0\t0\t0\t-\n")
	}
	must(t, os.WriteFile(filepath.Join(dir, "results.tsv"), []byte(tsv.String()), 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	// 100000 requests per round at 100 ticks/s: 100 ticks is 10 µs per request.
	dir := writeRun(t, map[string][][2]int64{
		idOrigin:    {{200, 1}, {200, 1}, {200, 1}},
		idNginx:     {{300, 5}, {100, 4}, {100, 6}},  // median 10 µs; the 30 µs round is noise
		idCaddy:     {{500, 9}, {500, 9}, {500, 9}},  // 50 µs
		idGatehouse: {{200, 8}, {900, 8}, {200, 10}}, // median 20 µs: 2.0× nginx, 0.4× Caddy
		idPolicies:  {{260, 8}, {250, 8}, {240, 9}},  // median 25 µs: 1.25× Gatehouse
	}, "")
	r, err := loadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.Checks() {
		got = append(got, c.Status+" "+c.Text)
	}
	want := []string{
		"PASS Gatehouse CPU/request ≤ 2.0× nginx's: 2.00× (20.0 µs vs 10.0 µs)",
		"PASS Gatehouse CPU/request ≤ 0.5× Caddy's: 0.40× (20.0 µs vs 50.0 µs)",
		"PASS Gatehouse p99 ≤ Caddy's p99: 0.89× (8.00 ms vs 9.00 ms)",
		"PASS Gatehouse with key-auth + rate limit + quota CPU/request ≤ 1.3× without policies: 1.25× (25.0 µs vs 20.0 µs)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var md bytes.Buffer
	r.WriteMarkdown(&md)
	for _, s := range []string{
		"| nginx label | 10000 | 1.00 ms | 5.00 ms | 10.0 µs | 1.00× | 1.00× | 1.00× | 1.00× |",
		"| gatehouse label | 10000 | 1.00 ms | 8.00 ms | 20.0 µs | 1.00× | 1.00× | 1.60× | 2.00× |",
		"| origin label | 10000 | 1.00 ms | 1.00 ms | 20.0 µs |", // the origin row shows the origin's CPU
		"| gatehouse-policies label | 10000 | 1.00 ms | 8.00 ms | 25.0 µs |",
		// CPU 0 was 100% busy: nginx and the origin had 30%+20%, 10%+20%, 10%+20% of it.
		"| nginx label | 300000 | 2.5 + 7.5 µs | 30.0, 10.0, 10.0 | 5.00, 4.00, 6.00 | 1.50 ms | 2.00 ms | 10% | 20.0 µs | 50%, 70%, 70% | 50% | 0 |",
	} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
	warnings := r.Warnings()
	if len(warnings) != 5 {
		t.Fatalf("want a warning per target (others took 30-80%% of CPU 0), got %q", warnings)
	}
	// Gatehouse's second round, at 90 µs/request, filled CPU 0 itself; the other two did not.
	if want := "round 1: 60%, round 3: 60%); that is most of its rounds"; !strings.Contains(warnings[3], want) {
		t.Errorf("warning %q lacks %q", warnings[3], want)
	}
}

func TestReportErrors(t *testing.T) {
	dir := writeRun(t, map[string][][2]int64{idNginx: {{100, 5}}}, "  Socket errors: connect 0, read 3, write 0, timeout 0\n")
	r, err := loadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "3 read errors") {
		t.Errorf("Validate() = %v, want the read errors", err)
	}
	for _, c := range r.Checks() {
		if c.Status != "SKIP" {
			t.Errorf("without Gatehouse, Caddy: %s %s, want SKIP", c.Status, c.Text)
		}
	}
}

func TestUpdateDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	must(t, os.WriteFile(path, []byte("intro\n"+markerStart+"\n"+markerEnd+"\n"), 0o644))
	must(t, updateDoc(path, "table\n"))
	b, err := os.ReadFile(path)
	must(t, err)
	if want := "intro\n" + markerStart + "\ntable\n" + markerEnd + "\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
	if err := updateDoc(filepath.Join(t.TempDir(), "missing.md"), "x"); err == nil {
		t.Error("updating a missing file: no error")
	}
}
