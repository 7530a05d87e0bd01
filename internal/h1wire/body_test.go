package h1wire

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// bodyRun is everything observable of reading (or closing unread) one body.
type bodyRun struct {
	reads   []string // each Read: bytes, error
	trailer http.Header
	rest    string // what br holds after Close
}

// runBody reads b in reads of three bytes up to its error and once more, or closes it
// unread, then closes it and reads once more.
func runBody(b io.ReadCloser, br *bufio.Reader, trailer *http.Header, closeFirst bool) bodyRun {
	var r bodyRun
	p := make([]byte, 3)
	read := func() error {
		n, err := b.Read(p)
		r.reads = append(r.reads, fmt.Sprintf("%q %v", p[:n], err))
		return err
	}
	if !closeFirst {
		for read() == nil {
		}
		read()
	}
	r.reads = append(r.reads, fmt.Sprint("close: ", b.Close()))
	read()
	r.trailer = *trailer
	rest, _ := io.ReadAll(br)
	r.rest = string(rest)
	return r
}

// TestBody: each framing reads, ends, takes its trailer and closes as the body of
// http.ReadResponse does for the same bytes.
func TestBody(t *testing.T) {
	const (
		length  = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
		chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		closing = "Connection: close\r\n"
	)
	withClose := func(head string) string { return strings.Replace(head, "\r\n", "\r\n"+closing, 1) }
	for _, tc := range []struct {
		name, head, in string
		size           int // of the bufio.Reader
		body           func(br *bufio.Reader, trailer *http.Header) *Body
	}{
		{"length", length, "hellonext", 4096, func(br *bufio.Reader, _ *http.Header) *Body {
			return NewLengthBody(br, 5, false)
		}},
		{"length small buffer", length, "hellonext", 16, func(br *bufio.Reader, _ *http.Header) *Body {
			return NewLengthBody(br, 5, false)
		}},
		{"length short", length, "hel", 4096, func(br *bufio.Reader, _ *http.Header) *Body {
			return NewLengthBody(br, 5, false)
		}},
		{"length closing", withClose(length), "hellonext", 4096, func(br *bufio.Reader, _ *http.Header) *Body {
			return NewLengthBody(br, 5, true)
		}},
		{"chunked", chunked, "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nnext", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"chunked closing", withClose(chunked), "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nnext", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, true)
		}},
		{"chunked trailer", chunked, "1\r\nx\r\n0\r\nX-Sum: 1\r\nx-other: 2\r\n\r\nnext", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"chunked bad trailer", chunked, "1\r\nx\r\n0\r\nbad trailer\r\n\r\nnext", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"chunked trailer cut", chunked, "1\r\nx\r\n0\r\nX-Sum: 1\r\n", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"chunked no trailer end", chunked, "0\r\n", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"chunked long trailer", chunked, "0\r\nX-Sum: " + strings.Repeat("s", 40) + "\r\n\r\n", 16, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"chunked truncated", chunked, "5\r\nhel", 4096, func(br *bufio.Reader, tr *http.Header) *Body {
			return NewChunkedBody(br, tr, false)
		}},
		{"until close", "HTTP/1.0 200 OK\r\n\r\n", "all of it", 4096, func(br *bufio.Reader, _ *http.Header) *Body {
			return NewUntilCloseBody(br, true)
		}},
	} {
		for _, closeFirst := range []bool{false, true} {
			br := bufio.NewReaderSize(strings.NewReader(tc.head+tc.in), tc.size)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(tc.name, err)
			}
			want := runBody(resp.Body, br, &resp.Trailer, closeFirst)

			br = bufio.NewReaderSize(strings.NewReader(tc.in), tc.size)
			var trailer http.Header
			got := runBody(tc.body(br, &trailer), br, &trailer, closeFirst)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (close first %v):\ngot  %+v\nwant %+v", tc.name, closeFirst, got, want)
			}
		}
	}
}

// TestBodyTrailerMerged: a trailer destination already set is added to, as net/http
// does with the announced trailer names.
func TestBodyTrailerMerged(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("0\r\nX-Sum: 1\r\n\r\n"))
	trailer := http.Header{"X-Sum": nil, "X-Other": nil}
	if _, err := io.ReadAll(NewChunkedBody(br, &trailer, false)); err != nil {
		t.Fatal(err)
	}
	if want := (http.Header{"X-Sum": {"1"}, "X-Other": nil}); !reflect.DeepEqual(trailer, want) {
		t.Errorf("trailer %v, want %v", trailer, want)
	}
}

// TestBodyCloseDrains: Close reads the rest of the body unless the connection closes
// after it, which net/http never has for a read-until-close body.
func TestBodyCloseDrains(t *testing.T) {
	for _, closing := range []bool{false, true} {
		br := bufio.NewReader(strings.NewReader("rest of it"))
		if err := NewUntilCloseBody(br, closing).Close(); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		if drained := len(rest) == 0; drained == closing {
			t.Errorf("closing %v: drained %v", closing, drained)
		}
	}
}

// TestBodyConcurrentClose: Read and Close may race (a handler reading while the
// connection closes the body); the mutex keeps that safe under -race.
func TestBodyConcurrentClose(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(strings.Repeat("x", 1<<16)))
	b := NewLengthBody(br, 1<<16, false)
	var wg sync.WaitGroup
	wg.Go(func() {
		p := make([]byte, 7)
		for {
			if _, err := b.Read(p); err != nil {
				return
			}
		}
	})
	wg.Go(func() { b.Close() })
	wg.Wait()
	if _, err := b.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
		t.Errorf("read after close: %v", err)
	}
}
