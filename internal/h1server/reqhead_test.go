package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// rhResult is everything observable of one request read and its body.
type rhResult struct {
	err      string
	req      http.Request // without Body, URL, Header and Trailer, compared below
	url      url.URL
	urlStr   string
	header   http.Header
	hosts    []string
	noBody   bool
	body     string
	bodyErr  string
	closeErr string
	trailer  []http.Header // before and after the body is read
	buffered int           // what br holds after the head
	rest     string        // what the reader holds after the requests
}

// rhMode is how the bytes reach the reader.
type rhMode struct {
	size        int  // of the bufio.Reader
	first       int  // the first read returns at most this many bytes; 0: no limit
	oneByte     bool // every read returns one byte (iotest.OneByteReader)
	eofWithData bool // io.EOF comes with the last bytes
	closeFirst  bool // each body is closed unread
}

func (m rhMode) String() string {
	return fmt.Sprintf("size %d, first read %d, one byte %v, EOF with data %v, close first %v",
		m.size, m.first, m.oneByte, m.eofWithData, m.closeFirst)
}

// rhSource hands out data in reads of at most first bytes, then of the rest, and counts
// what it handed out.
type rhSource struct {
	data        []byte
	first       int
	reads, n    int
	eofWithData bool
}

func (r *rhSource) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.reads == 0 && r.first > 0 && len(p) > r.first {
		p = p[:r.first]
	}
	r.reads++
	n := copy(p, r.data)
	r.data = r.data[n:]
	r.n += n
	if len(r.data) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

// rhReadFunc reads a request and the Host values its head had.
type rhReadFunc func(br *bufio.Reader) (*http.Request, []string, error)

// rhStdRead is the reference: http.ReadRequest; the Host values come from textproto
// reading the same head again from in (read is where in the request starts).
func rhStdRead(in []byte) func(read int) rhReadFunc {
	return func(read int) rhReadFunc {
		return func(br *bufio.Reader) (*http.Request, []string, error) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return nil, nil, err
			}
			tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(in[read:])))
			if _, err := tp.ReadLine(); err != nil {
				panic(err)
			}
			h, err := tp.ReadMIMEHeader()
			if err != nil {
				panic(err)
			}
			return req, h["Host"], nil
		}
	}
}

func rhOurs(int) rhReadFunc { return readRequest }

// rhReadAll reads up to three requests from in with read, as a connection would (the
// second starts from what the first left buffered). The last entry has what the reader
// holds after them.
func rhReadAll(read func(at int) rhReadFunc, in []byte, m rhMode) []rhResult {
	src := &rhSource{data: in, first: m.first, eofWithData: m.eofWithData}
	var r io.Reader = src
	if m.oneByte {
		r = iotest.OneByteReader(src)
	}
	br := bufio.NewReaderSize(r, m.size)
	var out []rhResult
	for range 3 {
		p, ok := rhReadOne(read(src.n-br.Buffered()), br, m.closeFirst)
		out = append(out, p)
		if !ok {
			break
		}
	}
	rest, _ := io.ReadAll(br)
	return append(out, rhResult{rest: string(rest)})
}

// rhReadOne reads one request and its body; ok says whether it read a head.
func rhReadOne(read rhReadFunc, br *bufio.Reader, closeFirst bool) (rhResult, bool) {
	req, hosts, err := read(br)
	if err != nil {
		if hosts != nil {
			panic("hosts with an error")
		}
		return rhResult{err: err.Error()}, false
	}
	p := rhResult{
		req:      *req,
		url:      *req.URL,
		urlStr:   req.URL.String(),
		header:   req.Header,
		hosts:    hosts,
		noBody:   req.Body == http.NoBody,
		trailer:  []http.Header{req.Trailer.Clone()},
		buffered: br.Buffered(),
	}
	p.req.Body, p.req.URL, p.req.Header, p.req.Trailer = nil, nil, nil, nil
	one := make([]byte, 1)
	if !closeFirst {
		body, err := io.ReadAll(req.Body)
		n, err2 := req.Body.Read(one)
		p.body, p.bodyErr = string(body), fmt.Sprint(err, " / then ", n, err2)
	}
	err = req.Body.Close()
	n, err2 := req.Body.Read(one)
	p.closeErr = fmt.Sprint(err, " / then ", n, err2)
	p.trailer = append(p.trailer, req.Trailer)
	return p, true
}

