package quota

import (
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	tr := NewTracker()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	day := now.Add(12 * time.Hour)
	tr.Report("plan:gold", "orders", "shop", "gold", "day", 10, 100, day)
	tr.Report("plan:gold", "orders", "shop", "gold", "day", 11, 100, day)
	tr.Report("plan:gold", "orders", "kiosk", "gold", "day", 90, 100, day)
	tr.Report("orders", "orders", "shop", "", "hour", 5, 10, now.Add(-time.Minute)) // ended
	all := tr.Snapshot("", now)
	if len(all) != 2 || all[0].App != "kiosk" || all[1].Used != 11 || all[1].Limit != 100 {
		t.Fatalf("snapshot %+v", all)
	}
	shop := tr.Snapshot("shop", now)
	if len(shop) != 1 || shop[0].Scope != "plan:gold" || shop[0].Plan != "gold" || !shop[0].Reset.Equal(day) {
		t.Fatalf("shop %+v", shop)
	}
	if got := tr.Snapshot("nobody", now); len(got) != 0 {
		t.Fatalf("nobody %+v", got)
	}
}

func BenchmarkTrackerReport(b *testing.B) {
	tr := NewTracker()
	reset := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr.Report("plan:gold", "orders", "shop", "gold", "day", int64(i), 1000, reset)
	}
}
