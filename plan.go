package gatehouse

import (
	"fmt"
	"slices"
	"time"
)

// Approval says whether a subscription to a plan starts active or waits for an admin.
type Approval string

// Approval modes.
const (
	ApprovalAuto   Approval = "auto"
	ApprovalManual Approval = "manual"
)

// QuotaPeriod is the calendar period a quota counts over (UTC).
type QuotaPeriod string

// Quota periods.
const (
	PeriodHour  QuotaPeriod = "hour"
	PeriodDay   QuotaPeriod = "day"
	PeriodWeek  QuotaPeriod = "week"
	PeriodMonth QuotaPeriod = "month"
)

// Plan is what an app subscribes to: which APIs, how fast and how much.
type Plan struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	APIs        []string     `json:"apis"`
	RateLimit   *RateLimit   `json:"rate_limit,omitempty"`
	Quota       *Quota       `json:"quota,omitempty"`
	Approval    Approval     `json:"approval"`
	Policies    []PolicySpec `json:"policies,omitempty"`
	Meta
}

// RateLimit allows Limit requests per Window (GCRA: smooth, with a burst of Limit).
type RateLimit struct {
	Limit  int64    `json:"limit"`
	Window Duration `json:"window"`
}

// Quota allows Limit requests per calendar Period.
type Quota struct {
	Limit  int64       `json:"limit"`
	Period QuotaPeriod `json:"period"`
}

// Normalize fills defaults in place.
func (pl *Plan) Normalize() {
	if pl.Approval == "" {
		pl.Approval = ApprovalAuto
	}
	if pl.APIs == nil {
		pl.APIs = []string{}
	}
	slices.Sort(pl.APIs)
	pl.APIs = slices.Compact(pl.APIs)
	normalizePolicies(pl.Policies)
}

// Validate reports every rule pl breaks.
func (pl *Plan) Validate() error {
	var p Problems
	checkName(&p, "name", pl.Name)
	if len(pl.Description) > 4096 {
		p.Addf("description", "must be at most 4096 characters")
	}
	for i, a := range pl.APIs {
		checkName(&p, fmt.Sprintf("apis[%d]", i), a)
	}
	if r := pl.RateLimit; r != nil {
		if r.Limit <= 0 {
			p.Addf("rate_limit.limit", "must be positive")
		}
		if r.Window.D() < time.Millisecond || r.Window.D() > 31*24*time.Hour {
			p.Addf("rate_limit.window", "must be between 1ms and 744h")
		}
	}
	if q := pl.Quota; q != nil {
		if q.Limit <= 0 {
			p.Addf("quota.limit", "must be positive")
		}
		switch q.Period {
		case PeriodHour, PeriodDay, PeriodWeek, PeriodMonth:
		default:
			p.Addf("quota.period", "must be one of hour, day, week, month")
		}
	}
	switch pl.Approval {
	case ApprovalAuto, ApprovalManual:
	default:
		p.Addf("approval", "must be auto or manual")
	}
	checkPolicies(&p, "policies", pl.Policies)
	return p.Err("plan")
}

// Clone returns a deep copy of pl.
func (pl *Plan) Clone() *Plan {
	c := *pl
	c.APIs = slices.Clone(pl.APIs)
	if pl.RateLimit != nil {
		r := *pl.RateLimit
		c.RateLimit = &r
	}
	if pl.Quota != nil {
		q := *pl.Quota
		c.Quota = &q
	}
	c.Policies = clonePolicies(pl.Policies)
	return &c
}