// rhCompare fails when readRequest and http.ReadRequest differ on in. Host values may
// differ only where readRequest documents it: a head not all buffered at once whose Host
// line came after the buffered bytes and is empty (nil) or beside a target with a host
// (which stands in).
func rhCompare(t *testing.T, in []byte, m rhMode) {
	t.Helper()
	want := rhReadAll(rhStdRead(in), in, m)
	got := rhReadAll(rhOurs, in, m)
	exactHosts := m.first == 0 && !m.oneByte && len(in) <= m.size
	if len(got) == len(want) {
		for i := range got {
			g, w := got[i], want[i]
			if g.err == "" && !exactHosts &&
				(w.hosts != nil && g.hosts == nil && g.req.Host == "" || g.url.Host != "" && reflect.DeepEqual(g.hosts, []string{g.req.Host})) {
				got[i].hosts = w.hosts // the gap: nil, or the target's host standing in
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q (%v):\ngot  %+v\nwant %+v", in, m, got, want)
	}
}

// rhModes are the ways each case is delivered: whole, in a short first read, a byte at a
// time, in a 16-byte buffer, with EOF along with the data, bodies closed unread.
func rhModes(in []byte) []rhMode {
	var ms []rhMode
	for _, size := range []int{4096, 16} {
		for _, closeFirst := range []bool{false, true} {
			for _, first := range []int{0, 1, 20, len(in) / 2, len(in) - 1} {
				ms = append(ms, rhMode{size: size, first: first, closeFirst: closeFirst})
				ms = append(ms, rhMode{size: size, first: first, closeFirst: closeFirst, eofWithData: true})
			}
			ms = append(ms, rhMode{size: size, oneByte: true, closeFirst: closeFirst})
		}
	}
	return ms
}

const rhGET = "GET /v1/orders/8f14e45f?expand=items&limit=20 HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) gatehouse-bench/1.0\r\n" +
	"Accept: application/json\r\n" +
	"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n" +
	"X-Request-Id: 7f3c9a2e-4b1d-4e8a-9c6f-2a1b3c4d5e6f\r\n" +
	"\r\n"

const rhPOST = "POST /v1/orders HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: */*\r\n" +
	"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 41\r\n" +
	"\r\n" +
	`{"item":"widget","quantity":3,"note":"x"}`

var rhBig = strings.Repeat("b", 5000)

// rhCases are representative and hostile requests; fast says the lean parser
// handles them itself rather than handing them to http.ReadRequest.
var rhCases = []struct {
	name string
	in   string
	fast bool
}{
	{"api GET", rhGET, true},
	{"api POST", rhPOST, true},
	{"minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"no headers", "GET / HTTP/1.1\r\n\r\n", true},
	{"bare LF", "POST /x HTTP/1.1\nHost: a\nContent-Length: 2\n\nhi", true},
	{"mixed line ends", "GET / HTTP/1.1\nHost: a\r\nX: 1\n\r\n", true},
	{"lower case keys", "GET / HTTP/1.1\r\nhost: a\r\nuser-agent: x\r\nx-my-thing: 1\r\ncontent-length: 0\r\n\r\n", true},
	{"odd case keys", "POST / HTTP/1.1\r\nHOST: a\r\nCONTENT-LENGTH: 1\r\nx-FOO-bar: 1\r\nsec-websocket-key: k\r\n\r\nx", true},
	{"duplicates in order", "GET / HTTP/1.1\r\nHost: a\r\nAccept: a\r\nX: 1\r\naccept: b\r\nAccept: c\r\n\r\n", true},
	{"cookies", "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n", true},
	{"space in key", "GET / HTTP/1.1\r\nHost: a\r\nfoo bar: baz\r\n\r\n", true},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", true},
	{"value white space", "GET / HTTP/1.1\r\nHost:\t a \t\r\nA:\t x y \t\r\nB:\r\nC:   \r\n\r\n", true},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: a\r\nA: caf\xc3\xa9\xff\r\n\r\n", true},
	{"colon in value", "GET / HTTP/1.1\r\nHost: a:8080\r\nReferer: http://x:80/a\r\n\r\n", true},
	{"missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", true},
	{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", true},
	{"blank Host", "GET / HTTP/1.1\r\nHost:   \r\n\r\n", true},
	{"lower case host", "GET / HTTP/1.1\r\nhost: A.example\r\n\r\n", true},
	{"odd Host", "GET / HTTP/1.1\r\nHost: a b/c@d\r\n\r\n", true},
	{"absolute-form", "GET http://example.com/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n", true},
	{"absolute-form no Host", "GET http://example.com/x HTTP/1.1\r\n\r\n", true},
	{"absolute-form empty Host", "GET http://example.com/x HTTP/1.1\r\nHost:\r\n\r\n", true},
	{"absolute-form userinfo port", "GET https://u:p@example.com:8443/a%2Fb?q#f HTTP/1.1\r\nHost: example.com:8443\r\n\r\n", true},
	{"absolute-form no path", "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", true},
	{"CONNECT authority", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", true},
	{"CONNECT no Host", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", true},
	{"CONNECT path", "CONNECT /_goRPC_ HTTP/1.0\r\n\r\n", true},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"PRI * HTTP/1.1", "PRI * HTTP/1.1\r\n\r\n", true},
	{"lower case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"extension method", "PURGE /cache/x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"percent path", "GET /a%2Fb/c%20d?x=%20&y HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"bad percent path", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"force query", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"two question marks", "GET /a?b? HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"empty query twice", "GET /?? HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"odd query bytes", "GET /x?a=\"<>\\^`{|}%zz\xff HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"sub-delims path", "GET /a!$&'()*+,;=:@-._~/b HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"hash in path", "GET /a#b?c HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"non-ASCII path", "GET /caf\xc3\xa9/\xff HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"double slash path", "GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", true},
	{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", true},
	{"HTTP/1.0 keep-alive close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", true},
	{"HTTP/1.0 chunked ignored", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", true},
	{"HTTP/1.0 gzip ignored", "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: x\r\n\r\nabc", true},
	{"HTTP/1.1 close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,\tCLOSE\r\n\r\nGET / HTTP/1.1\r\n\r\n", true},
	{"HTTP/1.9", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", true},
	{"expect", "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", true},
	{"upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n", true},
	{"content-length zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nleft over", true},
	{"content-length leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  007 \r\n\r\n1234567", true},
	{"content-length max", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\nabc", true},
	{"short body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", true},
	{"short body by one", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabc", true},
	{"short body close", "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 10\r\n\r\nabc", true},
	{"GET with body", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\n\r\n", true},
	{"POST without length", "POST / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", true},
	{"pipelined", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n\r\nxGET /3 HTTP/1.1\r\n\r\n", true},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n", true},
	{"chunked upper case with length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\nContent-Length: 99\r\n\r\n1\r\nx\r\n0\r\n\r\n", true},
	{"chunked bad length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n0\r\n\r\n", false},
	{"chunked trailer unannounced", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\nx-other: 2\r\n\r\nGET / HTTP/1.1\r\n\r\n", true},
	{"chunked bad trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nbad trailer\r\n\r\n", true},
	{"chunked truncated", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true},
	{"chunked no trailer end", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", true},
	{"chunked malformed", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n", true},
	{"chunked bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", true},
	{"chunked close", "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nrest", true},
	{"pragma", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", true},
	{"pragma and cache-control", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\n\r\n", true},
	{"trailer without chunked", "POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum\r\nContent-Length: 1\r\n\r\nx", true},
	{"long value in buffer", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + rhBig[:3900] + "\r\n\r\n", true},
	{"CR at line end", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", false},
	{"request line CR", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", false},

	// Handed to http.ReadRequest.
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n  b\r\n\tc\r\n\r\n", false},
	{"obs-fold Host", "GET / HTTP/1.1\r\nHost: a\r\n b \r\n\r\n", false},
	{"obs-fold long Host", "GET / HTTP/1.1\r\nHost: a\r\n " + strings.Repeat("b", 40) + "\r\n\r\n", false},
	{"obs-fold blank Host", "GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n", false},
	{"obs-fold absolute-form", "GET http://x/ HTTP/1.1\r\nHost:\r\n y\r\n\r\n", false},
	{"leading space first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", false},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", false},
	{"two Host cases", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", false},
	{"two Host absolute-form", "GET http://x/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"duplicate content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false},
	{"conflicting content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", false},
	{"bad content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", false},
	{"negative content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", false},
	{"hex content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", false},
	{"two-number content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", false},
	{"empty content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", false},
	{"huge content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", false},
	{"gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false},
	{"two transfer-encodings", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nabc", false},
	{"empty transfer-encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", false},
	{"kelvin chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun\u212aed\r\n\r\n0\r\n\r\n", false},
	{"trailer announced", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, x-b\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n", false},
	{"bad trailer announced", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", false},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
	{"h2c preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
	{"HTTP/0.9", "GET / HTTP/0.9\r\n\r\nabc", false},
	{"bad version", "GET / HTTP/1.10\r\n\r\n", false},
	{"short version", "GET / HTTP/1\r\n\r\n", false},
	{"lower case version", "GET / http/1.1\r\n\r\n", false},
	{"version trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
	{"no version", "GET /\r\nHost: a\r\n\r\n", false},
	{"no spaces", "GET\r\n\r\n", false},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"bad method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"control byte in target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"bad absolute-form", "GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"bad CONNECT", "CONNECT a b:443 HTTP/1.1\r\n\r\n", false},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n", false},
	{"empty key", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", false},
	{"tab in key", "GET / HTTP/1.1\r\nHost: a\r\nA\t: v\r\n\r\n", false},
	{"bad key byte", "GET / HTTP/1.1\r\nHost: a\r\nA(b): v\r\n\r\n", false},
	{"bad key byte after space", "GET / HTTP/1.1\r\nHost: a\r\nA b@: v\r\n\r\n", false},
	{"CR in value", "GET / HTTP/1.1\r\nHost: a\r\nA: x\ry\r\n\r\n", false},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nA: x\x7fy\r\n\r\n", false},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", false},
	{"CR line", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", false},
	{"unterminated head", "GET / HTTP/1.1\r\nHost: a\r\n", false},
	{"unterminated request line", "GET / HTTP/1.1", false},
	{"empty", "", false},
	{"only CRLF", "\r\n", false},
	{"huge head", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + rhBig + "\r\nContent-Length: 1\r\n\r\nxGET / HTTP/1.1\r\n\r\n", false},
	{"huge head Host after", "GET / HTTP/1.1\r\nX-Big: " + rhBig + "\r\nHost: a\r\n\r\n", false},
	{"huge head empty Host after", "GET / HTTP/1.1\r\nX-Big: " + rhBig + "\r\nHost:\r\n\r\n", false},
	{"huge head absolute-form", "GET http://x/ HTTP/1.1\r\nHost: h\r\nX-Big: " + rhBig + "\r\n\r\n", false},
	{"huge head absolute-form Host after", "GET http://x/ HTTP/1.1\r\nX-Big: " + rhBig + "\r\nHost: h\r\n\r\n", false},
	{"huge request line", "GET /" + rhBig + " HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Field: value\r\n", 300) + "\r\n", false},
}

func TestReadRequest(t *testing.T) {
	for _, tc := range rhCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range rhModes([]byte(tc.in)) {
				rhCompare(t, []byte(tc.in), m)
			}
			// Whether it takes the lean path at all.
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 4096)
			buf, _ := br.Peek(min(len(tc.in), 4096))
			if req, _, _ := rhParse(br, buf); (req != nil) != tc.fast {
				t.Errorf("parsed by the lean path: %v, want %v", req != nil, tc.fast)
			}
		})
	}
}

// TestRHParseRequestURI: the shortcut for plain paths gives url.ParseRequestURI's result.
func TestRHParseRequestURI(t *testing.T) {
	targets := []string{"", "*", "/", "/?", "/a?", "/a??", "/a?b?", "/?#", "/%41", "/a%2fb",
		"//x", "///", "http://x/", "/a?b=c&d", "/a/b/../c", "/\x7f", "/a?\x7f", "/a?\t"}
	for c := range 256 {
		b := string([]byte{byte(c)})
		targets = append(targets, "/"+b, "/a"+b+"c", "/?"+b, "/a?b"+b, b+"/")
	}
	for _, target := range targets {
		got, gerr := rhParseRequestURI(target)
		want, werr := url.ParseRequestURI(target)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v, %v; want %#v, %v", target, got, gerr, want, werr)
		}
	}
}

// TestReadRequestHosts spells out hosts for the cases it matters in.
func TestReadRequestHosts(t *testing.T) {
	for _, tc := range []struct {
		in    string
		size  int
		hosts []string
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 4096, []string{"a"}},
		{"GET / HTTP/1.1\r\n\r\n", 4096, nil},
		{"GET / HTTP/1.1\r\nHost:\r\n\r\n", 4096, []string{""}},
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 4096, nil},
		{"GET http://x/ HTTP/1.1\r\nHost: y\r\n\r\n", 4096, []string{"y"}},
		{"GET http://x/ HTTP/1.1\r\nHost: y\r\n z\r\n\r\n", 4096, []string{"y z"}},
		{"GET / HTTP/1.1\r\nHost: y\r\n \r\n\r\n", 4096, []string{"y "}},
		// Not all buffered: the Host line is among the first buffered bytes, or comes
		// from req.Host.
		{"GET http://x/ HTTP/1.1\r\nHost: y\r\nX: " + rhBig + "\r\n\r\n", 4096, []string{"y"}},
		{"GET / HTTP/1.1\r\nX: " + rhBig + "\r\nHost: y\r\n\r\n", 4096, []string{"y"}},
		{"GET / HTTP/1.1\r\nHost: y\r\n\r\n", 16, []string{"y"}},
		// The documented gap: the target's host stands in.
		{"GET http://x/ HTTP/1.1\r\nX: " + rhBig + "\r\nHost: y\r\n\r\n", 4096, []string{"x"}},
	} {
		_, hosts, err := readRequest(bufio.NewReaderSize(strings.NewReader(tc.in), tc.size))
		if err != nil || !reflect.DeepEqual(hosts, tc.hosts) {
			t.Errorf("%.60q: hosts %q, %v; want %q", tc.in, hosts, err, tc.hosts)
		}
	}
}

// TestReadRequestErrors: an I/O error before any byte is ReadRequest's error, io.EOF
// included.
func TestReadRequestErrors(t *testing.T) {
	for _, r := range []func() io.Reader{
		func() io.Reader { return strings.NewReader("") },
		func() io.Reader { return iotest.ErrReader(io.ErrClosedPipe) },
		func() io.Reader { return iotest.TimeoutReader(strings.NewReader("GET / HTTP/1.1\r\n")) },
	} {
		_, _, got := readRequest(bufio.NewReader(r()))
		_, want := http.ReadRequest(bufio.NewReader(r()))
		if got == nil || got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	// A failed read after the first: the same error, and the reader keeps none.
	in := "GET / HTTP/1.1\r\nHost: a\r\n"
	r := io.MultiReader(strings.NewReader(in), iotest.ErrReader(io.ErrClosedPipe))
	_, _, err := readRequest(bufio.NewReader(r))
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("got %v, want %v", err, io.ErrClosedPipe)
	}
}

// TestReadRequestReaderState: after a head read from the buffer, br is where and as
// ReadRequest leaves it, UnreadByte included.
func TestReadRequestReaderState(t *testing.T) {
	for _, in := range []string{rhGET, rhPOST, "GET / HTTP/1.1\nHost: a\n\nxyz"} {
		state := func(read rhReadFunc) string {
			br := bufio.NewReaderSize(strings.NewReader(in), 4096)
			if _, _, err := read(br); err != nil {
				t.Fatal(err)
			}
			err := br.UnreadByte()
			rest, _ := io.ReadAll(br)
			return fmt.Sprint(err, " ", string(rest))
		}
		if got, want := state(readRequest), state(rhStdRead([]byte(in))(0)); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestReadRequestAllocs(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      float64
	}{
		// The request, the head string, the header map and its values, the URL; the
		// body for the POST.
		{"GET", rhGET, 6},
		{"POST", rhPOST, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			r := bytes.NewReader(in)
			br := bufio.NewReaderSize(r, 4096)
			run := func(read rhReadFunc) float64 {
				return testing.AllocsPerRun(100, func() {
					r.Reset(in)
					br.Reset(r)
					req, _, err := read(br)
					if err != nil {
						t.Fatal(err)
					}
					req.Body.Close()
				})
			}
			ours := run(readRequest)
			std := run(func(br *bufio.Reader) (*http.Request, []string, error) {
				req, err := http.ReadRequest(br)
				return req, nil, err
			})
			t.Logf("%v allocations per request; http.ReadRequest: %v", ours, std)
			if ours > tc.max || ours > std/2 {
				t.Errorf("%v allocations per request, http.ReadRequest %v", ours, std)
			}
		})
	}
}

// FuzzReadRequest: readRequest gives what http.ReadRequest gives, whatever the bytes
// and however they arrive.
//
//	go test -run '^$' -fuzz FuzzReadRequest ./internal/h1server/
func FuzzReadRequest(f *testing.F) {
	for _, tc := range rhCases {
		f.Add([]byte(tc.in), uint8(0), uint16(0))
		f.Add([]byte(tc.in), uint8(5), uint16(len(tc.in)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8, first uint16) {
		m := rhMode{
			size:        4096,
			first:       int(first),
			oneByte:     mode&1 != 0,
			eofWithData: mode&2 != 0,
			closeFirst:  mode&4 != 0,
		}
		if mode&8 != 0 {
			m.size = 16
		}
		rhCompare(t, in, m)
		if m != (rhMode{size: 4096}) {
			rhCompare(t, in, rhMode{size: 4096}) // and as one read, where hosts are exact
		}
	})
}

func BenchmarkReadRequest(b *testing.B) {
	for _, in := range []struct{ name, req string }{
		{"GET", rhGET},
		{"POST", rhPOST},
	} {
		for _, p := range []struct {
			name string
			read rhReadFunc
		}{
			{"http.ReadRequest", func(br *bufio.Reader) (*http.Request, []string, error) {
				req, err := http.ReadRequest(br)
				return req, nil, err
			}},
			{"readRequest", readRequest},
		} {
			b.Run(in.name+"/"+p.name, func(b *testing.B) {
				data := []byte(in.req)
				r := bytes.NewReader(data)
				br := bufio.NewReaderSize(r, 4096)
				var buf [64]byte
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(data)
					br.Reset(r)
					req, _, err := p.read(br)
					if err != nil {
						b.Fatal(err)
					}
					for err == nil {
						_, err = req.Body.Read(buf[:])
					}
					req.Body.Close()
				}
			})
		}
	}
}
