package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Redis defaults.
const (
	DefaultRedisPrefix   = "gatehouse:cache:"
	DefaultMaxEntryBytes = 1 << 20
	DefaultRedisTimeout  = 500 * time.Millisecond
	// redisBackoff is how long a failing server is left alone: while Redis is down every
	// request would otherwise wait for its own timeout.
	redisBackoff = time.Second
)

// ErrUnavailable is what Redis returns while it leaves a failing server alone.
var ErrUnavailable = errors.New("redis cache: unavailable, retrying shortly")

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// Prefix is put in front of every key, so that several uses can share a database;
	// "" means DefaultRedisPrefix.
	Prefix string
	// MaxEntryBytes: larger values are not stored; 0 means DefaultMaxEntryBytes.
	MaxEntryBytes int
	// Timeout bounds each Get and Set; 0 means DefaultRedisTimeout.
	Timeout time.Duration
}

// Redis is a policy.Cache in Redis, shared by every node that uses the same server and
// prefix. Entries are plain strings set with PX; Purge walks the prefix with SCAN and
// UNLINKs what it finds (never KEYS), on every node of a cluster, so it costs a pass over
// the keyspace: it is an administrative action, not a hot path.
//
// After an error Get and Set fail fast with ErrUnavailable for a second rather than each
// waiting for the timeout; a cache miss is the caller's fallback either way.
type Redis struct {
	client    rueidis.Client
	prefix    string
	maxEntry  int
	timeout   time.Duration
	downUntil atomic.Int64 // unix nanoseconds; 0 while healthy
}

var _ policy.Cache = (*Redis)(nil)

// NewRedis connects to the server at url (redis://[user:pass@]host:port/db, rediss:// for
// TLS, unix:///path). It fails when the server cannot be reached.
func NewRedis(url string, o RedisOptions) (*Redis, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis cache: bad url: %w", err)
	}
	// Client-side caching needs RESP3 and CLIENT TRACKING, which this cache does not use
	// and not every compatible server offers.
	opt.DisableCache = true
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = o.Timeout * 4
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis cache: connecting: %w", err)
	}
	return &Redis{client: client, prefix: o.Prefix, maxEntry: o.MaxEntryBytes, timeout: o.Timeout}, nil
}

// Close closes the connections.
func (r *Redis) Close() { r.client.Close() }

// Get implements policy.Cache.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if r.resting() {
		return nil, false, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.client.Do(ctx, r.client.B().Get().Key(r.prefix+key).Build()).AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, false, nil
		}
		return nil, false, r.failed(ctx, "get", err)
	}
	return b, true, nil
}

// Set implements policy.Cache. Values over MaxEntryBytes, and ttls that are not positive,
// store nothing.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 || len(value) > r.maxEntry {
		return nil
	}
	if r.resting() {
		return ErrUnavailable
	}
	ms := max(ttl.Milliseconds(), 1)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := r.client.B().Set().Key(r.prefix + key).Value(rueidis.BinaryString(value)).PxMilliseconds(ms).Build()
	if err := r.client.Do(ctx, cmd).Error(); err != nil {
		return r.failed(ctx, "set", err)
	}
	return nil
}

// Purge implements policy.Cache: SCAN MATCH prefix* on every node, UNLINK per batch.
func (r *Redis) Purge(ctx context.Context, prefix string) error {
	pattern := escapeGlob(r.prefix+prefix) + "*"
	for addr, node := range r.client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return fmt.Errorf("redis cache: purge: scanning %s: %w", addr, err)
			}
			if len(e.Elements) > 0 {
				// One UNLINK per key: in a cluster, keys of one batch live in different slots.
				cmds := make(rueidis.Commands, 0, len(e.Elements))
				for _, k := range e.Elements {
					cmds = append(cmds, r.client.B().Unlink().Key(k).Build())
				}
				for _, res := range r.client.DoMulti(ctx, cmds...) {
					if err := res.Error(); err != nil {
						return fmt.Errorf("redis cache: purge: unlinking: %w", err)
					}
				}
			}
			cursor = e.Cursor
			if cursor == 0 {
				break
			}
		}
	}
	return nil
}

func (r *Redis) resting() bool {
	until := r.downUntil.Load()
	return until != 0 && time.Now().UnixNano() < until
}

// failed starts a backoff unless the caller gave up (its context ended, not ours).
func (r *Redis) failed(ctx context.Context, op string, err error) error {
	if !errors.Is(err, context.Canceled) || ctx.Err() == nil {
		r.downUntil.Store(time.Now().Add(redisBackoff).UnixNano())
	}
	return fmt.Errorf("redis cache: %s: %w", op, err)
}

// escapeGlob quotes the characters SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
