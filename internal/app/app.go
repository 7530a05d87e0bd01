// Package app wires a Gatehouse node together: configuration → store → gateway, admin
// API, portal (and the demo upstream) → listeners. Run owns every goroutine it starts and
// returns only when all of them have stopped.
package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/h1server"
	"github.com/gatehouse-dev/gatehouse/internal/listener"
	"github.com/gatehouse-dev/gatehouse/internal/policy/builtin"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Env is what the process gives Run: its output streams, environment and logger.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Logger         *slog.Logger
	Version        string
}

// Run starts the node and blocks until ctx is cancelled (then drains in-flight requests
// for up to cfg.ShutdownTimeout) or a listener fails.
func Run(ctx context.Context, cfg config.Config, env Env) error {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if getenv("GOGC") == "" && cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	stdout := env.Stdout
	if stdout == nil {
		stdout = io.Discard
	}

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return fmt.Errorf("opening store %s: %w", redactDSN(cfg.Store), err)
	}
	defer st.Close()

	bootstrap, err := admin.EnsureToken(ctx, st, getenv("GATEHOUSE_ADMIN_TOKEN"))
	if err != nil {
		return fmt.Errorf("preparing admin token: %w", err)
	}

	// Listen on everything first, so a port conflict fails fast and nothing is half-up.
	ls := &listeners{}
	defer ls.closeAll()
	proxyL, err := ls.listen("proxy", cfg.ProxyAddr)
	if err != nil {
		return err
	}
	adminL, err := ls.listen("admin", cfg.AdminAddr)
	if err != nil {
		return err
	}
	portalL, err := ls.listen("portal", cfg.PortalAddr)
	if err != nil {
		return err
	}
	var tlsL net.Listener
	if cfg.TLS.Enabled() {
		cert, err := listener.LoadCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile, certCheckInterval, log)
		if err != nil {
			return err
		}
		raw, err := ls.listen("proxy tls", cfg.ProxyTLSAddr)
		if err != nil {
			return err
		}
		tc := cert.TLSConfig()
		if cfg.TLS.ClientCerts {
			// Ask, never require or verify here: each API's mtls policy verifies against
			// its own CA, and APIs without it must keep working for clients with no cert.
			tc.ClientAuth = tls.RequestClientCert
		}
		tlsL = tls.NewListener(listener.Limit(raw, cfg.MaxConnections), tc)
	}
	proxyL = listener.Limit(proxyL, cfg.MaxConnections)
	var publishL net.Listener
	if cfg.Realtime.PublishAddr != "" {
		if publishL, err = ls.listen("publish", cfg.Realtime.PublishAddr); err != nil {
			return err
		}
	}
	var demoL net.Listener
	if cfg.Demo.Enabled {
		if demoL, err = ls.listen("demo upstream", cfg.Demo.UpstreamAddr); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var seeded *demo.Seeded
	if demoL != nil {
		if seeded, err = demo.Seed(ctx, st, "http://"+demoL.Addr().String()); err != nil {
			return fmt.Errorf("seeding demo data: %w", err)
		}
	}

	svc, err := newServices(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	rt, err := newRealtime(cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	var gw *gateway.Gateway
	obs, err := newObserve(cfg, st, rt, func() *gatehouse.GatewayStatus { return gw.Status() }, svc, log)
	if err != nil {
		return err
	}
	gw = gateway.New(gateway.Options{Logger: log.With("component", "gateway"), MaxBodyBytes: cfg.ProxyMaxBody,
		Policies: builtin.Registry(), Services: svc.env,
		Realtime: rt, RealtimeWebSockets: true, SigKey: cfg.Realtime.SigKey, SigIssuer: cfg.Realtime.SigIssuer,
		Recorder: obs.recorder(), Tracer: obs.tracer})
	defer gw.Close()
	if err := gw.Load(ctx, st); err != nil {
		// Not fatal: the store may recover, and /readyz says what is wrong meanwhile.
		log.Error("initial route table load failed", "err", err)
	}

	gatewayURL, portalURL := publicURLs(cfg, proxyL, portalL)
	dash, err := newDashboard(st, cfg.Portal.SecureCookies, obs, rt, gw, portalURL, gatewayURL, log.With("component", "dashboard"))
	if err != nil {
		return fmt.Errorf("building dashboard: %w", err)
	}
	var adminAuth func(*http.Request) error
	adminH := admin.New(admin.Options{
		Store:        st,
		Logger:       log.With("component", "admin"),
		Version:      env.Version,
		MaxBodyBytes: cfg.AdminMaxBody,
		Gateway:      gw.Status,
		CheckAPI:     gw.CheckAPI,
		CheckPlan:    gw.CheckPlan,
		PurgeCache:   svc.PurgeCache,
		Degraded:     svc.Degraded,
		Sessions:     sessionStore(st),
		PortalURL:    portalURL,
		Extra: func(mux *http.ServeMux, auth func(*http.Request) error) {
			adminAuth = auth // admin.New calls this before returning
			rt.Mount(mux, auth)
			obs.mount(mux, auth)
			if dash != nil {
				mux.Handle("/ui/", dash)
				mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/ui/", http.StatusFound)
				})
			}
		},
		Ready: func(context.Context) error {
			if err := gw.Ready(); err != nil {
				// A gatehouse.Error's message is shown on /readyz; this one holds no secrets.
				return &gatehouse.Error{Code: gatehouse.EUnavailable, Message: "gateway: " + err.Error()}
			}
			if err := svc.Health(); err != nil {
				return &gatehouse.Error{Code: gatehouse.EUnavailable, Message: err.Error()}
			}
			return nil
		},
	})
	portalH, err := newPortal(cfg, st, obs, svc, gatewayURL, portalURL, log.With("component", "portal"))
	if err != nil {
		return fmt.Errorf("building portal: %w", err)
	}

	servers := []*server{
		{name: "proxy", l: proxyL, h: gw, proxy: true},
		{name: "admin", l: adminL, h: adminH},
		{name: "portal", l: portalL, h: portalH},
	}
	if tlsL != nil {
		servers = append(servers, &server{name: "proxy tls", l: tlsL, h: gw, proxy: true, tls: true})
	}
	if demoL != nil {
		servers = append(servers, &server{name: "demo upstream", l: demoL, h: demo.Upstream()})
	}
	if publishL != nil {
		servers = append(servers, &server{name: "publish", l: publishL, h: rt.PublishListenerHandler(adminAuth)})
	}

	// Requests must outlive the stop signal so that Shutdown can drain them: their base
	// context is cancelled only after the drain (or its timeout), not when ctx is.
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()

	var wg sync.WaitGroup
	errc := make(chan error, len(servers))
	wg.Go(func() { gw.Watch(ctx, st) })
	wg.Go(func() { pruneSessions(ctx, st, 10*time.Minute, log) })
	obsDone := obs.start(ctx)
	wg.Go(func() { <-obsDone })
	dirDone := svc.dir.Start(ctx)
	wg.Go(func() { <-dirDone })
	for _, s := range servers {
		if s.proxy && !s.tls && cfg.ProxyServer == "gatehouse" {
			s.srv = newH1Server(cfg, s.h, reqCtx, log)
			startServer(&wg, s, errc, log)
			continue
		}
		hs := &http.Server{
			Handler:           s.h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(), // slowloris: headers must arrive in time
			IdleTimeout:       cfg.IdleTimeout.D(),
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return reqCtx },
		}
		if s.proxy {
			hs.ReadTimeout = cfg.ReadTimeout.D()
			hs.WriteTimeout = cfg.WriteTimeout.D()
			// HTTP/1.1 always; HTTP/2 over TLS by ALPN (the TLS listener offers h2);
			// cleartext HTTP/2 with prior knowledge when h2c is on.
			hs.Protocols = new(http.Protocols)
			hs.Protocols.SetHTTP1(true)
			hs.Protocols.SetHTTP2(true)
			hs.Protocols.SetUnencryptedHTTP2(cfg.H2C)
		}
		s.srv = hs
		startServer(&wg, s, errc, log)
	}
	ls.release() // the servers own the listeners now

	if cfg.AddrFile != "" {
		if err := writeAddrFile(cfg.AddrFile, servers); err != nil {
			cancel()
			shutdown(servers, time.Second, log)
			wg.Wait()
			return err
		}
	}
	printBanner(stdout, servers, bootstrap, seeded, getenv("GATEHOUSE_ADMIN_TOKEN") != "")

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain_timeout", cfg.ShutdownTimeout.D())
	case runErr = <-errc:
		log.Error("listener failed; shutting down", "err", runErr)
	}
	// Drain with a fresh context: the parent is already cancelled.
	shutdown(servers, cfg.ShutdownTimeout.D(), log)
	rt.Close() // held connections were hijacked: the servers do not track them
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	obs.close(flushCtx, log) // every answered request reaches the rollups
	cancelFlush()
	cancelRequests() // ends what outlived the drain: streams, hijacked connections
	cancel()
	wg.Wait()
	return runErr
}

