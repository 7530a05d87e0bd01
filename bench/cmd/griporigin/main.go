// Command griporigin is the GRIP origin of bench/realtime.sh: every GET /stream answers
// with a stream hold on one channel, so the GRIP proxy in front (Gatehouse or Pushpin)
// keeps the client's connection and appends what is published to the channel.
//
//	griporigin -addr 127.0.0.1:0 -addr-file FILE [-channel NAME]
//
// GET /stream?channel=C holds on channel C (default: -channel); GET / answers "hello" (a
// readiness probe). Only loopback addresses are accepted.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	addrFile := flag.String("addr-file", "", "write the bound host:port to this file once listening")
	channel := flag.String("channel", "bench", "channel of GET /stream without ?channel=")
	flag.Parse()
	if err := run(*addr, *addrFile, *channel); err != nil {
		fmt.Fprintln(os.Stderr, "griporigin:", err)
		os.Exit(1)
	}
}

func run(addr, addrFile, channel string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: only loopback addresses", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if addrFile != "" {
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           handler(channel),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(os.Stderr, "griporigin: ", 0),
	}
	return srv.Serve(ln)
}

func handler(channel string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		ch := r.URL.Query().Get("channel")
		if ch == "" {
			ch = channel
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch)
		h.Set("Content-Length", "5")
		_, _ = w.Write([]byte(":ok\n\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello"))
	})
	return mux
}
