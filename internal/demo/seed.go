package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// Names of the seeded resources.
const (
	APIName       = "demo"
	PlanName      = "demo"
	DeveloperMail = "demo@example.com"
	AppName       = "demo-app"
	KeyName       = "demo"
)

// Seeded is what Seed made or found.
type Seeded struct {
	API *gatehouse.API
	Key string // a fresh demo key secret (secrets are stored hashed, so each start makes one)
	// Password signs the demo developer in to the portal; fresh on each start, like Key.
	// Empty when the store keeps no accounts.
	Password string
}

// Seed makes sure the demo resources exist, pointing the demo API at upstreamURL. It
// never overwrites what the user changed except the demo API's target, which must follow
// the demo upstream's address. Running it again keeps all data; it issues a fresh demo
// key and revokes the previous one, because the old secret cannot be shown again.
func Seed(ctx context.Context, st gatehouse.Store, upstreamURL string) (*Seeded, error) {
	ctx = gatehouse.WithActor(ctx, "demo")
	if _, err := st.Developer(ctx, DeveloperMail); gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		_, err = st.CreateDeveloper(ctx, &gatehouse.Developer{Email: DeveloperMail, Name: "Demo Developer"})
		if err != nil {
			return nil, fmt.Errorf("seeding developer: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading developer: %w", err)
	}

	api, err := st.API(ctx, APIName)
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.ENotFound:
		api, err = st.CreateAPI(ctx, &gatehouse.API{
			Name:        APIName,
			Version:     "1.0",
			Description: "The demo upstream: echoes requests, /delay/{ms}, /status/{code}, /bytes/{n}, and /stream, held open for what is published to channel demo.",
			State:       gatehouse.StatePublished,
			Path:        "/demo",
			StripPath:   true,
			Upstream:    gatehouse.Upstream{Targets: []gatehouse.Target{{URL: upstreamURL}}},
			Policies:    []gatehouse.PolicySpec{{Type: "key-auth"}},
			Tags:        []string{"demo"},
			// /stream answers with GRIP instructions: clients stay connected and get what
			// is published to channel "demo" (gatehouse publish demo "hello").
			Realtime: &gatehouse.Realtime{Enabled: true, SigKey: "gatehouse-demo-grip-key"},
		})
		if err != nil {
			return nil, fmt.Errorf("seeding api: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("reading api: %w", err)
	case len(api.Upstream.Targets) != 1 || api.Upstream.Targets[0].URL != upstreamURL:
		api.Upstream.Targets = []gatehouse.Target{{URL: upstreamURL}}
		if api, err = st.UpdateAPI(ctx, api, api.Revision); err != nil {
			return nil, fmt.Errorf("pointing the demo api at %s: %w", upstreamURL, err)
		}
	}

	if _, err := st.Plan(ctx, PlanName); gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		_, err = st.CreatePlan(ctx, &gatehouse.Plan{
			Name:        PlanName,
			Description: "Try the demo API: 60 requests a minute, 10,000 a day.",
			APIs:        []string{APIName},
			RateLimit:   &gatehouse.RateLimit{Limit: 60, Window: gatehouse.Duration(time.Minute)},
			Quota:       &gatehouse.Quota{Limit: 10000, Period: gatehouse.PeriodDay},
			Approval:    gatehouse.ApprovalAuto,
		})
		if err != nil {
			return nil, fmt.Errorf("seeding plan: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading plan: %w", err)
	}

	if _, err := st.App(ctx, AppName); gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		if _, err = st.CreateApp(ctx, &gatehouse.App{Name: AppName, Developer: DeveloperMail, Description: "The demo app."}); err != nil {
			return nil, fmt.Errorf("seeding app: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading app: %w", err)
	}

	subs, err := st.Subscriptions(ctx, gatehouse.SubscriptionFilter{App: AppName, Plan: PlanName})
	if err != nil {
		return nil, fmt.Errorf("reading subscriptions: %w", err)
	}
	if len(subs.Items) == 0 {
		if _, err := st.CreateSubscription(ctx, &gatehouse.Subscription{App: AppName, Plan: PlanName}); err != nil {
			return nil, fmt.Errorf("seeding subscription: %w", err)
		}
	}

	// Revoke the demo keys of earlier runs: nobody can read their secrets any more.
	keys, err := st.Keys(ctx, gatehouse.KeyFilter{App: AppName, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	now := time.Now()
	for _, k := range keys.Items {
		if k.Name == KeyName && k.Active(now) {
			if _, err := st.RevokeKey(ctx, k.ID); err != nil {
				return nil, fmt.Errorf("revoking old demo key %s: %w", k.Prefix, err)
			}
		}
	}
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	if _, err := st.CreateKey(ctx, &gatehouse.Key{App: AppName, Name: KeyName, Prefix: prefix, Hash: hash}); err != nil {
		return nil, fmt.Errorf("issuing demo key: %w", err)
	}
	out := &Seeded{API: api, Key: secret}
	if ss, ok := st.(session.Store); ok {
		pw, _, _ := gatehouse.NewSecret("")
		out.Password = strings.ReplaceAll(pw, "_", "-")
		if err := ss.PutAccount(ctx, &session.Account{Kind: session.KindDeveloper, Subject: DeveloperMail,
			PasswordHash: session.HashPassword(out.Password)}); err != nil {
			return nil, fmt.Errorf("setting the demo developer's password: %w", err)
		}
		// The previous start's password no longer works: end its sessions too.
		if err := ss.DeleteSessions(ctx, session.KindDeveloper, DeveloperMail); err != nil {
			return nil, fmt.Errorf("ending old demo sessions: %w", err)
		}
	}
	return out, nil
}
