package upstream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// parsed is everything observable of one response read and its body.
type parsed struct {
	err                              string
	status, proto                    string
	code, major, minor               int
	header, trailerBefore, trailer   http.Header
	length                           int64
	te                               []string
	close, uncompressed, noBody, req bool
	body, bodyErr, closeErr          string
	rest                             string // what the reader holds after the responses
}

// chunkReader hands out data in reads of at most first bytes, then of the rest, with
// io.EOF along with the last bytes when eofWithData.
type chunkReader struct {
	data        []byte
	first       int
	reads       int
	eofWithData bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.reads == 0 && r.first > 0 && len(p) > r.first {
		p = p[:r.first]
	}
	r.reads++
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

type readFunc func(*bufio.Reader, *http.Request) (*http.Response, error)

// readAll reads up to three responses from in with read, as a connection would
// (the second starts from what the first left buffered); closeFirst closes each
// body unread. The last entry has what the reader holds after them.
func readAll(read readFunc, in []byte, method string, first int, eofWithData, closeFirst bool) []parsed {
	br := bufio.NewReaderSize(&chunkReader{data: in, first: first, eofWithData: eofWithData}, 4<<10)
	req, _ := http.NewRequest(method, "http://upstream/", nil)
	var out []parsed
	for range 3 {
		p, ok := readOne(read, br, req, closeFirst)
		out = append(out, p)
		if !ok {
			break
		}
	}
	rest, _ := io.ReadAll(br)
	return append(out, parsed{rest: string(rest)})
}

// readOne reads one response and its body; ok says whether it read a head.
func readOne(read readFunc, br *bufio.Reader, req *http.Request, closeFirst bool) (parsed, bool) {
	resp, err := read(br, req)
	if err != nil {
		return parsed{err: err.Error()}, false
	}
	p := parsed{
		status: resp.Status, proto: resp.Proto,
		code: resp.StatusCode, major: resp.ProtoMajor, minor: resp.ProtoMinor,
		header: resp.Header, trailerBefore: resp.Trailer.Clone(),
		length: resp.ContentLength, te: resp.TransferEncoding,
		close: resp.Close, uncompressed: resp.Uncompressed,
		noBody: resp.Body == http.NoBody, req: resp.Request == req,
	}
	one := make([]byte, 1)
	if !closeFirst {
		body, err := io.ReadAll(resp.Body)
		n, err2 := resp.Body.Read(one)
		p.body, p.bodyErr = string(body), fmt.Sprint(err, " / then ", n, err2)
	}
	err = resp.Body.Close()
	n, err2 := resp.Body.Read(one)
	p.closeErr = fmt.Sprint(err, " / then ", n, err2)
	p.trailer = resp.Trailer
	return p, true
}

// compareReads fails when readResponseHead and http.ReadResponse differ on in.
func compareReads(t *testing.T, in []byte, method string, first int, eofWithData, closeFirst bool) {
	t.Helper()
	want := readAll(http.ReadResponse, in, method, first, eofWithData, closeFirst)
	got := readAll(readResponseHead, in, method, first, eofWithData, closeFirst)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s %q (first read %d, EOF with data %v, close first %v):\ngot  %+v\nwant %+v",
			method, in, first, eofWithData, closeFirst, got, want)
	}
}

const nginxResponse = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 02 Jun 2025 10:00:00 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n"

const manyHeadersResponse = "HTTP/1.1 200 OK\r\n" +
	"Server: nginx/1.22.1\r\n" +
	"Date: Mon, 02 Jun 2025 10:00:00 GMT\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: 18\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: no-cache, no-store, must-revalidate\r\n" +
	"ETag: \"5d8c72a5edda8d6a\"\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"X-Request-Id: 7f3c9a2e-4b1d-4e8a-9c6f-2a1b3c4d5e6f\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Strict-Transport-Security: max-age=31536000\r\n" +
	"Set-Cookie: session=abc123; Path=/; HttpOnly\r\n" +
	"\r\n" +
	"{\"status\":\"ok\"}\r\n\n"

