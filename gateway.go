package gatehouse

import "time"

// GatewayStatus is what a node's data plane serves right now: the configuration revision
// of its route table, why the latest configuration was not applied (if it was not), and
// the state of every API's upstream targets.
type GatewayStatus struct {
	Revision int64       `json:"revision"`
	LoadedAt time.Time   `json:"loaded_at,omitzero"`
	Error    string      `json:"error,omitempty"`
	APIs     []APIStatus `json:"apis"`
}

// APIStatus is one served API's upstream as the gateway sees it.
type APIStatus struct {
	Name    string         `json:"name"`
	State   APIState       `json:"state"`
	Targets []TargetStatus `json:"targets"`
}

// TargetStatus is one upstream target: whether it takes traffic and why not.
type TargetStatus struct {
	URL    string `json:"url"`
	Weight int    `json:"weight"`
	// Healthy is the active checks' verdict; true when there are none.
	Healthy bool `json:"healthy"`
	// Breaker is the passive circuit breaker's state: closed, open or half_open.
	Breaker      string    `json:"breaker"`
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	// Available says whether the target takes new requests now (half_open: one probe).
	Available           bool  `json:"available"`
	InFlight            int64 `json:"in_flight"`
	ConsecutiveFailures int64 `json:"consecutive_failures"`
}