type server struct {
	name  string
	l     net.Listener
	h     http.Handler
	proxy bool // API traffic: proxy timeouts and protocols apply
	tls   bool
	srv   httpServer
}

// httpServer is net/http's server or the proxy listener's own HTTP/1.1 one.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

func startServer(wg *sync.WaitGroup, s *server, errc chan<- error, log *slog.Logger) {
	wg.Go(func() {
		if err := s.srv.Serve(s.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s listener: %w", s.name, err)
		}
	})
	log.Info("listening", "listener", s.name, "addr", s.l.Addr().String())
}

// newH1Server is the cleartext proxy listener's HTTP/1.1 server, with net/http behind it
// for connections that open with the HTTP/2 preface when h2c is on.
func newH1Server(cfg config.Config, h http.Handler, reqCtx context.Context, log *slog.Logger) *h1server.Server {
	srv := &h1server.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.ReadTimeout.D(),
		WriteTimeout:      cfg.WriteTimeout.D(),
		IdleTimeout:       cfg.IdleTimeout.D(),
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		BaseContext:       reqCtx,
		Logger:            log.With("listener", "proxy"),
	}
	if cfg.H2C {
		srv.HTTP2 = &http.Server{
			Handler:     h,
			IdleTimeout: cfg.IdleTimeout.D(),
			ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext: func(net.Listener) context.Context { return reqCtx },
			Protocols:   new(http.Protocols),
		}
		srv.HTTP2.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv
}

