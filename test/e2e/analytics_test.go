package e2e

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestAnalyticsExactCounts: known traffic through the binary shows up exactly in the query
// API (totals, top by status class, per app), in /metrics parsed by Prometheus's own text
// parser, and in the live stream.
func TestAnalyticsExactCounts(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/bad"):
			http.Error(w, "broken", http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/missing"):
			http.Error(w, "no", http.StatusNotFound)
		default:
			io.WriteString(w, "ok\n")
		}
	}))
	t.Cleanup(up.Close)
	n := start(t, t.TempDir(), testToken)
	rev := n.create("/v1/apis", map[string]any{"name": "counted", "state": "published", "path": "/counted",
		"upstream": map[string]any{"targets": targets(up.URL)}})
	n.waitTable(rev)

	// The live stream, opened before the traffic.
	req, _ := http.NewRequest("GET", n.admin()+"/v1/analytics/live?api=counted", nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	live, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Body.Close()
	if live.StatusCode != 200 || !strings.HasPrefix(live.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("live: %d %s", live.StatusCode, live.Header.Get("Content-Type"))
	}
	liveCount := make(chan int64, 64)
	go func() {
		sc := bufio.NewScanner(live.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var sec struct{ Count int64 }
				if json.Unmarshal([]byte(d), &sec) == nil && sec.Count > 0 {
					liveCount <- sec.Count
				}
			}
		}
	}()

	want := map[string]int{"/counted/ok": 300, "/counted/bad": 40, "/counted/missing": 25}
	var wg sync.WaitGroup
	for path, times := range want {
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < times; i += 4 {
					send("GET", n.proxy()+path)
				}
			})
		}
	}
	wg.Wait()

	var totals struct {
		Count       int64   `json:"count"`
		Errors      int64   `json:"errors"`
		LatencyP99M float64 `json:"latency_p99"`
	}
	// Events reach the rollups within the recorder's drain interval (milliseconds).
	eventually(t, 5*time.Second, func() error {
		n.mustCall("GET", "/v1/analytics/totals?api=counted&from=-1h", nil, 200, &totals)
		if totals.Count != 365 || totals.Errors != 40 || totals.LatencyP99M <= 0 {
			return fmt.Errorf("totals: %+v, want 365 requests, 40 errors, a p99", totals)
		}
		return nil
	})
	var top struct {
		Items []struct {
			Key   string  `json:"key"`
			Value float64 `json:"value"`
		} `json:"items"`
	}
	n.mustCall("GET", "/v1/analytics/top?api=counted&from=-1h&by=status_class", nil, 200, &top)
	got := map[string]float64{}
	for _, it := range top.Items {
		got[it.Key] = it.Value
	}
	if got["2xx"] != 300 || got["5xx"] != 40 || got["4xx"] != 25 {
		t.Fatalf("top by status class: %v", got)
	}
	body := n.mustCall("GET", "/v1/analytics/totals?api=counted&from=-1h&format=csv", nil, 200, nil)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv totals: %v\n%s", err, body)
	}
	cols := map[string]string{}
	for i, name := range rows[0] {
		if i < len(rows[1]) {
			cols[name] = rows[1][i]
		}
	}
	if cols["count"] != "365" || cols["errors"] != "40" {
		t.Fatalf("csv totals: count %q errors %q, want 365 and 40\n%s", cols["count"], cols["errors"], body)
	}

	// /metrics, through the Prometheus text parser.
	resp, err := http.Get(n.admin() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	byStatus := map[string]float64{}
	fam := fams["gatehouse_http_requests_total"]
	if fam == nil {
		t.Fatal("/metrics has no gatehouse_http_requests_total")
	}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["api"] == "counted" {
			byStatus[labels["status"]] += m.GetCounter().GetValue()
		}
	}
	if byStatus["200"] != 300 || byStatus["500"] != 40 || byStatus["404"] != 25 {
		t.Fatalf("/metrics requests by status: %v", byStatus)
	}
	if fams["gatehouse_analytics_events_dropped_total"] == nil || fams["gatehouse_http_request_duration_seconds"] == nil {
		t.Fatal("/metrics lacks the dropped-events counter or the latency histogram")
	}

	var seen int64
	deadline := time.After(10 * time.Second)
	for seen < 365 {
		select {
		case c := <-liveCount:
			seen += c
		case <-deadline:
			t.Fatalf("the live stream showed %d of 365 requests", seen)
		}
	}
	if seen != 365 {
		t.Fatalf("the live stream showed %d requests, want 365", seen)
	}
}
