package portal

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/webui/chart"
)

func (p *portal) appRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /apps", p.signedIn(p.appsPage))
	mux.HandleFunc("POST /apps", p.signedIn(p.createApp))
	mux.HandleFunc("GET /apps/{name}", p.signedIn(p.appPage))
	mux.HandleFunc("POST /apps/{name}", p.signedIn(p.appAction))
	mux.HandleFunc("POST /apis/{name}/try", p.signedIn(p.tryIt))
}

// maxAppsPerDeveloper bounds what one self-service account can create.
const maxAppsPerDeveloper = 50

type appRow struct {
	Name, Title, Description string
	Keys, Subscriptions      int
}

type appsPage struct {
	layoutData
	Apps    []appRow
	Welcome bool
	Error   string
	Fields  map[string]string
	Form    struct{ Name, Title, Description string }
}

// myApps lists the developer's apps (every page of them, bounded by the cap).
func (p *portal) myApps(ctx context.Context, email string) ([]*gatehouse.App, error) {
	pg, err := p.opts.Store.Apps(ctx, gatehouse.AppFilter{ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}, Developer: email})
	if err != nil {
		return nil, err
	}
	return pg.Items, nil
}

func (p *portal) appsPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	d := appsPage{layoutData: p.layoutFor(r, "Your apps"), Welcome: r.URL.Query().Get("welcome") == "1"}
	p.fillApps(r.Context(), w, r, s, &d, http.StatusOK)
}

func (p *portal) fillApps(ctx context.Context, w http.ResponseWriter, r *http.Request, s *signedIn, d *appsPage, status int) {
	d.Nav = "apps"
	apps, err := p.myApps(ctx, s.dev.Email)
	if err != nil {
		p.storeFailed(w, r, "list your apps", err)
		return
	}
	for _, a := range apps {
		row := appRow{Name: a.Name, Title: a.Title, Description: summary(a.Description)}
		keys, err := p.opts.Store.Keys(ctx, gatehouse.KeyFilter{App: a.Name, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
		if err == nil {
			now := p.opts.Now()
			for _, k := range keys.Items {
				if k.Active(now) {
					row.Keys++
				}
			}
		}
		subs, err := p.opts.Store.Subscriptions(ctx, gatehouse.SubscriptionFilter{App: a.Name})
		if err == nil {
			row.Subscriptions = len(subs.Items)
		}
		d.Apps = append(d.Apps, row)
	}
	p.render(w, status, "apps.html", d)
}

// appName derives an app's identifier from the developer's title: lower-case letters,
// digits and '-', made unique by the store (a conflict asks for another title).
func appName(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

func (p *portal) createApp(w http.ResponseWriter, r *http.Request, s *signedIn) {
	d := appsPage{layoutData: p.layoutFor(r, "Your apps"), Fields: map[string]string{}}
	d.Form.Title = strings.TrimSpace(r.PostFormValue("title"))
	d.Form.Name = strings.TrimSpace(r.PostFormValue("name"))
	d.Form.Description = strings.TrimSpace(r.PostFormValue("description"))
	ctx := gatehouse.WithActor(r.Context(), "portal:"+s.dev.Email)
	if s.dev.Status != gatehouse.DeveloperActive {
		d.Error = "Your account is waiting for an operator's approval; you can create apps once it is approved."
		p.fillApps(ctx, w, r, s, &d, http.StatusForbidden)
		return
	}
	if d.Form.Title == "" {
		d.Fields["title"] = "Give the app a name."
	}
	name := d.Form.Name
	if name == "" {
		name = appName(d.Form.Title)
	}
	if apps, err := p.myApps(ctx, s.dev.Email); err == nil && len(apps) >= maxAppsPerDeveloper {
		d.Error = fmt.Sprintf("You have %d apps, the most an account may have. Delete one first.", len(apps))
		p.fillApps(ctx, w, r, s, &d, http.StatusConflict)
		return
	}
	if len(d.Fields) == 0 {
		a := &gatehouse.App{Name: name, Title: d.Form.Title, Description: d.Form.Description, Developer: s.dev.Email}
		created, err := p.opts.Store.CreateApp(ctx, a)
		switch gatehouse.ErrorCode(err) {
		case "":
			http.Redirect(w, r, "/apps/"+created.Name, http.StatusSeeOther)
			return
		case gatehouse.EConflict:
			d.Fields["name"] = "The identifier " + name + " is taken. Choose another."
		case gatehouse.EInvalid:
			for _, f := range fieldsOf(err) {
				d.Fields[f.Field] = "The " + f.Field + " " + f.Message + "."
			}
		default:
			p.storeFailed(w, r, "create the app", err)
			return
		}
	}
	d.Error = "Please correct the marked fields."
	p.fillApps(ctx, w, r, s, &d, http.StatusBadRequest)
}

func fieldsOf(err error) []gatehouse.FieldError {
	if ge, ok := errors.AsType[*gatehouse.Error](err); ok {
		return ge.Fields
	}
	return nil
}

// ownApp returns the developer's app named in the path; another developer's app is
// answered exactly like a missing one.
func (p *portal) ownApp(w http.ResponseWriter, r *http.Request, s *signedIn) *gatehouse.App {
	a, err := p.opts.Store.App(r.Context(), r.PathValue("name"))
	if err == nil && a.Developer != s.dev.Email {
		err = gatehouse.Errorf(gatehouse.ENotFound, "no such app")
	}
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "you have no app called "+r.PathValue("name"))
		return nil
	}
	if err != nil {
		p.storeFailed(w, r, "load the app", err)
		return nil
	}
	return a
}

type keyRow struct {
	ID, Name, Prefix, Status string
	Created                  string
	Expires, LastUsed        string
	Active                   bool
}

type subRow struct {
	ID, Plan, Status string
	APIs             []string
}

type planRow struct {
	Name, Description string
	APIs              []string
	Limits            []string
	Manual            bool
	Subscribed        bool
}

type quotaRow struct {
	API, Plan, Period string
	Used, Limit       int64
	Percent           int
	Reset             string
	Chart             template.HTML // use so far in the period, against the limit
}

type appPage struct {
	layoutData
	App        *gatehouse.App
	Display    string
	Keys       []keyRow
	Subs       []subRow
	Plans      []planRow
	NewSecret  string // a key just created or rotated: shown this once
	NewKeyID   string
	Notice     string
	Error      string
	Range      string
	Ranges     []rangeOpt
	Usage      *usageView
	Quotas     []quotaRow
	GatewayURL string
}

type rangeOpt struct {
	Value, Label string
	Current      bool
}

type usageView struct {
	Requests, Latency template.HTML
	Total, Errors     int64
	ErrorRate         string
	P99               string
	Empty             bool
}

func (p *portal) appPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	a := p.ownApp(w, r, s)
	if a == nil {
		return
	}
	d := &appPage{Notice: noticeText(r.URL.Query().Get("done"))}
	p.renderApp(w, r, s, a, d, http.StatusOK)
}