// certCheckInterval is how often, at most, the proxy's certificate files are checked for
// a renewal (on the handshake path, so an idle node does no work).
const certCheckInterval = 10 * time.Second

// shutdown stops accepting, then waits for in-flight requests up to timeout.
func shutdown(servers []*server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.srv.Shutdown(ctx); err != nil {
				log.Warn("forced close after drain timeout", "listener", s.name, "err", err)
				_ = s.srv.Close()
			}
		})
	}
	wg.Wait()
}

// listeners closes what it opened unless released, so an early return leaks nothing.
type listeners struct{ open []net.Listener }

func (ls *listeners) listen(name, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener on %s: %w", name, addr, err)
	}
	ls.open = append(ls.open, l)
	return l, nil
}

func (ls *listeners) release() { ls.open = nil }

func (ls *listeners) closeAll() {
	for _, l := range ls.open {
		_ = l.Close()
	}
}

// writeAddrFile records the bound addresses (useful with ":0" ports), atomically.
func writeAddrFile(path string, servers []*server) error {
	m := map[string]string{}
	for _, s := range servers {
		m[strings.ReplaceAll(s.name, " ", "_")] = s.l.Addr().String()
	}
	b, _ := json.Marshal(m)
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing address file: %w", err)
	}
	return os.Rename(tmp, path)
}

// baseURL turns a listener address into a URL a person can paste (":8000" → 127.0.0.1).
func baseURL(l net.Listener) string {
	host, port, _ := net.SplitHostPort(l.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// url is where a person reaches s.
func (s *server) url() string {
	u := baseURL(s.l)
	if s.tls {
		u = "https" + strings.TrimPrefix(u, "http")
	}
	return u
}

func printBanner(w io.Writer, servers []*server, bootstrap string, seeded *demo.Seeded, envToken bool) {
	fmt.Fprintln(w, "Gatehouse is running.")
	for _, s := range servers {
		fmt.Fprintf(w, "  %-14s %s\n", s.name, s.url())
	}
	switch {
	case bootstrap != "":
		fmt.Fprintf(w, "\nAdmin token (shown once, stored hashed; keep it safe):\n  %s\n", bootstrap)
		fmt.Fprintf(w, "  export GATEHOUSE_TOKEN=%s\n", bootstrap)
	case envToken:
		fmt.Fprintln(w, "\nAdmin token: from GATEHOUSE_ADMIN_TOKEN.")
	}
	if seeded != nil {
		proxy := baseURL(servers[0].l)
		fmt.Fprintf(w, "\nDemo: API %q at %s%s, app %q, developer %q.\n", seeded.API.Name, proxy, seeded.API.Path, demo.AppName, demo.DeveloperMail)
		fmt.Fprintf(w, "  demo key (shown once): %s\n", seeded.Key)
		fmt.Fprintln(w, "Try:")
		fmt.Fprintf(w, "  curl -i -H 'X-Api-Key: %s' %s%s/hello\n", seeded.Key, proxy, seeded.API.Path)
		if seeded.API.Realtime != nil && seeded.API.Realtime.Enabled {
			fmt.Fprintf(w, "  curl -N -H 'X-Api-Key: %s' %s%s/stream   # held open; then, elsewhere:\n", seeded.Key, proxy, seeded.API.Path)
			fmt.Fprintf(w, "  gatehouse publish demo \"hello\"                   # with GATEHOUSE_TOKEN set\n")
		}
		if seeded.Password != "" {
			fmt.Fprintf(w, "  open %s/ for the developer portal: sign in as %s with password %s\n", baseURL(servers[2].l), demo.DeveloperMail, seeded.Password)
		} else {
			fmt.Fprintf(w, "  open %s/ for the developer portal\n", baseURL(servers[2].l))
		}
	}
	fmt.Fprintf(w, "\nOperator dashboard: %s/ui/ (sign in with the admin token)\n", baseURL(servers[1].l))
}

// redactDSN hides a password in a store DSN before it reaches a log or an error.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 {
			if c := strings.IndexByte(rest[:at], ':'); c >= 0 {
				return dsn[:i+3] + rest[:c] + ":***" + rest[at:]
			}
		}
	}
	return dsn
}
