package quota

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// DefaultRedisPrefix starts every key Redis writes unless NewRedis is given another.
const DefaultRedisPrefix = "gatehouse:quota:"

// expiryMargin keeps a counter in Redis this long after its period ends, so that nodes
// whose clocks run a little late still find it rather than starting again at zero.
const expiryMargin = time.Hour

// takeScript checks and adds in one step. KEYS[1] is the counter; ARGV: n, limit, and the
// expiry in milliseconds, set when the counter is created. Returns {count, allowed}.
// Lua numbers are doubles: counts and limits are exact up to 2^53.
const takeScript = `
local n = tonumber(ARGV[1])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c + n > tonumber(ARGV[2]) then
  return {c, 0}
end
if n == 0 then
  return {c, 1}
end
c = redis.call('INCRBY', KEYS[1], n)
if c == n then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {c, 1}
`

// Redis is a policy.Quotas over Redis: one round trip per Take, exact across nodes.
type Redis struct {
	client rueidis.Client
	owned  bool // Close closes client
	prefix string
	script *rueidis.Lua
	now    func() time.Time
}

// NewRedis connects to the Redis named by rawURL (redis://[user:password@]host:port/db, or
// rediss:// for TLS) and stores counters under prefix (DefaultRedisPrefix if empty).
// Errors never repeat the URL, which may hold a password.
func NewRedis(rawURL, prefix string) (*Redis, error) {
	opt, err := rueidis.ParseURL(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return nil, fmt.Errorf("quota: bad redis URL (want redis://[user:password@]host:port/db or rediss://...): %w", err)
	}
	// Counters are never read back through the client: no server-assisted client cache.
	opt.DisableCache = true
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("quota: connecting to redis %s: %w", opt.InitAddress, err)
	}
	r := RedisFrom(client, prefix)
	r.owned = true
	return r, nil
}

// RedisFrom returns a Redis over an existing client (shared with other users of the same
// server); Close then leaves the client open.
func RedisFrom(client rueidis.Client, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, prefix: prefix, script: rueidis.NewLuaScript(takeScript), now: time.Now}
}

// Take implements policy.Quotas. A counter's key is prefix + key + ":" + the period start
// in Unix seconds.
func (r *Redis) Take(ctx context.Context, key string, start, end time.Time, limit, n int64) (int64, bool, error) {
	if n < 0 {
		return 0, false, ErrNegative
	}
	ttl := max(end.Sub(r.now()), 0) + expiryMargin
	rkey := r.prefix + key + ":" + strconv.FormatInt(start.Unix(), 10)
	res, err := r.script.Exec(ctx, r.client, []string{rkey},
		[]string{strconv.FormatInt(n, 10), strconv.FormatInt(limit, 10), strconv.FormatInt(ttl.Milliseconds(), 10)},
	).AsIntSlice()
	if err != nil {
		return 0, false, fmt.Errorf("quota: redis: %w", err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("quota: redis: unexpected reply %v", res)
	}
	return res[0], res[1] == 1, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.client.Do(ctx, r.client.B().Ping().Build()).Error()
}

// Close closes the client if NewRedis opened it. It is idempotent.
func (r *Redis) Close() error {
	if r.owned {
		r.client.Close()
	}
	return nil
}
