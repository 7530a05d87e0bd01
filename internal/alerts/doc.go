// Package alerts watches the live analytics and the upstream and quota state against
// operator rules, and tells people when something goes wrong and when it is over.
//
// A Rule measures one thing (error rate, a latency percentile, 429s, a traffic spike or
// drop against a baseline, unhealthy upstream targets, quota use) per subject (an API, an
// app) and compares it with a threshold. The Engine evaluates every enabled rule every
// Interval and keeps, per rule and subject, a small state machine with hysteresis:
//
//	ok → pending        the value breaches the threshold
//	pending → firing    it kept breaching for the rule's `for`         (a firing event)
//	pending → ok        it stopped breaching first                     (nothing sent)
//	firing → resolving  the value is clearly back: past resolve_threshold, or no data
//	resolving → firing  it went back into the band before resolve_for  (nothing sent)
//	resolving → ok      it stayed back for resolve_for                 (a resolved event)
//
// A firing or resolved Event is appended to the alert log (Store), published as JSON to a
// realtime channel (Options.Channel, "gatehouse.alerts" by default) and queued for the
// rule's webhooks. Webhook deliveries are signed (see Sign and VerifySignature), retried
// with exponential backoff and jitter, logged per attempt, and never block the engine: a
// full queue drops the delivery and counts it.
//
// The engine reads its input through Source, which the node implements over its
// per-second analytics, and persists rules, webhooks, events and deliveries through
// Store (internal/store/sqlstore implements it; NewMemoryStore is for tests). On start it
// takes the alerts that the log shows firing and not resolved as firing, so a restart
// neither fires them again nor forgets to resolve them.
//
// Mount adds the admin API: rules and webhooks CRUD, the alert log, the firing alerts,
// the delivery log and test deliveries.
package alerts
