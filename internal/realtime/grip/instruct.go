// Package grip implements the GRIP protocol as Pushpin 1.36 speaks it, as a
// pure library: it reads the instructions an origin puts in its response
// (Grip-* headers or an application/grip-instruct body), signs and verifies
// Grip-Sig tokens, and knows which headers the client must never see. The
// realtime proxy does the networking; keeping the protocol here lets it be
// table-tested against the bytes recorded from Pushpin and fuzzed.
package grip

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits, as in Pushpin 1.36 (see grip.md §1.3, §1.6).
const (
	DefaultTimeout          = 55 * time.Second
	MinTimeout              = 5 * time.Second
	DefaultKeepAliveTimeout = 55 * time.Second
	MinKeepAliveTimeout     = time.Second
	DefaultLinkTimeout      = 120 * time.Second
	// MaxChannels is Pushpin's connection_subscription_max; the parser keeps
	// every channel and the proxy drops the extras, so it can log them.
	MaxChannels = 20
	// MaxInstructSize bounds a buffered instruct response body.
	MaxInstructSize = 100_000

	// ContentType is the media type of a JSON instruct body.
	ContentType = "application/grip-instruct"
	// Features is the exact Grip-Feature request header Pushpin 1.36 sends.
	Features = "status, session, link:next, filter:skip-self, filter:skip-users, filter:require-sub, filter:build-id, filter:var-subst"
)

// HoldMode says how the proxy keeps the client connection.
type HoldMode string

// Hold modes. HoldNone with a next link is Pushpin's pagination mode.
const (
	HoldNone     HoldMode = ""
	HoldResponse HoldMode = "response"
	HoldStream   HoldMode = "stream"
)

// KeepAliveMode says whether a keep-alive timer restarts on every write.
type KeepAliveMode string

// Keep-alive modes; idle is the default.
const (
	KeepAliveIdle     KeepAliveMode = "idle"
	KeepAliveInterval KeepAliveMode = "interval"
)

// Channel is one subscription requested by the origin.
type Channel struct {
	Name    string
	PrevID  string // empty when the origin gave no prev-id
	Filters []string
}

// KeepAlive is the data sent on a stream hold when it has been quiet.
type KeepAlive struct {
	Data    []byte
	Timeout time.Duration // default and minimum applied
	Mode    KeepAliveMode
}

// Link is a Grip-Link target; URI is unresolved (the proxy resolves it
// against the request URI).
type Link struct {
	URI     *url.URL
	Timeout time.Duration // default applied; zero for rel=gone
}

// Response is the response the client gets first (stream hold) or on timeout
// (response hold).
type Response struct {
	Code   int
	Reason string
	Header http.Header
	Body   []byte
}

// Instruction is everything an origin asked for in one response.
type Instruction struct {
	Hold     HoldMode
	Channels []Channel
	// Timeout of a response hold, default and minimum applied.
	Timeout   time.Duration
	KeepAlive *KeepAlive // nil: no keep-alive
	// StatusCode and Reason come from Grip-Status (or the instruct JSON);
	// StatusCode 0 means keep the origin's status.
	StatusCode int
	Reason     string
	NextLink   *Link
	GoneLink   *Link
	// LastIDs is Grip-Last: channel → last-id (session feature).
	LastIDs map[string]string
	// ExposeHeaders, when non-nil, is the only origin headers the client sees.
	ExposeHeaders []string
	// Meta is subscription meta from Grip-Set-Meta, used by filters.
	Meta map[string]string
	// Response is set by an application/grip-instruct body: it replaces the
	// origin's response entirely (its headers are the only ones sent).
	Response *Response
}

// Error is an invalid instruction. The proxy answers 502 with ClientBody (or
// DebugBody when the route has debug on), as Pushpin does [T:K].
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "grip: " + e.Reason }

// Status, ClientBody and DebugBody are what Pushpin sends for an invalid
// instruction.
const (
	ErrorStatus      = http.StatusBadGateway
	ErrorContentType = "text/plain"
	ClientBody       = "Error while proxying to origin.\n"
)

// DebugBody is the 502 body Pushpin sends with debug=true.
func (e *Error) DebugBody() string {
	return "Failed to parse accept instructions: " + e.Reason + "\n"
}

