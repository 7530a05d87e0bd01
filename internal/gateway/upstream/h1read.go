package upstream

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/gatehouse-dev/gatehouse/internal/h1wire"
)

// readResponseHead is http.ReadResponse(br, req), with the same result for every input,
// minus most of its allocations (textproto's reader, a string per line and per value,
// the transfer reader, a separate LimitedReader).
//
// The head is parsed from br's buffer, and only when all of it is there after at most
// the one read ReadResponse would start with: br is then advanced past it. Anything
// else (a head still arriving or longer than the buffer, obs-fold lines, an invalid or
// unusual head: bad fields, conflicting or invalid Content-Length, a Transfer-Encoding
// that is not chunked, announced trailers, a version other than HTTP/1.x) goes to
// ReadResponse untouched, which then reads, fails or blocks exactly as it always did.
func readResponseHead(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if br.Buffered() == 0 {
		// The read ReadResponse would start with; its failure is ReadResponse's too.
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	resp, n := parseHead(br, buf, req)
	if resp == nil {
		return http.ReadResponse(br, req)
	}
	// Discard, then read the final '\n': br's UnreadByte state is then that of the
	// ReadSlice ReadResponse ends with.
	br.Discard(n - 1)
	br.ReadByte()
	return resp, nil
}

// parseHead parses the response head at the start of buf, which br has buffered, and
// frames its body on br. It returns the head's length, or nil for ReadResponse to handle.
func parseHead(br *bufio.Reader, buf []byte, req *http.Request) (*http.Response, int) {
	end, fields := h1wire.HeadEnd(buf)
	if end < 0 {
		return nil, 0
	}
	// One string for the whole head: status, proto, values and canonical keys are
	// slices of it.
	s := string(buf[:end])
	line, rest := h1wire.NextLine(s)
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return nil, 0
	}
	status = strings.TrimLeft(status, " ")
	code, _, _ := strings.Cut(status, " ")
	if len(code) != 3 {
		return nil, 0
	}
	statusCode, err := strconv.Atoi(code)
	if err != nil || statusCode < 0 {
		return nil, 0
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return nil, 0 // HTTP/0.x and 2+ frame bodies differently
	}

	// As textproto.ReadMIMEHeader, with one backing array for the values.
	h := make(http.Header, fields)
	vals := make([]string, fields)
	for {
		var key, v string
		key, v, rest, ok = h1wire.NextField(rest)
		if !ok {
			return nil, 0
		}
		if key == "" {
			break
		}
		vals = h1wire.AddValue(h, key, v, vals)
	}

	// What ReadResponse does next: fixPragmaCacheControl, then readTransfer.
	if hp := h["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	conn := h["Connection"]
	hasClose := httpguts.HeaderValuesContainsToken(conn, "close")
	closing := hasClose
	if minor == 0 {
		closing = hasClose || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	} else if hasClose {
		delete(h, "Connection")
	}
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if minor > 0 { // HTTP/1.0's is ignored
			if len(te) != 1 || !h1wire.EqualFoldASCII(te[0], "chunked") {
				return nil, 0 // an error
			}
			chunked = true
		}
	}
	cl := h["Content-Length"]
	n := int64(-1)
	if len(cl) > 1 {
		return nil, 0 // an error, or duplicates ReadResponse merges
	} else if len(cl) == 1 {
		// Values are trimmed and hold no CR or LF: textproto.TrimString would not
		// change them. An empty one is an error, or not (GODEBUG httplaxcontentlength).
		u, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return nil, 0
		}
		n = int64(u)
	}
	if _, ok := h["Trailer"]; ok && chunked {
		return nil, 0 // announced trailers: ReadResponse sets up resp.Trailer
	}
	head := req != nil && req.Method == "HEAD"
	bodyAllowed := (statusCode < 100 || statusCode > 199) && statusCode != 204 && statusCode != 304
	var length int64 // fixLength's result
	switch {
	case head || !bodyAllowed:
		length = 0
	case chunked:
		delete(h, "Content-Length")
		length = -1
	case len(cl) == 1:
		length = n
	default:
		length = -1
		closing = true // read until the peer closes
	}

	resp := &http.Response{
		Status:        status,
		StatusCode:    statusCode,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        h,
		ContentLength: length,
		Close:         closing,
		Request:       req,
	}
	if head {
		resp.ContentLength = n
	}
	switch {
	case chunked:
		resp.TransferEncoding = []string{"chunked"}
		resp.Body = http.NoBody
		if !head && bodyAllowed {
			resp.Body = h1wire.NewChunkedBody(br, &resp.Trailer, closing)
		}
	case length == 0:
		resp.Body = http.NoBody
	case length > 0:
		resp.Body = h1wire.NewLengthBody(br, length, closing)
	default:
		resp.Body = h1wire.NewUntilCloseBody(br, closing)
	}
	return resp, end
}
