package dashboard

import (
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/webui/chart"
)

type topList struct {
	Title   string
	Dim     string // the analytics dimension, for a link to the explorer
	Entries []analytics.TopEntry
}

type overviewData struct {
	Live           template.HTML // the live chart; empty when there is no stream
	Connections    int64
	HasConnections bool
	Tops           []topList
	TopErr         string
	Firing         []alerts.Event
	FiringKnown    bool
	PendingDevs    int
	MoreDevs       bool
	PendingSubs    int
	MoreSubs       bool
	Gateway        *gatehouse.GatewayStatus
	Unhealthy      int // targets not taking traffic
}

// liveFields are the live chart's lines: keys into httpapi.LiveEvent's JSON.
var liveFields = []chart.LiveField{
	{Key: "count", Label: "Requests", Unit: "req/s"},
	{Key: "errors", Label: "Errors", Unit: "req/s"},
	{Key: "p99_ms", Label: "Latency p99", Unit: "ms"},
}

func (s *server) overview(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	d := overviewData{}
	if s.o.Live != nil {
		d.Live = chart.LiveFigure("live-traffic", "Per second, last minute", "/ui/live", liveFields)
	}
	if s.o.Connections != nil {
		d.Connections, d.HasConnections = s.o.Connections(), true
	}
	// Queue sizes: one page of the largest size; "500+" beyond.
	devs, err := s.o.Store.Developers(ctx, gatehouse.DeveloperFilter{Status: gatehouse.DeveloperPending,
		ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		return err
	}
	d.PendingDevs, d.MoreDevs = len(devs.Items), devs.Next != ""
	subs, err := s.o.Store.Subscriptions(ctx, gatehouse.SubscriptionFilter{Status: gatehouse.SubPending,
		ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		return err
	}
	d.PendingSubs, d.MoreSubs = len(subs.Items), subs.Next != ""

	switch {
	case s.o.Firing != nil:
		d.Firing, d.FiringKnown = s.o.Firing(), true
	case s.o.Alerts != nil:
		evs, err := s.o.Alerts.FiringAlerts(ctx)
		if err != nil {
			s.log.Warn("dashboard: reading firing alerts", "err", err)
		} else {
			d.FiringKnown = true
			for _, e := range evs {
				d.Firing = append(d.Firing, *e)
			}
		}
	}
	slices.SortStableFunc(d.Firing, func(a, b alerts.Event) int { return severityRank(b.Severity) - severityRank(a.Severity) })

	if s.o.Query != nil {
		now := s.o.Now()
		from := now.Add(-time.Hour)
		for _, t := range []struct {
			title, by string
			f         analytics.Filters
		}{
			{"Top APIs", analytics.DimAPI, analytics.Filters{}},
			{"Top apps", analytics.DimApp, analytics.Filters{}},
			{"Error responses by status class", analytics.DimStatusClass, analytics.Filters{StatusClasses: []int{4, 5}}},
		} {
			top, err := s.o.Query.Top(ctx, analytics.TopQuery{From: from, To: now, By: t.by, N: 5, Filters: t.f})
			if err != nil {
				s.log.Warn("dashboard: overview top query", "by", t.by, "err", err)
				d.TopErr = "The analytics store could not be read."
				break
			}
			d.Tops = append(d.Tops, topList{Title: t.title, Dim: t.by, Entries: top})
		}
	}
	if s.o.Gateway != nil {
		d.Gateway = s.o.Gateway()
		if d.Gateway != nil {
			for _, a := range d.Gateway.APIs {
				for _, t := range a.Targets {
					if !t.Available {
						d.Unhealthy++
					}
				}
			}
		}
	}
	s.show(w, r, c, "overview.html", "Overview", "overview", d)
	return nil
}

func severityRank(s alerts.Severity) int {
	switch s {
	case alerts.SeverityCritical:
		return 2
	case alerts.SeverityWarning:
		return 1
	}
	return 0
}
