// Package upstream decides where a proxied request goes and what happens when it fails.
//
// The gateway configures the standard library's httputil.ReverseProxy with a *Pool per API
// as its Transport. By the time RoundTrip runs, ReverseProxy's Rewrite has set the outgoing
// path, query and X-Forwarded-* headers; the Pool picks a target, points the request at it
// (scheme, host, the target URL's own base path joined in front of the request path with
// RawPath kept consistent, and the Host header unless PreserveHost) and sends it with a
// shared, tuned *http.Transport. Rewrite must therefore leave the outgoing URL without a
// target: calling ProxyRequest.SetURL would join a base path twice.
//
// # Balancing
//
// Only targets with weight > 0 are in rotation.
//
//   - round_robin: nginx's smooth weighted round-robin. Weights 5:1:1 give a a b a c a a:
//     the heavy target's turns are spread out instead of bunched. The per-target counters
//     live under one tiny mutex; the pick does not allocate.
//   - least_conn: the target with the fewest requests in flight relative to its weight
//     (in-flight lasts until the response body is closed, so streams count); ties are broken
//     by the same smooth round-robin, as nginx does.
//   - hash: consistent hashing on a ring with virtual nodes (100 for the lightest target,
//     the others in proportion to their weights; the hash is deterministic, so every
//     gateway node maps a key to the same target). hash_on "ip" uses
//     the client IP the gateway passed with WithClientIP, else the last X-Forwarded-For
//     element (the client as the gateway saw it), else the request's RemoteAddr;
//     "header:<Name>" uses that header's first value. A request without a key falls back to
//     round-robin. Removing a target only moves the keys that were on it (unless it was
//     the lightest, whose removal rescales the ring).
//
// A target that is unavailable (marked down by active checks, or ejected by the passive
// breaker) is skipped; with hash, the walk continues to the next node on the ring so the
// other keys stay put.
//
// # Health
//
// Targets start healthy, so a new pool serves at once.
//
// Active checks (HealthCheck, off unless configured) GET the path on each target's host
// (the path is absolute: the target URL's base path is not prefixed) every Interval
// (default 10s) with Timeout (default 2s). A 2xx or 3xx answer is a success; anything else,
// or an error, is a failure. Unhealthy (default 3) consecutive failures take a target out
// of rotation, Healthy (default 2) consecutive successes put it back; transitions are
// logged. Weight-0 targets are not checked.
//
// Passive checks are a per-target circuit breaker over real traffic. They are ON by
// default, with the defaults below, even when Passive is nil: a gateway that keeps sending
// to a dead target is a bad default, and to make them inert set failures to 1000. A failure
// is a transport error (refused, reset, TLS, timeout, including the request's own deadline)
// or a status from Statuses (default 502, 503, 504); a client that went away counts for
// nothing. After Failures (default 5) consecutive failures the breaker opens: the target is
// ejected for Ejection (default 30s). When that passes, exactly one request is let through
// (half-open). Its success closes the breaker; its failure re-opens it for twice as long
// as the previous ejection, capped at 10 times Ejection. Results of requests that were
// already in flight when the breaker opened are ignored. The verdict is taken when the
// response headers arrive; errors while streaming the body do not count. Active checks and
// the breaker are independent: a target is used only when both allow it.
//
// No panic mode: when no target is available, RoundTrip fails fast with an error wrapping
// ErrNoHealthyUpstream (the gateway answers 503 no_healthy_upstream) instead of silently
// sending traffic to targets known to be failing. The breaker's half-open probe and active
// checks are how a pool recovers.
//
// # Retries
//
// Retries (default 0) extra attempts are made only for idempotent methods (GET, HEAD,
// OPTIONS, TRACE, PUT, DELETE) whose body is empty or can be replayed (req.GetBody), and
// only while the request's context is live. An attempt is retried after a transport error
// that came before any response (refused, reset, TLS failure) and after a status from the
// passive list (that response is drained and closed first). Timeouts (dial timeouts aside,
// which mean the request never left) are retried for GET and HEAD only, since a slow
// upstream may still be acting on the request. Each retry goes to a target not yet tried
// when there is one, else to any available target; when none is available, the last
// response or error is returned as is.
//
// A retry budget caps retries so that they cannot multiply the load on an upstream that is
// already failing: over a sliding 10s window, each request deposits RetryBudget/100
// (default 20%) of a token and each retry spends one, with a floor of 10 retries per
// window so that a quiet API can still retry at all. Without Retries there is no budget.
//
// # Errors
//
// RoundTrip's errors wrap the cause and name the API and target. IsTimeout reports the
// ones the gateway renders as 504 upstream_timeout (response-header timeout, dial timeout,
// context deadline); errors.Is(err, ErrNoHealthyUpstream) is 503; anything else is 502.
//
// # Transports
//
// Requests go through an *http.Transport tuned for a proxy: 256 idle connections per host,
// 90s idle timeout, dial timeout ConnectTimeout (default 5s), ResponseHeaderTimeout
// ResponseTimeout (default 60s), no transparent compression (the client's Accept-Encoding
// passes through untouched), HTTP/2 negotiated with https targets, proxies from the
// environment as in net/http. Transports are shared by every pool of a Registry with the
// same TLS material (the files' contents, server name and verification) and timeouts, so a
// changed upstream keeps its warm connections.
//
// Plain-http requests take a leaner HTTP/1.1 path over that transport (h1.go): the calling
// goroutine writes the request and reads the response, with no per-connection goroutines
// and no read-ahead, which is most of the CPU http.Transport spends on a small proxied
// request. It keeps the same limits (idle connections, idle timeout, dial and response
// timeouts), writes the same bytes, resends once on a fresh connection when a reused one
// turns out stale (as http.Transport does), and hands https targets, upgrades, Expect,
// request trailers and environment proxies to the *http.Transport.
//
// # Reloads
//
// A Registry keeps pools across configuration reloads: the same configuration (including
// the TLS files' contents) returns the same *Pool with its health state, breakers and
// connections; a changed one gets a new, started Pool, and the old one is closed by the
// next Retain, which the gateway calls once the new route table is being served. A closed
// Pool still proxies requests that reach it late; only its health checks stop.
package upstream
