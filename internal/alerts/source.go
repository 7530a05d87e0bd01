package alerts

import "time"

// Source is the engine's view of the node's live state. The node implements it over its
// per-second analytics, its upstream health checks and its quota counters. Calls come
// from the engine's goroutine, once per rule per evaluation, and must be cheap.
type Source interface {
	// Window sums the last d of traffic of api ("" for all APIs together).
	Window(api string, d time.Duration) Window
	// Targets reports the health of every upstream target of every API.
	Targets() []TargetHealth
	// Quotas reports the current period's use of every quota with a limit.
	Quotas() []QuotaUse
}

// Window is the traffic of one period.
type Window struct {
	Requests    int64
	Errors      int64 // requests that failed: 5xx responses and upstream failures
	RateLimited int64 // 429 responses
	P50         time.Duration
	P95         time.Duration
	P99         time.Duration
}

// TargetHealth is one upstream target's health.
type TargetHealth struct {
	API     string
	Target  string
	Healthy bool
}

// QuotaUse is one app's use of one quota in the current period.
type QuotaUse struct {
	App    string
	Plan   string
	API    string // "" for a plan-wide quota
	Used   int64
	Limit  int64
	Period string // "minute", "hour", "day", "month"...
}
