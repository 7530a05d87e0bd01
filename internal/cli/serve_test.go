package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
)

func TestServeBadSettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.run("serve", "--log-level", "loud", "--data-dir", t.TempDir())
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: invalid node settings\n  flag --log-level: ") {
		t.Errorf("got %+v", r)
	}
	if r := h.run("serve", "extra"); r.code != 2 {
		t.Errorf("serve with an argument: %+v", r)
	}
}

// TestServe starts a real node in-process on free ports, asks it for its status through the
// CLI, and stops it by cancelling the context as a signal would. The end-to-end suite
// covers the node itself; this checks the wiring of serve.
func TestServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	t.Parallel()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addrs.json")
	const token = "gha_servetest_abcdefghijklmnopqrstuvwxyz234567"
	env := map[string]string{"GATEHOUSE_ADMIN_TOKEN": token, "GATEHOUSE_TOKEN": token}
	getenv := func(k string) string { return env[k] }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--proxy-addr", "127.0.0.1:0",
			"--admin-addr", "127.0.0.1:0", "--portal-addr", "127.0.0.1:0", "--addr-file", addrFile, "--log-level", "warn"},
			getenv, strings.NewReader(""), &stdout, &stderr)
	}()

	var addrs struct{ Admin string }
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(b, &addrs) == nil && addrs.Admin != "" {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before listening\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not write its addresses in time")
		}
	}

	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), []string{"--admin-url", "http://" + addrs.Admin, "status", "-o", "json"},
		getenv, strings.NewReader(""), &out, &errb)
	var st struct {
		Version string
		Ready   bool
	}
	if code != 0 || json.Unmarshal(out.Bytes(), &st) != nil || !st.Ready || st.Version == "" {
		t.Errorf("status: exit %d, stdout %s, stderr %s", code, &out, &errb)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d after cancel\nstderr:\n%s", code, &stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}
