package cache

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// An entry is a stored response, in a compact binary form:
//
//	offset  size  field
//	0       1     format version (1)
//	1       2     status, big endian
//	3       8     stored at, Unix nanoseconds
//	11      8     freshness lifetime ("ttl"), nanoseconds
//	19      1     flags (flagMustRevalidate)
//	20      4     length of the header block
//	24      n     header block: uvarint keys, uvarint values (in all), then per key:
//	              uvarint len, key, uvarint count, per value: uvarint len, value
//	24+n    ...   body, to the end
//
// The ETag and Last-Modified validators are read from the header block. Stored headers
// exclude hop-by-hop ones, Content-Length (derived from the body), Age and X-Cache.
const (
	entryVersion = 1
	entryFixed   = 24

	flagMustRevalidate = 1 << 0
)

var errCorrupt = errors.New("corrupt cache entry")

// entry is a decoded stored response. head, the strings in it and clen are one
// allocation; body aliases the bytes the cache returned (never modified).
type entry struct {
	status   int
	storedAt time.Time
	fresh    time.Duration
	flags    byte
	head     string
	clen     string // len(body), formatted for Content-Length
	keys     int    // header keys in head
	values   int    // header values in head, in all
	etag     string
	lastMod  string
	body     []byte
}

func (e *entry) mustRevalidate() bool { return e.flags&flagMustRevalidate != 0 }

// appendEntryHead encodes everything but the body; the body is appended after it.
func appendEntryHead(b []byte, status int, storedAt time.Time, fresh time.Duration, flags byte, h http.Header) []byte {
	b = append(b, entryVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(status))
	b = binary.BigEndian.AppendUint64(b, uint64(storedAt.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(fresh))
	b = append(b, flags)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	start := len(b)
	keys, values := 0, 0
	for k, vs := range h {
		if storedHeader(k, h) {
			keys++
			values += len(vs)
		}
	}
	b = binary.AppendUvarint(b, uint64(keys))
	b = binary.AppendUvarint(b, uint64(values))
	for k, vs := range h {
		if !storedHeader(k, h) {
			continue
		}
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-start))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// notStored are the response headers an entry leaves out: hop-by-hop ones, and those the
// cache sets itself when it serves the entry.
var notStored = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Content-Length", "Age", "X-Cache", "Set-Cookie",
}

// storedHeader reports whether header k of response h goes into an entry.
func storedHeader(k string, h http.Header) bool {
	for _, n := range notStored {
		if strings.EqualFold(k, n) {
			return false
		}
	}
	// Headers the response's Connection names are hop-by-hop too.
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return false
			}
		}
	}
	return true
}

// decodeEntry parses b, checking every length, so that a corrupt or foreign value is an
// error and never a panic. It allocates the header block once.
func decodeEntry(b []byte) (entry, error) {
	var e entry
	if len(b) < entryFixed || b[0] != entryVersion {
		return e, errCorrupt
	}
	e.status = int(binary.BigEndian.Uint16(b[1:]))
	if e.status < 100 || e.status > 999 {
		return e, errCorrupt
	}
	e.storedAt = time.Unix(0, int64(binary.BigEndian.Uint64(b[3:])))
	e.fresh = time.Duration(binary.BigEndian.Uint64(b[11:]))
	if e.fresh < 0 {
		return e, errCorrupt
	}
	e.flags = b[19]
	n := binary.BigEndian.Uint32(b[20:])
	if uint64(n) > uint64(len(b)-entryFixed) {
		return e, errCorrupt
	}
	e.body = b[entryFixed+int(n):]
	var sb strings.Builder
	sb.Grow(int(n) + 20)
	sb.Write(b[entryFixed : entryFixed+int(n)])
	var digits [20]byte
	sb.Write(strconv.AppendInt(digits[:0], int64(len(e.body)), 10))
	all := sb.String()
	e.head, e.clen = all[:n], all[n:]
	if err := e.scan(); err != nil {
		return entry{}, err
	}
	return e, nil
}

// scan checks the header block's structure, counts it and finds the validators.
func (e *entry) scan() error {
	s := e.head
	keys, i := uvarint(s, 0)
	values, i := uvarint(s, i)
	// Every key and value takes at least one byte: this bounds what apply allocates.
	if i < 0 || keys > uint64(len(s)) || values > uint64(len(s)) {
		return errCorrupt
	}
	seen := uint64(0)
	for range keys {
		var k string
		if k, i = str(s, i); i < 0 {
			return errCorrupt
		}
		var count uint64
		if count, i = uvarint(s, i); i < 0 || count > values-seen {
			return errCorrupt
		}
		seen += count
		for j := range count {
			var v string
			if v, i = str(s, i); i < 0 {
				return errCorrupt
			}
			if j == 0 {
				switch k {
				case "Etag":
					e.etag = v
				case "Last-Modified":
					e.lastMod = v
				}
			}
		}
	}
	if i != len(s) || seen != values {
		return errCorrupt
	}
	e.keys, e.values = int(keys), int(values)
	return nil
}

// apply adds the entry's headers to dst (after any the request already has), leaving out
// the representation's metadata when notModified. It returns extra free strings from the
// same allocation as the values, for the headers the caller adds.
func (e *entry) apply(dst http.Header, notModified bool, extra int) []string {
	vals := make([]string, e.values+extra)
	s := e.head
	_, i := uvarint(s, 0)
	_, i = uvarint(s, i)
	at := 0
	for range e.keys {
		var k string
		k, i = str(s, i)
		count, j := uvarint(s, i)
		i = j
		start := at
		for range count {
			vals[at], i = str(s, i)
			at++
		}
		if notModified && isContentHeader(k) {
			continue
		}
		vs := vals[start:at:at]
		if old := dst[k]; len(old) > 0 {
			vs = append(old, vs...)
		}
		dst[k] = vs
	}
	return vals[at:]
}

// header decodes the stored headers into a new map (revalidation merges into it).
func (e *entry) header() http.Header {
	h := make(http.Header, e.keys)
	e.apply(h, false, 0)
	return h
}

// isContentHeader names what a 304 leaves out (as http.ServeContent does).
func isContentHeader(k string) bool {
	return k == "Content-Type" || k == "Content-Encoding" || k == "Content-Length"
}

// uvarint reads a uvarint from s at i; the index is -1 on error (and stays -1).
func uvarint(s string, i int) (uint64, int) {
	if i < 0 {
		return 0, -1
	}
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(s) {
			return 0, -1
		}
		c := s[i]
		i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<shift, i
		}
		x |= uint64(c&0x7f) << shift
	}
	return 0, -1
}

// str reads a length-prefixed string from s at i.
func str(s string, i int) (string, int) {
	n, i := uvarint(s, i)
	if i < 0 || n > uint64(len(s)-i) {
		return "", -1
	}
	return s[i : i+int(n)], i + int(n)
}
