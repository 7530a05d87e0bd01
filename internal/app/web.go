package app

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/realtime"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// newPortal builds the developer portal from the portal.* settings. Sign-in needs a
// store that keeps sessions (both SQL stores do).
func newPortal(cfg config.Config, st gatehouse.Store, obs *observe, svc *services, gatewayURL, portalURL string, log *slog.Logger) (http.Handler, error) {
	pc := cfg.Portal
	b := portal.Branding{Name: pc.Name, PrimaryColor: pc.PrimaryColor, AccentColor: pc.AccentColor}
	if pc.Logo != "" {
		data, err := os.ReadFile(pc.Logo)
		if err != nil {
			return nil, fmt.Errorf("portal.logo: %w", err)
		}
		b.Logo, b.LogoType = data, mime.TypeByExtension(strings.ToLower(filepath.Ext(pc.Logo)))
	}
	if pc.Home != "" {
		data, err := os.ReadFile(pc.Home)
		if err != nil {
			return nil, fmt.Errorf("portal.home: %w", err)
		}
		b.Home = string(data)
	}
	opts := portal.Options{Store: st, Logger: log, GatewayURL: gatewayURL, PortalURL: portalURL, Brand: b,
		SignUp: pc.SignUp, ManualApproval: pc.Approval == "manual", Query: obs.query, Secure: pc.SecureCookies,
		Quotas: func(app string) []quota.Usage { return svc.usage.Snapshot(app, time.Now()) }}
	if ss, ok := st.(session.Store); ok {
		opts.Sessions = ss
	} else {
		log.Warn("this store keeps no sessions: the portal offers no sign-in")
	}
	if pc.SMTP.Addr != "" {
		opts.Mailer = portal.SMTP{Addr: pc.SMTP.Addr, From: pc.SMTP.From, Username: pc.SMTP.Username, Password: pc.SMTP.Password}
	}
	return portal.New(opts)
}

// publicURLs are the gateway's and the portal's URLs as people reach them: the settings,
// or the listeners.
func publicURLs(cfg config.Config, proxyL, portalL net.Listener) (gatewayURL, portalURL string) {
	gatewayURL, portalURL = cfg.Portal.GatewayURL, cfg.Portal.URL
	if gatewayURL == "" {
		gatewayURL = baseURL(proxyL)
	}
	if portalURL == "" {
		portalURL = baseURL(portalL)
	}
	return gatewayURL, portalURL
}

// pruneSessions deletes expired sessions and reset links every interval until ctx ends.
func pruneSessions(ctx context.Context, st gatehouse.Store, every time.Duration, log *slog.Logger) {
	ss, ok := st.(session.Store)
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := ss.PruneSessions(ctx, now); err != nil {
				log.Warn("pruning expired sessions", "err", err)
			} else if n > 0 {
				log.Debug("pruned expired sessions", "count", n)
			}
		}
	}
}

// newDashboard builds the operator dashboard, served under /ui/ on the admin listener.
func newDashboard(st gatehouse.Store, secure bool, obs *observe, rt *realtime.Node, gw *gateway.Gateway, portalURL, gatewayURL string, log *slog.Logger) (http.Handler, error) {
	ss, ok := st.(session.Store)
	if !ok {
		return nil, nil // no sessions, no dashboard; the admin API still works
	}
	o := dashboard.Options{Store: st, Sessions: ss, Logger: log, Query: obs.query, Gateway: gw.Status, CheckAPI: gw.CheckAPI,
		PortalURL: portalURL, GatewayURL: gatewayURL, Secure: secure,
		Connections: func() int64 {
			s := rt.Status()
			return s.Holds.HeldResponse + s.Holds.HeldStream + s.WebSockets.Connections
		}}
	if obs.api != nil {
		o.Live = obs.api.ServeLive
	}
	if as, ok := st.(alerts.Store); ok {
		o.Alerts = as
	}
	if obs.alerts != nil {
		o.Firing = obs.alerts.Firing
	}
	return dashboard.New(o)
}

// sessionStore is st's session store, or nil when it keeps none.
func sessionStore(st gatehouse.Store) session.Store {
	ss, _ := st.(session.Store)
	return ss
}
