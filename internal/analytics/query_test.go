package analytics

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQueryValidation(t *testing.T) {
	ctx := context.Background()
	q := NewQuery(QueryOptions{Store: NewMemoryStore(), MaxPoints: 100})
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		field string
		run   func() error
	}{
		{"from", func() error { _, err := q.Totals(ctx, TotalsQuery{To: t0}); return err }},
		{"to", func() error { _, err := q.Totals(ctx, TotalsQuery{From: t0, To: t0}); return err }},
		{"interval", func() error {
			_, err := q.Series(ctx, SeriesQuery{From: t0, To: t0.Add(time.Hour), Interval: 90 * time.Second})
			return err
		}},
		{"interval", func() error {
			_, err := q.Series(ctx, SeriesQuery{From: t0, To: t0.Add(time.Hour * 24), Interval: time.Minute})
			return err
		}},
		{"measures", func() error {
			_, err := q.Series(ctx, SeriesQuery{From: t0, To: t0.Add(time.Hour), Interval: time.Minute, Measures: []string{"p99"}})
			return err
		}},
		{"group_by", func() error {
			_, err := q.Series(ctx, SeriesQuery{From: t0, To: t0.Add(time.Hour), Interval: time.Minute, GroupBy: []string{"app", "app"}})
			return err
		}},
		{"group_by", func() error {
			_, err := q.Series(ctx, SeriesQuery{From: t0, To: t0.Add(time.Hour), Interval: time.Minute, GroupBy: []string{"country"}})
			return err
		}},
		{"filters.status_classes", func() error {
			_, err := q.Totals(ctx, TotalsQuery{From: t0, To: t0.Add(time.Hour), Filters: Filters{StatusClasses: []int{6}}})
			return err
		}},
		{"by", func() error { _, err := q.Top(ctx, TopQuery{From: t0, To: t0.Add(time.Hour), By: "ip"}); return err }},
		{"n", func() error {
			_, err := q.Top(ctx, TopQuery{From: t0, To: t0.Add(time.Hour), By: "app", N: 5000})
			return err
		}},
	}
	for _, c := range cases {
		err := c.run()
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Field != c.field || qe.Message == "" {
			t.Errorf("want a QueryError on %q, got %v", c.field, err)
		}
	}
}

func TestSeriesGroupsAndEmptyBuckets(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	agg := NewAggregator(AggregatorOptions{Store: NewMemoryStore()})
	q := NewQuery(QueryOptions{Store: NewMemoryStore(), Aggregator: agg})
	var batch []Event
	for i := range 30 {
		batch = append(batch, Event{Time: t0.Add(time.Duration(i%3) * 10 * time.Minute), API: "orders",
			App: apps4[i%2], Status: []int{200, 404, 502}[i%3], Latency: time.Millisecond})
	}
	agg.Consume(batch)
	res, err := q.Series(ctx, SeriesQuery{From: t0.Add(3 * time.Minute), To: t0.Add(59 * time.Minute), Interval: 15 * time.Minute,
		GroupBy: []string{"app", "status_class"}, Filters: Filters{Kinds: []Kind{KindRequest}},
		Measures: []string{"count", "error_rate", "latency_p50"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.From.Equal(t0) || len(res.Series) != 6 {
		t.Fatalf("from %v, %d series", res.From, len(res.Series))
	}
	for _, s := range res.Series {
		if len(s.Points) != 4 {
			t.Fatalf("%v: %d points", s.Group, len(s.Points))
		}
		var c float64
		for _, p := range s.Points {
			c += p.Values["count"]
		}
		if c != 5 || s.Points[3].Values["count"] != 0 {
			t.Fatalf("%v: %v events, last bucket %v", s.Group, c, s.Points[3].Values)
		}
		if s.Group["status_class"] == "5xx" && s.Points[1].Values["error_rate"] != 1 {
			t.Fatalf("5xx error rate %v", s.Points[1].Values)
		}
	}
	top, _ := q.Top(ctx, TopQuery{From: t0, To: t0.Add(time.Hour), By: DimStatusClass})
	if len(top) != 3 || top[0].Value != 10 || top[0].Key != "2xx" {
		t.Fatalf("top: %+v", top)
	}
}

func TestMemoryStoreRequests(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	var recs []RequestRecord
	for i := range 25 {
		recs = append(recs, RequestRecord{Event: Event{Time: t0.Add(time.Duration(i/2) * time.Second), API: "a", Status: 200 + i%2}})
	}
	if err := m.WriteRequests(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var all []RequestRecord
	cur := ""
	for {
		page, next, err := m.ReadRequests(ctx, RequestQuery{Limit: 10, Before: cur})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		cur = next
	}
	if len(all) != 25 {
		t.Fatalf("%d records over the pages", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.After(all[i-1].Time) {
			t.Fatal("not newest first")
		}
	}
	page, _, _ := m.ReadRequests(ctx, RequestQuery{Limit: 100, Statuses: []int{201}})
	if len(page) != 12 {
		t.Fatalf("%d with status 201", len(page))
	}
	if n, _ := m.PruneRequests(ctx, t0.Add(5*time.Second)); n != 10 {
		t.Fatalf("pruned %d", n)
	}
}