func invalid(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// IsGrip reports whether an origin response carries GRIP instructions: any
// header named Grip-*, or a Content-Type (before ';') of application/grip-instruct.
func IsGrip(h http.Header) bool {
	for k := range h {
		if isGripName(k) {
			return true
		}
	}
	return isInstructType(h)
}

func isGripName(k string) bool {
	return len(k) >= 5 && strings.EqualFold(k[:5], "grip-")
}

func isInstructType(h http.Header) bool {
	v := headerValues(h, "Content-Type")
	if len(v) == 0 {
		return false
	}
	// Compared case-sensitively, as Pushpin does.
	ct, _, _ := strings.Cut(v[0], ";")
	return strings.TrimSpace(ct) == ContentType
}

// Parse reads the instructions from an origin response. body is only read for
// application/grip-instruct. The returned error is an *Error.
func Parse(status int, h http.Header, body []byte) (*Instruction, error) {
	in := &Instruction{Timeout: DefaultTimeout}
	if err := in.parseHeaders(h); err != nil {
		return nil, err
	}
	if isInstructType(h) {
		if status != http.StatusOK {
			return nil, invalid("response code for application/grip-instruct content must be 200")
		}
		if err := in.parseJSON(body); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func (in *Instruction) parseHeaders(h http.Header) error {
	if v := headerValues(h, "Grip-Hold"); len(v) > 0 {
		switch v[0] {
		case "response":
			in.Hold = HoldResponse
		case "stream":
			in.Hold = HoldStream
		default:
			return invalid("Grip-Hold must be set to either 'response' or 'stream'")
		}
	}
	for _, e := range ParseList(headerValues(h, "Grip-Channel")) {
		if e.First == "" {
			return invalid("failed to parse Grip-Channel")
		}
		c := Channel{Name: e.First}
		for _, p := range e.Params {
			switch strings.ToLower(p.Name) {
			case "prev-id":
				if c.PrevID == "" {
					c.PrevID = p.Value
				}
			case "filter":
				c.Filters = append(c.Filters, p.Value)
			}
		}
		in.Channels = append(in.Channels, c)
	}
	if v := headerValues(h, "Grip-Timeout"); len(v) > 0 {
		n, err := atoi32(v[0])
		if err != nil {
			return invalid("failed to parse Grip-Timeout")
		}
		if n < 0 {
			return invalid("Grip-Timeout has invalid value")
		}
		in.Timeout = clampTimeout(n)
	}
	if v := headerValues(h, "Grip-Expose-Headers"); len(v) > 0 {
		// An empty list exposes everything, as in Pushpin: nil means no filter.
		for _, e := range ParseList(v) {
			if e.First != "" {
				in.ExposeHeaders = append(in.ExposeHeaders, e.First)
			}
		}
	}
	// Only the first Grip-Keep-Alive counts and it is not comma-split, so
	// keep-alive data may contain commas.
	if v := headerValues(h, "Grip-Keep-Alive"); len(v) > 0 {
		ka, err := parseKeepAlive(ParseEntry(v[0]))
		if err != nil {
			return err
		}
		in.KeepAlive = ka
	}
	if err := in.parseMeta(h); err != nil {
		return err
	}
	if err := in.parseStatus(h); err != nil {
		return err
	}
	if err := in.parseLinks(h); err != nil {
		return err
	}
	for _, e := range ParseList(headerValues(h, "Grip-Last")) {
		if id, ok := e.Get("last-id"); ok && e.First != "" {
			if in.LastIDs == nil {
				in.LastIDs = map[string]string{}
			}
			in.LastIDs[e.First] = id
		}
	}
	return nil
}

// atoi32 parses like Qt's QByteArray::toInt: an int32, surrounding spaces
// allowed, anything larger is a parse error (and so a 502), not a clamp.
func atoi32(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	return int(n), err
}

// clampTimeout applies the 5 s floor; the cap only keeps absurd values from
// overflowing a Duration.
func clampTimeout(n int) time.Duration {
	return max(time.Duration(min(n, 1<<30))*time.Second, MinTimeout)
}

func parseKeepAlive(e Entry) (*KeepAlive, error) {
	if e.First == "" {
		return nil, invalid("Grip-Keep-Alive cannot be empty")
	}
	ka := &KeepAlive{Mode: KeepAliveIdle, Timeout: DefaultKeepAliveTimeout}
	switch mode, _ := e.Get("mode"); mode {
	case "", "idle":
	case "interval":
		ka.Mode = KeepAliveInterval
	default:
		return nil, invalid("no such Grip-Keep-Alive mode '%s'", mode)
	}
	if t, ok := e.Get("timeout"); ok {
		n, err := atoi32(t)
		if err != nil {
			return nil, invalid("failed to parse Grip-Keep-Alive timeout value")
		}
		if n < 0 {
			return nil, invalid("Grip-Keep-Alive timeout has invalid value")
		}
		ka.Timeout = max(time.Duration(min(n, 1<<30))*time.Second, MinKeepAliveTimeout)
	}
	switch format, _ := e.Get("format"); format {
	case "", "raw":
		ka.Data = []byte(e.First)
	case "cstring":
		data, ok := unescapeCString(e.First)
		if !ok {
			return nil, invalid("failed to parse Grip-Keep-Alive cstring format")
		}
		ka.Data = data
	case "base64":
		ka.Data = DecodeBase64Lenient(e.First)
	default:
		return nil, invalid("no such Grip-Keep-Alive format '%s'", format)
	}
	return ka, nil
}

// DecodeBase64Lenient decodes base64 the way Qt's QByteArray::fromBase64
// does, which is what Pushpin uses for every *-bin field: characters outside
// the alphabet are skipped, padding is optional, a dangling final sextet is
// dropped. Origins that worked with Pushpin must not start failing here.
func DecodeBase64Lenient(s string) []byte {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			break
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// unescapeCString decodes Pushpin's cstring format: \\ \r \n \xHH. Any
// other escape is an error.
func unescapeCString(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, false
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 'x':
			if i+2 >= len(s) {
				return nil, false
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, false
			}
			out = append(out, byte(n))
			i += 2
		default:
			return nil, false
		}
	}
	return out, true
}

func (in *Instruction) parseMeta(h http.Header) error {
	set := func(k, v string) {
		if in.Meta == nil {
			in.Meta = map[string]string{}
		}
		in.Meta[k] = v
	}
	// Grip-Set-Meta: name=value (Pushpin's form).
	for _, raw := range ParseList(headerValues(h, "Grip-Set-Meta")) {
		if raw.First == "" {
			return invalid("Grip-Set-Meta cannot be empty")
		}
		k, v, _ := strings.Cut(raw.First, "=")
		set(strings.TrimSpace(k), unquote(strings.TrimSpace(v)))
	}
	// Grip-Set-Meta-<Name>: value, the form WebSocket-over-HTTP uses
	// (Set-Meta-*); accepted too so origins can use one spelling for both.
	for k, v := range h {
		if len(k) > len("Grip-Set-Meta-") && strings.EqualFold(k[:len("Grip-Set-Meta-")], "Grip-Set-Meta-") && len(v) > 0 {
			set(strings.ToLower(k[len("Grip-Set-Meta-"):]), v[0])
		}
	}
	return nil
}

func (in *Instruction) parseStatus(h http.Header) error {
	v := headerValues(h, "Grip-Status")
	if len(v) == 0 || v[0] == "" {
		return nil
	}
	codeStr, reason, _ := strings.Cut(v[0], " ")
	code, err := strconv.Atoi(codeStr)
	if err != nil || code < 0 || code > 999 {
		return invalid("Grip-Status contains invalid status code")
	}
	if reason == "" {
		reason = http.StatusText(code)
	}
	in.StatusCode, in.Reason = code, reason
	return nil
}

func (in *Instruction) parseLinks(h http.Header) error {
	for _, e := range ParseList(headerValues(h, "Grip-Link")) {
		// Like Pushpin, an entry without parameters is not a link at all.
		if len(e.Params) == 0 {
			continue
		}
		s := e.First
		if len(s) <= 2 || s[0] != '<' || s[len(s)-1] != '>' {
			return invalid("failed to parse Grip-Link value")
		}
		u, err := url.Parse(s[1 : len(s)-1])
		if err != nil {
			return invalid("Grip-Link contains invalid link")
		}
		switch rel, _ := e.Get("rel"); rel {
		case "next":
			l := &Link{URI: u, Timeout: DefaultLinkTimeout}
			if t, ok := e.Get("timeout"); ok {
				n, err := atoi32(t)
				if err != nil {
					return invalid("failed to parse Grip-Link timeout value")
				}
				if n < 0 {
					return invalid("Grip-Link timeout has invalid value")
				}
				l.Timeout = time.Duration(min(n, 1<<30)) * time.Second
			}
			in.NextLink = l
		case "gone":
			in.GoneLink = &Link{URI: u}
		}
	}
	return nil
}

// StripNames returns the names of the origin headers the client must not
// see: every Grip-* header, Content-Length (the proxy frames the body itself)
// and, when expose is non-nil, every header it does not list.
func StripNames(h http.Header, expose []string) []string {
	var out []string
	for k := range h {
		if isGripName(k) || strings.EqualFold(k, "Content-Length") || (expose != nil && !containsFold(expose, k)) {
			out = append(out, k)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ClientResponse is the response the client sees (first, for a stream hold;
// on timeout, for a response hold), built from the origin's. The instruct
// JSON form replaces it entirely [T:H]; otherwise the origin's response is
// kept minus the stripped headers, with Grip-Status applied [T:I, T:N].
func (in *Instruction) ClientResponse(status int, h http.Header, body []byte) *Response {
	if in.Response != nil {
		r := *in.Response
		r.Header = r.Header.Clone()
		return &r
	}
	r := &Response{Code: status, Reason: http.StatusText(status), Header: h.Clone(), Body: body}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	for _, k := range StripNames(h, in.ExposeHeaders) {
		delete(r.Header, k)
	}
	if in.StatusCode != 0 {
		r.Code, r.Reason = in.StatusCode, in.Reason
	}
	return r
}
