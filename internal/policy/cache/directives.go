package cache

import (
	"net/http"
	"strings"
	"time"
)

// directives are the Cache-Control directives the cache acts on (RFC 9111 §5.2).
type directives struct {
	noStore, noCache, private, mustRevalidate bool
	maxAge, sMaxAge                           int64 // seconds; -1 when absent
}

// maxSeconds keeps ages in seconds far from overflowing a time.Duration.
const maxSeconds = 1 << 32

// parseCacheControl reads every Cache-Control value. Field-qualified private and no-cache
// (private="Set-Cookie") count as unqualified: the cache does not store part of a
// response. A max-age or s-maxage that is not a number counts as 0, as RFC 9111 §4.2.1
// encourages (the response is stale).
func parseCacheControl(values []string) directives {
	d := directives{maxAge: -1, sMaxAge: -1}
	for _, v := range values {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			name = strings.TrimSpace(name)
			switch {
			case strings.EqualFold(name, "no-store"):
				d.noStore = true
			case strings.EqualFold(name, "no-cache"):
				d.noCache = true
			case strings.EqualFold(name, "private"):
				d.private = true
			case strings.EqualFold(name, "must-revalidate"), strings.EqualFold(name, "proxy-revalidate"):
				d.mustRevalidate = true
			case strings.EqualFold(name, "max-age"):
				d.maxAge = seconds(arg, d.maxAge)
			case strings.EqualFold(name, "s-maxage"):
				d.sMaxAge = seconds(arg, d.sMaxAge)
			}
		}
	}
	return d
}

// seconds parses a delta-seconds argument (possibly quoted). A directive that appears
// twice keeps the smaller value: the most restrictive wins.
func seconds(arg string, prev int64) int64 {
	arg = strings.TrimSpace(arg)
	if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
		arg = arg[1 : len(arg)-1]
	}
	n := int64(0)
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c < '0' || c > '9' {
			n = 0
			break
		}
		if n < maxSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	n = min(n, maxSeconds)
	if prev >= 0 {
		return min(prev, n)
	}
	return n
}

// requestDirectives reads a request's Cache-Control, and Pragma: no-cache when it has none.
func requestDirectives(h http.Header) directives {
	cc, ok := h["Cache-Control"]
	if !ok {
		d := directives{maxAge: -1, sMaxAge: -1}
		for _, p := range h["Pragma"] {
			if strings.Contains(strings.ToLower(p), "no-cache") {
				d.noCache = true
			}
		}
		return d
	}
	return parseCacheControl(cc)
}

// lifetime is a response's freshness lifetime (RFC 9111 §4.2.1): s-maxage, else max-age,
// else Expires minus Date, else def; never more than maxTTL.
func lifetime(d directives, h http.Header, now time.Time, def, maxTTL time.Duration) time.Duration {
	var fresh time.Duration
	switch {
	case d.sMaxAge >= 0:
		fresh = time.Duration(d.sMaxAge) * time.Second
	case d.maxAge >= 0:
		fresh = time.Duration(d.maxAge) * time.Second
	case len(h["Expires"]) > 0:
		exp, err := http.ParseTime(h["Expires"][0])
		if err != nil {
			return 0 // an invalid Expires ("0") means already expired
		}
		base := now
		if ds := h["Date"]; len(ds) > 0 {
			if date, err := http.ParseTime(ds[0]); err == nil {
				base = date
			}
		}
		fresh = max(exp.Sub(base), 0)
	default:
		fresh = def
	}
	return min(fresh, maxTTL)
}

// notModified reports whether a client's conditional request is satisfied by a response
// with these validators, so that 304 is the answer (RFC 9110 §13.2.2): If-None-Match with
// weak comparison, else If-Modified-Since against Last-Modified.
func notModified(inm, ims, etag, lastMod string) bool {
	if inm != "" {
		return etag != "" && etagMatch(inm, etag)
	}
	if ims == "" || lastMod == "" {
		return false
	}
	since, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(lastMod)
	return err == nil && !lm.After(since)
}

// etagMatch reports whether the If-None-Match list matches etag, weakly.
func etagMatch(list, etag string) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	etag = strings.TrimPrefix(etag, "W/")
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		tag, rest, ok := scanETag(list)
		if !ok {
			return false
		}
		if strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
		list = rest
	}
}

// scanETag reads one entity-tag (W/"..." or "...") from the start of s. Opaque tags may
// hold commas, so a list is not split on them.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) <= start || s[start] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[start+1:], '"')
	if end < 0 {
		return "", "", false
	}
	end += start + 2
	return s[:end], s[end:], true
}
