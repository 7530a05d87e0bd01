package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	jwtlib "github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// errJWKSUnavailable means the JWKS could not be fetched and no cached key matches: the
// request gets a 503, not a 401, because the token may well be good.
var errJWKSUnavailable = errors.New("the JWKS cannot be fetched")

const (
	jwksFetchTimeout = 5 * time.Second
	jwksMaxBody      = 1 << 20
	// unknownKIDInterval spaces the fetches that tokens with an unknown kid trigger, so
	// that a stream of made-up kids cannot turn the gateway against the key server.
	unknownKIDInterval = time.Minute
	// failedRetryAfter is how long requests get a 503 without another fetch after a fetch
	// failed while no key was loaded yet.
	failedRetryAfter = 5 * time.Second
)

var jwksClient = &http.Client{Timeout: jwksFetchTimeout}

// jwksRegistry holds every JWKS this process uses, keyed by the node's lifetime context and
// the URL: a configuration reload builds new chains with the same Env.Ctx, and they reuse
// the keys already fetched instead of fetching them again. An entry leaves the registry
// when its context ends, which also stops its refresher.
var jwksRegistry = struct {
	sync.Mutex
	sets map[jwksKey]*jwksSet
}{sets: map[jwksKey]*jwksSet{}}

type jwksKey struct {
	ctx context.Context
	url string
}

// sharedJWKS returns the node's set for rawURL, creating it (without fetching) if needed.
// A smaller refresh interval than the set's current one wins.
func sharedJWKS(env *policy.Env, rawURL string, refresh time.Duration) *jwksSet {
	ctx := env.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	k := jwksKey{ctx, rawURL}
	r := &jwksRegistry
	r.Lock()
	defer r.Unlock()
	if s := r.sets[k]; s != nil {
		s.lowerInterval(refresh)
		return s
	}
	s := newJWKSSet(ctx, rawURL, refresh, env.Clock(), env.Log())
	r.sets[k] = s
	context.AfterFunc(ctx, func() {
		r.Lock()
		if r.sets[k] == s {
			delete(r.sets, k)
		}
		r.Unlock()
	})
	return s
}

// jwksSet is one JWKS URL's keys. Keys load on first use; a refresher bound to ctx then
// fetches them every interval, and a token with an unknown kid triggers a fetch at most
// once per unknownKIDInterval. A failed refresh keeps the keys already loaded.
type jwksSet struct {
	url      string
	redacted string // for logs: no userinfo
	ctx      context.Context
	now      func() time.Time
	log      *slog.Logger
	store    *jwkset.MemoryJWKSet
	kf       keyfunc.Keyfunc
	interval atomic.Int64
	loaded   atomic.Bool
	flight   singleflight.Group
	start    sync.Once

	mu          sync.Mutex
	lastErr     error // the last fetch's error; nil after a success
	lastAttempt time.Time
	lastUnknown time.Time // the last fetch an unknown kid triggered
}

func newJWKSSet(ctx context.Context, rawURL string, refresh time.Duration, now func() time.Time, log *slog.Logger) *jwksSet {
	s := &jwksSet{url: rawURL, redacted: rawURL, ctx: ctx, now: now, log: log, store: jwkset.NewMemoryStorage()}
	if u, err := url.Parse(rawURL); err == nil {
		s.redacted = u.Redacted()
	}
	s.interval.Store(int64(refresh))
	// keyfunc matches the token's kid and alg against the JWKs; storage adds our loading.
	s.kf, _ = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage{s.store, s}})
	return s
}

func (s *jwksSet) lowerInterval(d time.Duration) {
	for {
		cur := s.interval.Load()
		if int64(d) >= cur || s.interval.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// keyfunc is the jwtlib.Keyfunc for one request.
func (s *jwksSet) keyfunc(ctx context.Context) jwtlib.Keyfunc { return s.kf.KeyfuncCtx(ctx) }

// storage is the JWK storage keyfunc reads: the in-memory set, loaded on first use and
// fetched again for unknown kids.
type storage struct {
	*jwkset.MemoryJWKSet
	s *jwksSet
}

// KeyRead finds kid, fetching the set when it is not loaded yet or (rate limited) when kid
// is unknown.
func (st storage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	if err := st.s.ensure(ctx); err != nil {
		return jwkset.JWK{}, err
	}
	jwk, err := st.MemoryJWKSet.KeyRead(ctx, kid)
	if err == nil {
		return jwk, nil
	}
	if st.s.allowUnknownKID() {
		if ferr := st.s.fetch(ctx); ferr != nil {
			return jwkset.JWK{}, ferr
		}
		return st.MemoryJWKSet.KeyRead(ctx, kid)
	}
	if st.s.failing() {
		return jwkset.JWK{}, errJWKSUnavailable
	}
	return jwkset.JWK{}, err
}

// KeyReadAll serves tokens without a kid: every key is tried.
func (st storage) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	if err := st.s.ensure(ctx); err != nil {
		return nil, err
	}
	return st.MemoryJWKSet.KeyReadAll(ctx)
}

// ensure loads the keys on first use and starts the refresher.
func (s *jwksSet) ensure(ctx context.Context) error {
	if s.loaded.Load() {
		return nil
	}
	s.start.Do(func() { go s.refresher() })
	s.mu.Lock()
	recentFailure := s.lastErr != nil && s.now().Sub(s.lastAttempt) < failedRetryAfter
	s.mu.Unlock()
	if recentFailure {
		return errJWKSUnavailable
	}
	return s.fetch(ctx)
}

func (s *jwksSet) allowUnknownKID() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.lastUnknown.IsZero() && now.Sub(s.lastUnknown) < unknownKIDInterval {
		return false
	}
	s.lastUnknown = now
	return true
}

func (s *jwksSet) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr != nil
}

// fetch downloads the set once for all concurrent callers. The download runs under the
// node's context, so one caller giving up does not fail the others.
func (s *jwksSet) fetch(ctx context.Context) error {
	ch := s.flight.DoChan("", s.download)
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return errJWKSUnavailable
	}
}

func (s *jwksSet) refresher() {
	for {
		t := time.NewTimer(time.Duration(s.interval.Load()))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_, _, _ = s.flight.Do("", s.download)
	}
}

func (s *jwksSet) download() (any, error) {
	ctx, cancel := context.WithTimeout(s.ctx, jwksFetchTimeout)
	defer cancel()
	keys, err := s.get(ctx)
	s.mu.Lock()
	s.lastAttempt = s.now()
	s.lastErr = err
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("jwt: fetching the JWKS failed; keeping the keys already loaded", "url", s.redacted, "error", err)
		return nil, fmt.Errorf("%w: %v", errJWKSUnavailable, err)
	}
	_ = s.store.KeyReplaceAll(ctx, keys) // the memory store never fails
	s.loaded.Store(true)
	return nil, nil
}

// get fetches and parses the set. Keys it cannot use (encryption keys, unsupported types,
// symmetric keys, which a JWKS must not share) are skipped; a set with no usable key is
// an error, so a broken endpoint does not wipe the keys already loaded.
func (s *jwksSet) get(ctx context.Context) ([]jwkset.JWK, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := jwksClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBody {
		return nil, fmt.Errorf("the set is larger than %d bytes", jwksMaxBody)
	}
	return parseJWKS(body)
}

func parseJWKS(body []byte) ([]jwkset.JWK, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		if m.USE == jwkset.UseEnc || m.KTY == jwkset.KtyOct {
			continue
		}
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		if algorithmsFor(k.Key()) == nil {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signature key among %d", len(set.Keys))
	}
	return keys, nil
}
