package limit

import (
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Keys builds one policy instance's keys: "<scope>:" and what By picks from the request.
type Keys struct {
	prefix string
	by     By
}

// NewKeys returns the keys of the policy instance name under scope; "" means the default
// scope, "<api name>:<policy name>": the instance's own counts, shared by the API's routes.
func NewKeys(env *policy.Env, name, scope string, by By) Keys {
	if scope == "" {
		api := ""
		if env.API != nil {
			api = env.API.Name
		}
		scope = api + ":" + name
		// A route that sets its own policy of this type replaced the API's (policy.Merge):
		// its buckets must not be the API's, nor another route's.
		typ, _, _ := strings.Cut(name, "#")
		if r := env.Route; r != nil && slices.ContainsFunc(r.Policies, func(s gatehouse.PolicySpec) bool { return s.Type == typ && !s.Disabled }) {
			route := r.Name
			if route == "" {
				route = strings.Join(r.Methods, ",") + " " + r.Path
			}
			scope = api + ":" + route + ":" + name
		}
	}
	return Keys{prefix: scope + ":", by: by}
}

// Key is one request's key in a pooled buffer, so that building it allocates nothing.
type Key struct{ b []byte }

var keyPool = sync.Pool{New: func() any { return &Key{b: make([]byte, 0, 128)} }}

// Build returns c's key; Free it once the limiter has returned.
func (k Keys) Build(c *policy.Context) *Key {
	key := keyPool.Get().(*Key)
	key.b = k.by.AppendKey(append(key.b[:0], k.prefix...), c)
	return key
}

// String is the key, valid until Free: the limiters here copy what they keep (see the
// package comment).
func (k *Key) String() string { return unsafe.String(unsafe.SliceData(k.b), len(k.b)) }

// Free returns the buffer to the pool.
func (k *Key) Free() { keyPool.Put(k) }
