package alerts

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// State is what an Event says about an alert.
type State string

// Event states.
const (
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Event is one line of the alert log: an alert that fired or resolved. It is what the
// realtime channel carries and what webhooks receive, as JSON.
type Event struct {
	ID       string   `json:"id"`
	Rule     string   `json:"rule"` // the rule's id
	RuleName string   `json:"rule_name"`
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// Subject is what the alert is about: the API ("*" for all APIs), or for quota rules
	// the app ("app/api" for a per-API quota). One rule has one alert per subject.
	Subject string `json:"subject"`
	API     string `json:"api,omitempty"`
	State   State  `json:"state"`
	// Value is the measurement at At, in the unit of the rule's kind; Threshold is the
	// rule's firing threshold.
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// StartedAt is when the value first breached the threshold (the start of `for`); the
	// resolved event repeats the firing event's.
	StartedAt time.Time `json:"started_at"`
	At        time.Time `json:"at"`
	Message   string    `json:"message"`
}

// Webhook is an HTTP endpoint notified of alerts. Secret signs every delivery; the admin
// API never returns it.
type Webhook struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	URL     string `json:"url"`
	Secret  string `json:"secret,omitempty"`
	Enabled bool   `json:"enabled"`
	// Events are the states delivered; empty means both.
	Events []State `json:"events,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MinSecretLength is the shortest webhook secret accepted.
const MinSecretLength = 16

// wants reports whether the webhook takes events of state s.
func (w *Webhook) wants(s State) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, s)
}

// Normalize fills defaults in place.
func (w *Webhook) Normalize() {
	if w.Name == "" {
		w.Name = w.ID
	}
	if w.Events == nil {
		w.Events = []State{}
	}
}

// Validate checks a normalized webhook, naming bad fields by their JSON names.
func (w *Webhook) Validate() error {
	var p gatehouse.Problems
	if !idPattern.MatchString(w.ID) {
		p.Addf("id", "must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	if len(w.Name) > 200 {
		p.Addf("name", "must be at most 200 characters")
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Addf("url", "must be an absolute http or https URL")
	} else if u.User != nil {
		p.Addf("url", "must not carry credentials; deliveries are signed with secret")
	} else if len(w.URL) > 2048 {
		p.Addf("url", "must be at most 2048 characters")
	}
	if len(w.Secret) < MinSecretLength || len(w.Secret) > 256 {
		p.Addf("secret", "must be %d to 256 characters", MinSecretLength)
	}
	for i, s := range w.Events {
		if s != StateFiring && s != StateResolved {
			p.Addf(fmt.Sprintf("events[%d]", i), "must be firing or resolved")
		}
	}
	return p.Err("webhook")
}

// Delivery is one attempt to deliver an event to a webhook: the delivery log.
type Delivery struct {
	// ID names the delivery of one event to one webhook, the same on every attempt: it is
	// the X-Gatehouse-Delivery header, for receivers to drop duplicates.
	ID        string    `json:"id"`
	Attempt   int       `json:"attempt"` // 1 for the first
	Webhook   string    `json:"webhook"` // its id
	Event     string    `json:"event"`   // the event's id
	EventType string    `json:"type"`    // firing, resolved or test
	URL       string    `json:"url"`
	At        time.Time `json:"at"`
	// StatusCode is the receiver's answer; 0 when none came (Error says why).
	StatusCode int     `json:"status_code,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	Success    bool    `json:"success"`
	// NextRetry is when the next attempt is due; nil after a success or the last attempt.
	NextRetry *time.Time `json:"next_retry,omitempty"`
}

// EventFilter selects alert log entries; zero fields match everything.
type EventFilter struct {
	gatehouse.ListOptions
	Rule  string
	State State
	API   string
	Since time.Time // At >= Since
	Until time.Time // At < Until
}

// DeliveryFilter selects delivery log entries; zero fields match everything.
type DeliveryFilter struct {
	gatehouse.ListOptions
	Webhook string
	Event   string
}

// Store persists alerting. Errors are *gatehouse.Error: ENotFound for a missing id,
// EConflict for a taken one, EUnavailable when the store cannot be reached, EInvalid for
// a bad list cursor. Methods must be safe for concurrent use.
type Store interface {
	// AlertRules lists every rule by id.
	AlertRules(ctx context.Context) ([]*Rule, error)
	AlertRule(ctx context.Context, id string) (*Rule, error)
	// CreateAlertRule stores r as given and returns it; a zero CreatedAt or UpdatedAt
	// becomes now. Times are kept to the microsecond.
	CreateAlertRule(ctx context.Context, r *Rule) (*Rule, error)
	// UpdateAlertRule replaces the rule of r.ID, keeping its CreatedAt.
	UpdateAlertRule(ctx context.Context, r *Rule) (*Rule, error)
	DeleteAlertRule(ctx context.Context, id string) error

	// Webhooks lists every webhook by id, secrets included.
	Webhooks(ctx context.Context) ([]*Webhook, error)
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// CreateWebhook stores w as CreateAlertRule stores a rule.
	CreateWebhook(ctx context.Context, w *Webhook) (*Webhook, error)
	// UpdateWebhook replaces the webhook of w.ID, keeping its CreatedAt.
	UpdateWebhook(ctx context.Context, w *Webhook) (*Webhook, error)
	// DeleteWebhook deletes the webhook and its delivery log. Rules naming it keep the
	// id; the engine skips it.
	DeleteWebhook(ctx context.Context, id string) error

	// AppendAlertEvent adds e to the alert log; EConflict if its ID is taken.
	AppendAlertEvent(ctx context.Context, e *Event) error
	// AlertEvents lists the log newest first (in the order appended).
	AlertEvents(ctx context.Context, f EventFilter) (gatehouse.Page[*Event], error)
	// FiringAlerts returns, for every rule and subject whose latest event is a firing
	// one, that event.
	FiringAlerts(ctx context.Context) ([]*Event, error)

	// AppendDelivery adds one attempt to the delivery log.
	AppendDelivery(ctx context.Context, d *Delivery) error
	// Deliveries lists the delivery log newest first (in the order appended).
	Deliveries(ctx context.Context, f DeliveryFilter) (gatehouse.Page[*Delivery], error)

	// PruneAlertLog deletes the events and deliveries from before before, except the
	// latest event of every rule and subject (FiringAlerts must not change), and returns
	// how many rows it deleted.
	PruneAlertLog(ctx context.Context, before time.Time) (int64, error)
}
