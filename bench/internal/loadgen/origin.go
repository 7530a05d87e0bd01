package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ServeHello answers every request with 200 "hello\n" on addr until ctx ends (name begins
// its log line); with addrFile, it writes the bound host:port there once it listens
// (written whole, by rename, so a reader never sees half of it).
func ServeHello(ctx context.Context, name, addr, addrFile string, logw io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hello := []byte("hello\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header()["Content-Type"] = []string{"text/plain"}
			w.Write(hello)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	bound := ln.Addr().String()
	if addrFile != "" {
		tmp := filepath.Join(filepath.Dir(addrFile), "."+filepath.Base(addrFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(bound+"\n"), 0o644); err != nil {
			ln.Close()
			return err
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			ln.Close()
			return err
		}
	}
	fmt.Fprintf(logw, "%s: origin listening on %s\n", name, bound)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}