// readResponseCases are representative and hostile responses; fast says the lean
// parser handles them itself rather than handing them to http.ReadResponse.
var readResponseCases = []struct {
	name string
	in   string
	fast bool
}{
	{"nginx", nginxResponse, true},
	{"many headers", manyHeadersResponse, true},
	{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", true},
	{"lower case keys", "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nx-my-thing: 1\r\ncontent-length: 0\r\n\r\n", true},
	{"odd case keys", "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 1\r\nx-FOO-bar: 1\r\nwww-authenticate: Basic\r\n\r\nx", true},
	{"duplicates in order", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX: 1\r\nset-cookie: b=2\r\nSet-Cookie: c=3\r\nContent-Length: 0\r\n\r\n", true},
	{"space in key", "HTTP/1.1 200 OK\r\nfoo bar: baz\r\nContent-Length: 0\r\n\r\n", true},
	{"space before colon", "HTTP/1.1 200 OK\r\nfoo : baz\r\nContent-Length: 0\r\n\r\n", true},
	{"value white space", "HTTP/1.1 200 OK\r\nA:\t x y \t\r\nB:\r\nC:   \r\nContent-Length: 0\r\n\r\n", true},
	{"obs-text value", "HTTP/1.1 200 OK\r\nA: caf\xc3\xa9\xff\r\nContent-Length: 0\r\n\r\n", true},
	{"colon in value", "HTTP/1.1 200 OK\r\nLocation: http://x:80/a\r\nContent-Length: 0\r\n\r\n", true},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", true},
	{"odd reason", "HTTP/1.1   404 Not  Found \x00\r\r\nContent-Length: 0\r\n\r\n", true},
	{"status +99", "HTTP/1.1 +99 x\r\nContent-Length: 0\r\n\r\n", true},
	{"status -00", "HTTP/1.1 -00 x\r\n\r\n", true},
	{"HTTP/1.0 close-delimited", "HTTP/1.0 200 OK\r\n\r\nall of it", true},
	{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabcdef", true},
	{"HTTP/1.0 keep-alive close", "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 3\r\n\r\nabc", true},
	{"HTTP/1.0 chunked ignored", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", true},
	{"HTTP/1.1 close", "HTTP/1.1 200 OK\r\nConnection: foo ,\tCLOSE\r\nContent-Length: 2\r\n\r\nab", true},
	{"HTTP/1.9", "HTTP/1.9 200 OK\r\nContent-Length: 2\r\n\r\nab", true},
	{"HTTP/1.1 close-delimited", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil EOF", true},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", true},
	{"chunked upper case", "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\nContent-Length: 99\r\n\r\n1\r\nx\r\n0\r\n\r\n", true},
	{"chunked trailer unannounced", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\nx-other: 2\r\n\r\nnext", true},
	{"chunked bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nbad trailer\r\n\r\n", true},
	{"chunked truncated", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true},
	{"chunked no trailer end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", true},
	{"chunked malformed", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n", true},
	{"chunked HEAD-like 204", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", true},
	{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true},
	{"pipelined", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", true},
	{"204 with length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", true},
	{"304", "HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nETag: x\r\n\r\n", true},
	{"103", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", true},
	{"pragma and cache-control", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\nContent-Length: 0\r\n\r\n", true},
	{"trailer without chunked", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nContent-Length: 0\r\n\r\n", true},
	{"content-length zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nleft over", true},
	{"no headers", "HTTP/1.1 200 OK\r\n\r\n", true},

	// Handed to http.ReadResponse.
	{"obs-fold", "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\n\tc\r\nContent-Length: 0\r\n\r\n", false},
	{"leading space first field", "HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n", false},
	{"trailer announced", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, x-b\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n", false},
	{"bad trailer announced", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", false},
	{"duplicate content-length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false},
	{"conflicting content-length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", false},
	{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", false},
	{"empty content-length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false},
	{"huge content-length", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", false},
	{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false},
	{"two transfer-encodings", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nabc", false},
	{"kelvin chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chun\u212aed\r\n\r\n0\r\n\r\n", false},
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\nabc", false},
	{"bad version", "HTTP/1.10 200 OK\r\n\r\n", false},
	{"bad status", "HTTP/1.1 2000 OK\r\n\r\n", false},
	{"status letters", "HTTP/1.1 2x0 OK\r\n\r\n", false},
	{"no space", "HTTP/1.1\r\n\r\n", false},
	{"empty status line", "\r\nHTTP/1.1 200 OK\r\n\r\n", false},
	{"no colon", "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", false},
	{"empty key", "HTTP/1.1 200 OK\r\n: v\r\n\r\n", false},
	{"tab in key", "HTTP/1.1 200 OK\r\nA\t: v\r\n\r\n", false},
	{"bad key byte", "HTTP/1.1 200 OK\r\nA(b): v\r\n\r\n", false},
	{"bad key byte after space", "HTTP/1.1 200 OK\r\nA b@: v\r\n\r\n", false},
	{"CR in value", "HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n", false},
	{"DEL in value", "HTTP/1.0 000 \n0:\x7f\n\n", false},
	{"NUL in value", "HTTP/1.1 200 OK\r\nA: x\x00y\r\n\r\n", false},
	{"CR line", "HTTP/1.1 200 OK\r\n\r\r\n\r\n", false},
	{"unterminated head", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false},
	{"unterminated status", "HTTP/1.1 200 OK", false},
	{"empty", "", false},
	{"huge head", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\nContent-Length: 0\r\n\r\n", false},
}

func TestReadResponseHead(t *testing.T) {
	for _, tc := range readResponseCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				for _, first := range []int{0, 1, 20, len(tc.in) - 1} {
					for _, closeFirst := range []bool{false, true} {
						compareReads(t, []byte(tc.in), method, first, false, closeFirst)
						compareReads(t, []byte(tc.in), method, first, true, closeFirst)
					}
				}
			}
			// Whether it takes the lean path at all.
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 4<<10)
			buf, _ := br.Peek(min(len(tc.in), 4<<10))
			if resp, _ := parseHead(br, buf, nil); (resp != nil) != tc.fast {
				t.Errorf("parsed by the lean path: %v, want %v", resp != nil, tc.fast)
			}
		})
	}
}

// TestReadResponseHeadPipelined reads responses one after the other from one reader.
func TestReadResponseHeadPipelined(t *testing.T) {
	in := "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + nginxResponse +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" +
		manyHeadersResponse + "HTTP/1.1 204 No Content\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", 5000) + "\r\nContent-Length: 1\r\n\r\nz" +
		"HTTP/1.0 200 OK\r\n\r\nto the end"
	read := func(read readFunc) (out []string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 4<<10)
		for {
			resp, err := read(br, nil)
			if err != nil {
				return append(out, err.Error())
			}
			body, err := io.ReadAll(resp.Body)
			out = append(out, fmt.Sprint(resp.Status, resp.Header, resp.ContentLength, resp.Close,
				resp.TransferEncoding, string(body), err, resp.Trailer, br.Buffered()))
		}
	}
	got, want := read(readResponseHead), read(http.ReadResponse)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if len(got) != 8 {
		t.Errorf("read %d responses, want 7 and an error", len(got))
	}
}

// TestReadResponseHeadErrors: an I/O error before any byte is ReadResponse's error.
func TestReadResponseHeadErrors(t *testing.T) {
	for _, r := range []io.Reader{strings.NewReader(""), errReader{io.ErrClosedPipe}} {
		_, got := readResponseHead(bufio.NewReader(r), nil)
		_, want := http.ReadResponse(bufio.NewReader(r), nil)
		if got == nil || got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

func TestReadResponseHeadAllocs(t *testing.T) {
	in := []byte(nginxResponse)
	r := bytes.NewReader(in)
	br := bufio.NewReaderSize(r, 4<<10)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		br.Reset(r)
		resp, err := readResponseHead(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	// The response, the head string, the header map and its values, the body.
	if allocs > 6 {
		t.Errorf("%v allocations per response", allocs)
	}
}

func FuzzReadResponseHead(f *testing.F) {
	for _, tc := range readResponseCases {
		f.Add([]byte(tc.in), false, uint16(0), uint8(0))
		f.Add([]byte(tc.in), true, uint16(len(tc.in)/2), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, head bool, first uint16, mode uint8) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		compareReads(t, in, method, int(first), mode&1 != 0, mode&2 != 0)
	})
}

func BenchmarkReadResponseHead(b *testing.B) {
	for _, in := range []struct{ name, resp string }{
		{"nginx", nginxResponse},
		{"12 headers", manyHeadersResponse},
	} {
		for _, p := range []struct {
			name string
			read readFunc
		}{
			{"http.ReadResponse", http.ReadResponse},
			{"readResponseHead", readResponseHead},
		} {
			b.Run(in.name+"/"+p.name, func(b *testing.B) {
				data := []byte(in.resp)
				r := bytes.NewReader(data)
				br := bufio.NewReaderSize(r, 4<<10)
				req, _ := http.NewRequest("GET", "http://upstream/", nil)
				var buf [64]byte
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(data)
					br.Reset(r)
					resp, err := p.read(br, req)
					if err != nil {
						b.Fatal(err)
					}
					for err == nil {
						_, err = resp.Body.Read(buf[:])
					}
					resp.Body.Close()
				}
			})
		}
	}
}
