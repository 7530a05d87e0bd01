package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// PurgePrefix is the prefix of every key the cache policy stores for api: purging it
// (policy.Cache.Purge) empties that API's cache and nothing else.
func PurgePrefix(api string) string { return api + ":" }

// key is the entry key of c's request: PurgePrefix(api) and the first 128 bits of a
// SHA-256 of the request's parts. The hash is cryptographic because the key is all that
// keeps one app's responses from another: crafting a collision must not be feasible.
// Every part is length-prefixed, so that no two different requests hash the same input.
func (h *handler) key(c *policy.Context) string {
	r := c.R
	var scratch [512]byte
	b := scratch[:0]
	b = append(b, 'G') // GET and HEAD share entries
	if r.TLS != nil {
		b = append(b, 's')
	} else {
		b = append(b, 'h')
	}
	b = appendField(b, r.Host)
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	b = appendField(b, path)
	b = h.appendQuery(b, r.URL.RawQuery)
	for _, name := range h.vary {
		vs := r.Header[name]
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendField(b, v)
		}
	}
	if h.perApp {
		b = appendField(b, c.Identity.App)
	}
	sum := sha256.Sum256(b)
	var hx [32]byte
	hex.Encode(hx[:], sum[:16])
	var sb strings.Builder
	sb.Grow(len(h.prefix) + len(hx))
	sb.WriteString(h.prefix)
	sb.Write(hx[:])
	return sb.String()
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendQuery adds the query's part of the key: parameters in their raw form, sorted by
// name so that their order does not matter, while repeated parameters keep theirs (a=1&a=2
// and a=2&a=1 can mean different things upstream).
func (h *handler) appendQuery(b []byte, raw string) []byte {
	if h.query == queryNone {
		return append(b, 0)
	}
	var scratch [32]string
	parts := scratch[:0]
	for raw != "" {
		var p string
		p, raw, _ = strings.Cut(raw, "&")
		if p == "" || h.query == queryList && !h.wantParam(p) {
			continue
		}
		parts = append(parts, p)
	}
	slices.SortStableFunc(parts, func(a, b string) int { return strings.Compare(paramName(a), paramName(b)) })
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = appendField(b, p)
	}
	return b
}

func paramName(p string) string {
	name, _, _ := strings.Cut(p, "=")
	return name
}

// wantParam reports whether parameter p (raw "name=value") is one of query_params.
func (h *handler) wantParam(p string) bool {
	name := paramName(p)
	if strings.ContainsAny(name, "%+") {
		n, err := url.QueryUnescape(name)
		if err != nil {
			return false
		}
		name = n
	}
	return slices.Contains(h.params, name)
}
