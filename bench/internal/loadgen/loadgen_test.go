package loadgen

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	q := QuantilesOf(ds)
	if q.P50 != 50 || q.P99 != 99 || q.Max != 100 {
		t.Errorf("QuantilesOf = %+v, want p50 50, p99 99, max 100", q)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("QuantilesOf sorted its argument")
	}
	if q := QuantilesOf(nil); q != (Quantiles{}) {
		t.Errorf("QuantilesOf(nil) = %+v", q)
	}
}

func TestAchievedRate(t *testing.T) {
	if got := AchievedRate(100001, 20*time.Second); got != 5000 { // 100,000 intervals
		t.Errorf("achievedRate = %v, want 5000", got)
	}
	if got := AchievedRate(1, time.Second); got != 0 {
		t.Errorf("one request: %v, want 0", got)
	}
}

func TestPace(t *testing.T) {
	start := time.Now()
	var dues []time.Duration
	n := Pace(context.Background(), start, 1000, 100, func(i int64, due time.Duration) {
		if int64(len(dues)) != i {
			t.Fatalf("request %d dispatched as %d", len(dues), i)
		}
		if lag := time.Since(start) - due; lag < 0 {
			t.Errorf("request %d dispatched %s early", i, -lag)
		}
		dues = append(dues, due)
	})
	if n != 100 || len(dues) != 100 || dues[99] != 99*time.Millisecond {
		t.Errorf("dispatched %d, last due %s; want 100 and 99ms", n, dues[len(dues)-1])
	}
	if took := time.Since(start); took < 99*time.Millisecond {
		t.Errorf("100 requests at 1000/s took %s", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := Pace(ctx, time.Now(), 10, 100, func(int64, time.Duration) {}); n != 1 {
		t.Errorf("a cancelled context: dispatched %d, want the first only", n)
	}
}

func TestServeHello(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	file := filepath.Join(t.TempDir(), "addr")
	done := make(chan error, 1)
	go func() { done <- ServeHello(ctx, "test", "127.0.0.1:0", file, io.Discard) }()
	var addr []byte
	for i := 0; i < 200 && len(addr) == 0; i++ {
		time.Sleep(5 * time.Millisecond)
		addr, _ = os.ReadFile(file)
	}
	resp, err := NewClient(1, time.Second).Get("http://" + strings.TrimSpace(string(addr)) + "/any")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello\n" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestHeaderFlagAndStatusList(t *testing.T) {
	h := http.Header{}
	set := HeaderFlag(h)
	if err := set("X-API-Key:  gh_1 "); err != nil || h.Get("X-Api-Key") != "gh_1" {
		t.Errorf("HeaderFlag: %v, %v", err, h)
	}
	if set("no colon") == nil || set(": v") == nil {
		t.Error("bad headers accepted")
	}
	if got := StatusList(map[string]int64{"503": 1, "200": 5}); got != "200 ×5, 503 ×1" {
		t.Errorf("StatusList = %q", got)
	}
	if got := StatusList(nil); got != "none" {
		t.Errorf("StatusList(nil) = %q", got)
	}
}
