package limit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// gcraScript is GCRA in one round trip. It reads the clock with Redis's TIME, so the
// nodes' clocks do not matter, and works in microseconds as floats: Lua numbers are
// doubles, exact to a quarter of a microsecond at today's epoch, whereas nanoseconds
// would lose precision and integer microseconds would make T = 1s/3 drift.
//
// KEYS[1] the bucket. ARGV: T and τ in microseconds (floats), n, burst.
// Returns {allowed 0|1, remaining, reset µs, retry µs}. The key expires when the bucket
// is full again: from then on a missing key and a stored one mean the same.
const gcraScript = `
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then tat = now end
local function remaining(at)
  local r = math.floor((now + tolerance - at) / interval + 1e-6)
  if r < 0 then return 0 end
  if r > burst then return burst end
  return r
end
if n > burst then
  return {0, remaining(tat), math.ceil(tat - now), math.ceil(tat - now + interval)}
end
local nxt = tat + n * interval
local wait = nxt - tolerance - now
if wait > 0.5 then
  return {0, remaining(tat), math.ceil(tat - now), math.ceil(wait)}
end
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
return {1, remaining(nxt), math.ceil(nxt - now), 0}
`

// Redis timeouts unless the URL sets dial_timeout or write_timeout: a limiter that waits
// rueidis's default 10s for a hung Redis holds every request that long.
const (
	redisDialTimeout  = 2 * time.Second
	redisWriteTimeout = time.Second
)

// Redis is a GCRA limiter shared by every node that uses the same Redis and prefix. Each
// check is one EVALSHA, auto-pipelined with the other requests' checks.
type Redis struct {
	client rueidis.Client
	prefix string
	script *rueidis.Lua
	owned  bool // Close closes client
}

var _ policy.Limiter = (*Redis)(nil)

// NewRedis connects to the Redis at rawURL (redis://[user:password@]host:port/db, or
// rediss:// for TLS; rueidis's query options such as dial_timeout apply) and keeps its
// buckets under prefix (e.g. "gatehouse:rl:"). It fails when Redis cannot be reached.
func NewRedis(ctx context.Context, rawURL, prefix string) (*Redis, error) {
	opt, err := rueidis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", redactURLError(err))
	}
	opt.DisableCache = true // no client-side caching: every check must reach Redis
	// One connection, auto-pipelined: Redis runs scripts on one thread, so more
	// connections would not check faster, and Fallback's probe (a PING) then travels the
	// connection the checks use: when it answers, checks work.
	opt.PipelineMultiplex = -1
	opt.RetryDelay = retryOnce
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = redisDialTimeout
	}
	if opt.ConnWriteTimeout == 0 {
		opt.ConnWriteTimeout = redisWriteTimeout
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connecting to redis at %s: %w", redactURL(rawURL), err)
	}
	r := NewRedisClient(client, prefix)
	r.owned = true
	if err := r.Ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("connecting to redis at %s: %w", redactURL(rawURL), err)
	}
	return r, nil
}

// NewRedisClient uses an existing client (shared with other Redis-backed services);
// Close then leaves the client open.
func NewRedisClient(client rueidis.Client, prefix string) *Redis {
	// Retryable: a check that meets a dropped connection is sent once more on a new one
	// (retryOnce) rather than failing the request. If the first attempt had reached
	// Redis, the caller is charged twice: the error is on the strict side.
	return &Redis{client: client, prefix: prefix, script: rueidis.NewLuaScriptRetryable(gcraScript)}
}

// Allow implements policy.Limiter. A Redis failure returns a rejecting Decision and an
// error wrapping ErrUnavailable.
func (r *Redis) Allow(ctx context.Context, key string, rate policy.Rate, n int64) (policy.Decision, error) {
	g, err := resolve(rate, n)
	if err != nil {
		return policy.Decision{}, err
	}
	// T from the rate itself, not g.interval: integer nanoseconds would round 1s/3 down.
	interval := float64(rate.Window) / float64(rate.Limit) / 1e3
	args := []string{
		strconv.FormatFloat(interval, 'g', -1, 64),
		strconv.FormatFloat(interval*float64(g.burst), 'g', -1, 64),
		strconv.FormatInt(n, 10),
		strconv.FormatInt(g.burst, 10),
	}
	// Concatenating copies the key, which rueidis may still hold if ctx ends mid-flight.
	vals, err := r.script.Exec(ctx, r.client, []string{r.prefix + key}, args).AsIntSlice()
	if err == nil && len(vals) != 4 {
		err = fmt.Errorf("gcra script returned %d values, want 4", len(vals))
	}
	if err != nil {
		return policy.Decision{Retry: time.Second}, fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
	}
	return policy.Decision{
		Allowed:   vals[0] == 1,
		Remaining: vals[1],
		Reset:     time.Duration(vals[2]) * time.Microsecond,
		Retry:     time.Duration(vals[3]) * time.Microsecond,
	}, nil
}

// retryOnce retries a command that failed on the connection (not a Redis error reply) once,
// at once: enough to redial after Redis closed the connection, without making a request
// wait out backoffs while Redis is down.
func retryOnce(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts <= 1 {
		return 0
	}
	return -1
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.client.Do(ctx, r.client.B().Ping().Build()).Error()
}

// Close closes the connection (when NewRedis opened it).
func (r *Redis) Close() {
	if r.owned {
		r.client.Close()
	}
}

// redactURL drops the password so that errors about the URL can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// redactURLError keeps url.Parse's reason but not the URL it quotes, password and all.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New(ue.Err.Error())
	}
	return err
}
