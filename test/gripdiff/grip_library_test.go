package gripdiff

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeDir installs test/gripdiff/node (package.json pins @fanoutio/grip 4.3.0, with its
// package-lock.json) into a temporary directory with `npm ci`; it skips without npm.
func nodeDir(t *testing.T) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: skipping the @fanoutio/grip test")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: skipping the @fanoutio/grip test")
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "grip.mjs"} {
		b, err := os.ReadFile(filepath.Join("node", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm ci of @fanoutio/grip 4.3.0 failed (registry unreachable?): %v\n%s", err, out)
	}
	return dir
}

func runNode(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"grip.mjs"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGripLibrary drives both peers with @fanoutio/grip 4.3.0: GripInstruct builds the
// origin's stream-hold headers, and Publisher publishes an http-stream item, an
// http-response item and a stream close (to Gatehouse with the admin token as the
// library's Bearer key, to Pushpin without authentication). Clients held on each peer
// must receive them, and the two transcripts must agree.
func TestGripLibrary(t *testing.T) {
	bin := pushpinBin(t)
	dir := nodeDir(t)

	holdJSON, err := runNode(t, dir, "hold", "lib")
	if err != nil {
		t.Fatalf("grip.mjs hold: %v\n%s", err, holdJSON)
	}
	var hold map[string]string
	if err := json.Unmarshal([]byte(holdJSON), &hold); err != nil {
		t.Fatalf("grip.mjs hold printed %q: %v", holdJSON, err)
	}
	t.Logf("GripInstruct headers: %v", hold)

	oP, oG := newOrigin(t), newOrigin(t)
	oP.libHold, oG.libHold = hold, hold
	pp := startPushpin(t, bin, oP.addr())
	g, gerr := startGatehouse(t, oG.addr())

	type run struct {
		p   peer
		o   *origin
		uri string
		key string
		s   *sc
	}
	runs := []*run{{p: pp, o: oP, uri: "http://" + pp.controlAddr + "/", key: "-"}}
	if gerr == nil {
		runs = append(runs, &run{p: g, o: oG, uri: "http://" + g.addrs["admin"] + "/", key: g.token})
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.s = runOne(context.Background(), r.p, r.o, scenario{id: "lib", run: func(s *sc) {
				st := s.open("/libhold?ch=lib")
				defer st.close()
				s.head(st, 5*time.Second)
				lp := s.open("/longpoll?ch=lib-r")
				defer lp.close()
				if !s.waitOrigin("lib-r", 1, 5*time.Second) {
					s.fatal("origin never got the long-poll")
				}
				ctxSleep(s.ctx, 300*time.Millisecond)
				out, err := runNode(t, dir, "publish", r.uri, r.key, "lib")
				s.add("grip.mjs publish: %s", strings.TrimSpace(out))
				if err != nil {
					s.fatal("grip.mjs publish: %v: %s", err, out)
				}
				end := st.waitDone(5 * time.Second)
				s.add("  stream body: %q", st.body())
				s.add("  stream end: %s", end)
				s.expect(string(st.body()) == "lib open\nlib stream\n" && end == "complete", "stream: want \"lib open\\nlib stream\\n\" ended by the close item, got %q (%s)", st.body(), end)
				resp, _ := s.head(lp, 5*time.Second)
				lp.waitDone(2 * time.Second)
				s.add("  long-poll body: %q", lp.body())
				s.expect(resp.status == 200 && string(lp.body()) == "lib response\n" && resp.get("X-Lib") == "grip", "long-poll: want 200 with X-Lib and \"lib response\\n\", got %d %q", resp.status, lp.body())
				s.originLines("lib")
				s.originLines("lib-r")
			}})
		}()
	}
	wg.Wait()
	for _, r := range runs {
		t.Run(r.p.name(), func(t *testing.T) {
			for _, n := range r.s.notes {
				t.Logf("note: %s", n)
			}
			for _, e := range r.s.errs {
				t.Errorf("%s", e)
			}
			if t.Failed() {
				t.Logf("transcript:\n%s", strings.Join(r.s.lines, "\n"))
			}
		})
	}
	t.Run("gatehouse-started", func(t *testing.T) {
		if gerr != nil {
			t.Fatalf("gatehouse did not start: %v", gerr)
		}
	})
	if len(runs) == 2 {
		t.Run("same", func(t *testing.T) {
			a, b := runs[0].s.lines, runs[1].s.lines
			if strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Errorf("Pushpin (-) and Gatehouse (+) differ:\n%s", diff(a, b))
			}
		})
	}
}
