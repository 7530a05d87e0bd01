package telemetry

import (
	"encoding/binary"
	"math/rand/v2"
)

// TraceContext is the W3C Trace Context carried by a traceparent header: the trace, the
// sender's span (which becomes the receiver's parent) and the trace flags.
type TraceContext struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// FlagSampled is the sampled trace flag: the caller may have recorded the trace.
const FlagSampled byte = 0x01

// flagRandom is Trace Context level 2's random flag: the trace id's right 7 bytes are random.
const flagRandom byte = 0x02

// traceparentLen is the length of a version 00 traceparent.
const traceparentLen = 55

// ParseTraceparent parses a traceparent header value per W3C Trace Context: version 00
// must be exactly 55 characters; a higher version (never ff) may carry more fields after
// a dash, which are ignored. Hex must be lowercase, and neither id may be all zeros.
func ParseTraceparent(s string) (TraceContext, bool) {
	var tc TraceContext
	if len(s) < traceparentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return tc, false
	}
	ver, ok := hexByte(s[0], s[1])
	if !ok || ver == 0xff {
		return tc, false
	}
	if ver == 0 && len(s) != traceparentLen || ver > 0 && len(s) > traceparentLen && s[traceparentLen] != '-' {
		return tc, false
	}
	if !decodeHex(tc.TraceID[:], s[3:35]) || !decodeHex(tc.SpanID[:], s[36:52]) {
		return tc, false
	}
	if tc.TraceID == ([16]byte{}) || tc.SpanID == ([8]byte{}) {
		return tc, false
	}
	if tc.Flags, ok = hexByte(s[53], s[54]); !ok {
		return tc, false
	}
	return tc, true
}

// NewTraceContext starts a new trace: random ids, not sampled.
func NewTraceContext() TraceContext {
	var tc TraceContext
	newTraceID(&tc.TraceID)
	tc.SpanID = newSpanID()
	tc.Flags = flagRandom
	return tc
}

// Child is the context of a new span in the same trace: a new span id, the same trace
// id and flags.
func (tc TraceContext) Child() TraceContext {
	tc.SpanID = newSpanID()
	return tc
}

// Sampled reports the sampled flag.
func (tc TraceContext) Sampled() bool { return tc.Flags&FlagSampled != 0 }

// IsValid reports whether both ids are non-zero.
func (tc TraceContext) IsValid() bool {
	return tc.TraceID != ([16]byte{}) && tc.SpanID != ([8]byte{})
}

// Format renders the context as a version 00 traceparent.
func (tc TraceContext) Format() string {
	var b [traceparentLen]byte
	return string(tc.AppendFormat(b[:0]))
}

// AppendFormat appends the version 00 traceparent to b.
func (tc TraceContext) AppendFormat(b []byte) []byte {
	b = append(b, '0', '0', '-')
	b = appendHex(b, tc.TraceID[:])
	b = append(b, '-')
	b = appendHex(b, tc.SpanID[:])
	b = append(b, '-')
	return appendHex(b, []byte{tc.Flags})
}

// TraceIDString is the trace id as 32 lowercase hex digits.
func (tc TraceContext) TraceIDString() string {
	var b [32]byte
	return string(appendHex(b[:0], tc.TraceID[:]))
}

// newTraceID fills id with random bits. math/rand/v2's top-level generator is ChaCha8,
// seeded from the OS and kept per thread: cryptographic quality without a syscall.
func newTraceID(id *[16]byte) {
	for {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
		if *id != ([16]byte{}) {
			return
		}
	}
}

func newSpanID() (id [8]byte) {
	for {
		if v := rand.Uint64(); v != 0 {
			binary.BigEndian.PutUint64(id[:], v)
			return id
		}
	}
}

const hexDigits = "0123456789abcdef"

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0x0f])
	}
	return b
}

// unhexTable maps lowercase hex digits to their value and everything else to 0xff.
var unhexTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range 16 {
		t[hexDigits[i]] = byte(i)
	}
	return
}()

func hexByte(hi, lo byte) (byte, bool) {
	h, l := unhexTable[hi], unhexTable[lo]
	return h<<4 | l, h|l < 0x10
}

// decodeHex decodes lowercase hex s into dst (len(s) == 2*len(dst)).
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		b, ok := hexByte(s[2*i], s[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}
