// Package e2e holds black-box tests: they build the real gatehouse binary, start it on
// loopback ":0" ports and drive it only through its listeners and its CLI.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the gatehouse executable built once for the whole run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is a running `gatehouse serve`.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  *logtest.Buffer
	stderr  *logtest.Buffer
	addrs   map[string]string
	token   string
	dataDir string
	done    chan error
}

func (n *node) proxy() string  { return "http://" + n.addrs["proxy"] }
func (n *node) admin() string  { return "http://" + n.addrs["admin"] }
func (n *node) portal() string { return "http://" + n.addrs["portal"] }

// start runs `gatehouse serve` on :0 ports with dataDir and waits until /healthz answers.
// token is GATEHOUSE_ADMIN_TOKEN ("" lets the server generate one).
func start(t *testing.T, dataDir, token string, extra ...string) *node {
	t.Helper()
	addrFile := filepath.Join(dataDir, "addrs.json")
	os.Remove(addrFile)
	args := append([]string{"serve",
		"--data-dir", dataDir,
		"--proxy-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--portal-addr", "127.0.0.1:0",
		"--addr-file", addrFile, "--log-format", "json", "--shutdown-timeout", "10s",
	}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN="+token)
	n := &node{t: t, cmd: cmd, stdout: &logtest.Buffer{}, stderr: &logtest.Buffer{}, token: token, dataDir: dataDir, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = n.stdout, n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- cmd.Wait() }()
	t.Cleanup(func() { n.stop() })

	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(b, &n.addrs) == nil {
			if resp, err := http.Get(n.admin() + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return n
				}
			}
		}
		select {
		case err := <-n.done:
			t.Fatalf("gatehouse exited early: %v\nstdout:\n%s\nstderr:\n%s", err, n.stdout, n.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse did not become healthy\nstderr:\n%s", n.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit (idempotent).
func (n *node) stop() error {
	if n.cmd.ProcessState != nil {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		n.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		n.t.Errorf("gatehouse did not stop within 30s of SIGTERM")
		return <-n.done
	}
}

// wait waits for the process to exit on its own (after a signal the test sent itself).
func (n *node) wait(timeout time.Duration) error {
	select {
	case err := <-n.done:
		n.done <- err
		return err
	case <-time.After(timeout):
		n.t.Errorf("gatehouse did not exit within %s", timeout)
		_ = n.cmd.Process.Kill()
		return <-n.done
	}
}

// cli runs the gatehouse CLI against this node; it returns stdout, stderr and the exit code.
func (n *node) cli(stdin string, args ...string) (string, string, int) {
	n.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_URL="+n.admin(), "GATEHOUSE_TOKEN="+n.token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustCLI runs the CLI and fails the test on a non-zero exit.
func (n *node) mustCLI(stdin string, args ...string) string {
	n.t.Helper()
	out, errOut, code := n.cli(stdin, args...)
	if code != 0 {
		n.t.Fatalf("gatehouse %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// call makes an admin API request and decodes a JSON answer into out (if non-nil).
func (n *node) call(method, path string, body any, out any, headers ...string) *http.Response {
	n.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		r = bytes.NewReader(js)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, n.admin()+path, r)
	req.Header.Set("Authorization", "Bearer "+n.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			n.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func (n *node) revision() int64 {
	n.t.Helper()
	var s struct {
		Revision int64 `json:"revision"`
	}
	n.call("GET", "/v1/status", nil, &s)
	return s.Revision
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