func noticeText(code string) string {
	switch code {
	case "renamed":
		return "The app is renamed."
	case "revoked":
		return "The key is revoked: requests with it are refused from now on."
	case "subscribed":
		return "Subscription requested."
	case "unsubscribed":
		return "Subscription cancelled."
	}
	return ""
}

// usageRange is a period the usage charts offer, and the width of their buckets.
type usageRange struct {
	value, label string
	span, step   time.Duration
}

var usageRanges = []usageRange{
	{"1h", "Last hour", time.Hour, time.Minute},
	{"24h", "Last 24 hours", 24 * time.Hour, 30 * time.Minute},
	{"7d", "Last 7 days", 7 * 24 * time.Hour, 6 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour, 24 * time.Hour},
}

func (p *portal) renderApp(w http.ResponseWriter, r *http.Request, s *signedIn, a *gatehouse.App, d *appPage, status int) {
	ctx := r.Context()
	now := p.opts.Now()
	d.layoutData = p.layoutFor(r, appDisplay(a))
	d.Nav, d.Scripts = "apps", true
	d.App, d.Display, d.GatewayURL = a, appDisplay(a), p.opts.GatewayURL
	keys, err := p.opts.Store.Keys(ctx, gatehouse.KeyFilter{App: a.Name, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		p.storeFailed(w, r, "list the app's keys", err)
		return
	}
	for _, k := range slices.Backward(keys.Items) { // newest first
		row := keyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Status: k.Status(now), Active: k.Active(now), Created: when(&k.CreatedAt)}
		row.Expires, row.LastUsed = when(k.ExpiresAt), when(k.LastUsedAt)
		d.Keys = append(d.Keys, row)
	}
	subs, err := p.opts.Store.Subscriptions(ctx, gatehouse.SubscriptionFilter{App: a.Name, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		p.storeFailed(w, r, "list the app's subscriptions", err)
		return
	}
	subscribed := map[string]bool{}
	plans, err := p.opts.Store.Plans(ctx, gatehouse.PlanFilter{ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		p.storeFailed(w, r, "list the plans", err)
		return
	}
	planAPIs := map[string][]string{}
	for _, pl := range plans.Items {
		planAPIs[pl.Name] = pl.APIs
	}
	for _, sub := range subs.Items {
		subscribed[sub.Plan] = true
		d.Subs = append(d.Subs, subRow{ID: sub.ID, Plan: sub.Plan, Status: string(sub.Status), APIs: planAPIs[sub.Plan]})
	}
	for _, pl := range plans.Items {
		row := planRow{Name: pl.Name, Description: pl.Description, APIs: pl.APIs, Manual: pl.Approval == gatehouse.ApprovalManual, Subscribed: subscribed[pl.Name]}
		if rl := pl.RateLimit; rl != nil {
			row.Limits = append(row.Limits, fmt.Sprintf("%d requests per %s", rl.Limit, per(rl.Window.D())))
		}
		if q := pl.Quota; q != nil {
			row.Limits = append(row.Limits, fmt.Sprintf("%d requests per %s", q.Limit, q.Period))
		}
		d.Plans = append(d.Plans, row)
	}
	rng := findRange(r.URL.Query().Get("range"))
	d.Range = rng.value
	for _, u := range usageRanges {
		d.Ranges = append(d.Ranges, rangeOpt{Value: u.value, Label: u.label, Current: u.value == d.Range})
	}
	if p.opts.Query != nil {
		d.Usage = p.usage(ctx, a.Name, rng, now)
	}
	if p.opts.Quotas != nil {
		for _, u := range p.opts.Quotas(a.Name) {
			q := quotaRow{API: u.API, Plan: u.Plan, Period: u.Period, Used: u.Used, Limit: u.Limit, Reset: when(&u.Reset)}
			if u.Limit > 0 {
				q.Percent = int(min(100, math.Round(float64(u.Used)*100/float64(u.Limit))))
			}
			if p.opts.Query != nil {
				q.Chart = p.quotaChart(ctx, a.Name, u, now)
			}
			d.Quotas = append(d.Quotas, q)
		}
	}
	w.Header().Set("Cache-Control", "no-store") // may hold a new key's secret
	p.render(w, status, "app.html", d)
}

// per says a rate window as people do: "second", "minute", "5 minutes", "1h30m0s".
func per(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d == u.d {
			return u.name
		}
		if d%u.d == 0 {
			return fmt.Sprintf("%d %ss", d/u.d, u.name)
		}
	}
	return d.String()
}

func appDisplay(a *gatehouse.App) string {
	if a.Title != "" {
		return a.Title
	}
	return a.Name
}

// when formats a time for tables, "" for nil.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// usage draws the app's requests, errors and p99 latency over the range. A failed query
// leaves the charts out rather than failing the page.
// findRange is the range named value, or the last 24 hours.
func findRange(value string) usageRange {
	for _, u := range usageRanges {
		if u.value == value {
			return u
		}
	}
	return usageRanges[1]
}

func (p *portal) usage(ctx context.Context, app string, rng usageRange, now time.Time) *usageView {
	span, step := rng.span, rng.step
	res, err := p.opts.Query.Series(ctx, analytics.SeriesQuery{From: now.Add(-span), To: now, Interval: step,
		Filters:  analytics.Filters{Apps: []string{app}, Kinds: []analytics.Kind{analytics.KindRequest}},
		Measures: []string{analytics.MeasureCount, analytics.MeasureErrors, analytics.MeasureLatencyP99}})
	if err != nil {
		p.opts.Logger.Error("portal usage", "app", app, "err", err)
		return nil
	}
	v := &usageView{}
	var times []time.Time
	var count, errs, p99 []float64
	if len(res.Series) > 0 {
		for _, pt := range res.Series[0].Points {
			times = append(times, pt.Start)
			c, e := pt.Values[analytics.MeasureCount], pt.Values[analytics.MeasureErrors]
			count, errs = append(count, c), append(errs, e)
			l := pt.Values[analytics.MeasureLatencyP99]
			if c == 0 {
				l = math.NaN() // no requests: a gap, not a zero latency
			}
			p99 = append(p99, l)
			v.Total += int64(c)
			v.Errors += int64(e)
		}
	}
	v.Empty = v.Total == 0
	if v.Total > 0 {
		v.ErrorRate = fmt.Sprintf("%.1f%%", float64(v.Errors)*100/float64(v.Total))
	}
	if tot, err := p.opts.Query.Totals(ctx, analytics.TotalsQuery{From: now.Add(-span), To: now,
		Filters: analytics.Filters{Apps: []string{app}, Kinds: []analytics.Kind{analytics.KindRequest}}}); err == nil && tot.Count > 0 {
		v.P99 = fmt.Sprintf("%.0f ms", tot.LatencyP99Ms)
	}
	v.Requests = chart.Line(chart.Chart{ID: "usage-requests", Width: 520, Height: 260, Title: "Requests and server errors", Unit: "req", Times: times,
		Series: []chart.Series{{Name: "Requests", Values: count}, {Name: "Errors (5xx)", Values: errs}}})
	v.Latency = chart.Line(chart.Chart{ID: "usage-latency", Width: 520, Height: 260, Title: "Latency, 99th percentile", Unit: "ms", Times: times,
		Series: []chart.Series{{Name: "p99", Values: p99}}})
	return v
}

// appAction is every change to an app, chosen by the form's action field.
func (p *portal) appAction(w http.ResponseWriter, r *http.Request, s *signedIn) {
	a := p.ownApp(w, r, s)
	if a == nil {
		return
	}
	ctx := gatehouse.WithActor(r.Context(), "portal:"+s.dev.Email)
	now := p.opts.Now()
	d := &appPage{}
	fail := func(status int, msg string) {
		d.Error = msg
		p.renderApp(w, r, s, a, d, status)
	}
	if s.dev.Status != gatehouse.DeveloperActive {
		fail(http.StatusForbidden, "Your account is waiting for an operator's approval.")
		return
	}
	switch r.PostFormValue("action") {
	case "rename":
		c := *a
		c.Title = strings.TrimSpace(r.PostFormValue("title"))
		c.Description = strings.TrimSpace(r.PostFormValue("description"))
		if _, err := p.opts.Store.UpdateApp(ctx, &c, a.Revision); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.EInvalid {
				fail(http.StatusBadRequest, "The name or description is not valid: "+err.Error())
				return
			}
			p.storeFailed(w, r, "rename the app", err)
			return
		}
		http.Redirect(w, r, "/apps/"+a.Name+"?done=renamed", http.StatusSeeOther)
	case "delete":
		// Subscriptions go with the app: a developer deleting an app means all of it.
		subs, err := p.opts.Store.Subscriptions(ctx, gatehouse.SubscriptionFilter{App: a.Name, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
		if err != nil {
			p.storeFailed(w, r, "delete the app", err)
			return
		}
		for _, sub := range subs.Items {
			if err := p.opts.Store.DeleteSubscription(ctx, sub.ID, 0); err != nil && gatehouse.ErrorCode(err) != gatehouse.ENotFound {
				p.storeFailed(w, r, "delete the app's subscriptions", err)
				return
			}
		}
		if err := p.opts.Store.DeleteApp(ctx, a.Name, 0); err != nil {
			p.storeFailed(w, r, "delete the app", err)
			return
		}
		http.Redirect(w, r, "/apps", http.StatusSeeOther)
	case "create-key":
		var exp *time.Time
		if days := r.PostFormValue("expires"); days != "" && days != "never" {
			dur, ok := map[string]time.Duration{"30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour}[days]
			if !ok {
				fail(http.StatusBadRequest, "Choose an expiry from the list.")
				return
			}
			t := now.Add(dur).UTC()
			exp = &t
		}
		name := strings.TrimSpace(r.PostFormValue("key_name"))
		secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
		k, err := p.opts.Store.CreateKey(ctx, &gatehouse.Key{App: a.Name, Name: name, Prefix: prefix, Hash: hash, ExpiresAt: exp})
		if gatehouse.ErrorCode(err) == gatehouse.EInvalid {
			fail(http.StatusBadRequest, "The key's label may hold only letters, digits, '.', '_' and '-' (at most 64).")
			return
		}
		if err != nil {
			p.storeFailed(w, r, "create the key", err)
			return
		}
		d.NewSecret, d.NewKeyID = secret, k.ID
		d.Notice = "Your new key is below. Copy it now: it is shown only this once."
		p.renderApp(w, r, s, a, d, http.StatusCreated)
	case "rotate-key", "revoke-key":
		k, err := p.opts.Store.Key(ctx, r.PostFormValue("key"))
		if err == nil && k.App != a.Name {
			err = gatehouse.Errorf(gatehouse.ENotFound, "no such key")
		}
		if err != nil {
			p.storeFailed(w, r, "find the key", err)
			return
		}
		if r.PostFormValue("action") == "revoke-key" {
			if _, err := p.opts.Store.RevokeKey(ctx, k.ID); err != nil {
				p.storeFailed(w, r, "revoke the key", err)
				return
			}
			http.Redirect(w, r, "/apps/"+a.Name+"?done=revoked", http.StatusSeeOther)
			return
		}
		overlap, ok := map[string]time.Duration{"0": 0, "1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}[r.PostFormValue("overlap")]
		if !ok {
			fail(http.StatusBadRequest, "Choose how long the old key keeps working.")
			return
		}
		nk, secret, err := gatehouse.RotateKey(ctx, p.opts.Store, k, overlap, now)
		if gatehouse.ErrorCode(err) == gatehouse.EConflict {
			fail(http.StatusConflict, "Only an active key can be rotated.")
			return
		}
		if err != nil {
			p.storeFailed(w, r, "rotate the key", err)
			return
		}
		d.NewSecret, d.NewKeyID = secret, nk.ID
		if overlap == 0 {
			d.Notice = "The key is rotated and the old one no longer works. Copy the new key now: it is shown only this once."
		} else {
			d.Notice = "The key is rotated; the old one keeps working until " + when(new(now.Add(overlap))) + ". Copy the new key now: it is shown only this once."
		}
		p.renderApp(w, r, s, a, d, http.StatusCreated)
	case "subscribe":
		_, err := p.opts.Store.CreateSubscription(ctx, &gatehouse.Subscription{App: a.Name, Plan: r.PostFormValue("plan")})
		switch gatehouse.ErrorCode(err) {
		case "":
			http.Redirect(w, r, "/apps/"+a.Name+"?done=subscribed", http.StatusSeeOther)
		case gatehouse.EConflict:
			fail(http.StatusConflict, "The app already subscribes to this plan.")
		case gatehouse.EInvalid:
			fail(http.StatusBadRequest, "There is no such plan.")
		default:
			p.storeFailed(w, r, "subscribe", err)
		}
	case "unsubscribe":
		sub, err := p.opts.Store.Subscription(ctx, r.PostFormValue("subscription"))
		if err == nil && sub.App != a.Name {
			err = gatehouse.Errorf(gatehouse.ENotFound, "no such subscription")
		}
		if err == nil && (sub.Status == gatehouse.SubRejected || sub.Status == gatehouse.SubRevoked) {
			// An operator's decision stays: deleting it would let the app ask again.
			fail(http.StatusConflict, "This subscription was "+string(sub.Status)+" by the portal's operators; contact them to change it.")
			return
		}
		if err == nil {
			err = p.opts.Store.DeleteSubscription(ctx, sub.ID, 0)
		}
		if err != nil {
			p.storeFailed(w, r, "cancel the subscription", err)
			return
		}
		http.Redirect(w, r, "/apps/"+a.Name+"?done=unsubscribed", http.StatusSeeOther)
	default:
		p.fail(w, r, http.StatusBadRequest, gatehouse.EInvalid, "unknown action")
	}
}

// quotaChart draws an app's cumulative requests under a plan since the start of the
// quota's current period, with the limit as a line: how fast the quota is being used.
func (p *portal) quotaChart(ctx context.Context, app string, u quota.Usage, now time.Time) template.HTML {
	period, reset, limit := u.Period, u.Reset, u.Limit
	var start time.Time
	var step time.Duration
	switch period {
	case "hour":
		start, step = reset.Add(-time.Hour), time.Minute
	case "day":
		start, step = reset.Add(-24*time.Hour), 30*time.Minute
	case "week":
		start, step = reset.Add(-7*24*time.Hour), 6*time.Hour
	case "month":
		start, step = reset.AddDate(0, -1, 0), 24*time.Hour
	default:
		return ""
	}
	q := analytics.SeriesQuery{From: start, To: now, Interval: step,
		Filters:  analytics.Filters{Apps: []string{app}, Plans: []string{u.Plan}, Kinds: []analytics.Kind{analytics.KindRequest}},
		Measures: []string{analytics.MeasureCount}}
	if !strings.HasPrefix(u.Scope, "plan:") && u.API != "" {
		q.Filters.APIs = []string{u.API} // a quota of one API counts only that API
	}
	res, err := p.opts.Query.Series(ctx, q)
	if err != nil || len(res.Series) == 0 {
		return ""
	}
	var times []time.Time
	var used, lim []float64
	total := 0.0
	for _, pt := range res.Series[0].Points {
		total += pt.Values[analytics.MeasureCount]
		times = append(times, pt.Start)
		used, lim = append(used, total), append(lim, float64(limit))
	}
	return chart.Line(chart.Chart{ID: "quota-" + u.Plan + "-" + u.API, Width: 520, Height: 200, Title: "Quota used this " + period, Unit: "req",
		Times: times, Series: []chart.Series{{Name: "Used", Values: used}, {Name: "Limit", Values: lim}}})
}
