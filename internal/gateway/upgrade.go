package gateway

import (
	"bufio"
	"net"
	"net/http"
	"strings"
)

// isUpgrade reports whether r asks to switch protocols (WebSocket and friends).
func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// upgradeWriter works around httputil.ReverseProxy dropping client bytes that arrived with
// the upgrade request (golang/go#80875): on a protocol switch it copies from the hijacked
// net.Conn and ignores what the server had already buffered, so a WebSocket frame sent
// right behind the handshake is lost. Our Hijack hands back a conn that reads the buffer
// first. Only upgrade requests are wrapped, so normal requests pay nothing.
type upgradeWriter struct {
	http.ResponseWriter
}

func (u upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func (u upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() == 0 {
		return conn, brw, nil
	}
	bc := &bufferedConn{Conn: conn, r: brw.Reader}
	return bc, bufio.NewReadWriter(bufio.NewReader(bc), brw.Writer), nil
}

// bufferedConn reads what the server buffered before the underlying connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
