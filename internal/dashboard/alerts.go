package dashboard

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
)

// Alert rules and webhooks are written to the alerts store directly. The engine rereads
// rules on its own every few seconds (alerts.Options.RuleRefresh), so a change made here
// takes effect within that time.

func (s *server) alertsStore() (alerts.Store, error) {
	if s.o.Alerts == nil {
		return nil, gatehouse.Errorf(gatehouse.ENotFound, "Alerting is not enabled on this node.")
	}
	return s.o.Alerts, nil
}

type alertsData struct {
	Rules    []*alerts.Rule
	Webhooks []*alerts.Webhook
	Events   []*alerts.Event
	State    string
	Pager    pager
}

func (s *server) alertsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	state := alerts.State(q.Get("state"))
	if state != "" && state != alerts.StateFiring && state != alerts.StateResolved {
		return invalid("state", "must be firing or resolved")
	}
	rules, err := st.AlertRules(ctx)
	if err != nil {
		return err
	}
	hooks, err := st.Webhooks(ctx)
	if err != nil {
		return err
	}
	evs, err := st.AlertEvents(ctx, alerts.EventFilter{State: state, ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	s.show(w, r, c, "alerts.html", "Alerts", "alerts", alertsData{Rules: rules, Webhooks: hooks, Events: evs.Items,
		State: string(state), Pager: pageLinks("/ui/alerts", q, evs.Next)})
	return nil
}

type ruleData struct {
	Rule  *alerts.Rule // nil for a new rule
	JSON  string
	Kinds []alerts.Kind
	Err   *formErr
}

const ruleTemplate = `{
  "name": "Orders error rate",
  "kind": "error_rate",
  "api": "orders",
  "window": "5m",
  "threshold": 0.05,
  "resolve_threshold": 0.02,
  "for": "2m",
  "severity": "critical",
  "enabled": true,
  "webhooks": []
}`

func (s *server) newRulePage(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := s.alertsStore(); err != nil {
		return err
	}
	s.show(w, r, c, "rule.html", "New alert rule", "alerts", ruleData{JSON: ruleTemplate, Kinds: alerts.Kinds()})
	return nil
}

func (s *server) rulePage(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	rule, err := st.AlertRule(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.show(w, r, c, "rule.html", "Alert rule "+rule.Name, "alerts", ruleData{Rule: rule, JSON: ruleJSON(rule), Kinds: alerts.Kinds()})
	return nil
}

func ruleJSON(r *alerts.Rule) string {
	shown := *r
	shown.CreatedAt, shown.UpdatedAt = time.Time{}, time.Time{}
	return indentJSON(struct {
		alerts.Rule
		CreatedAt *struct{} `json:"created_at,omitempty"`
		UpdatedAt *struct{} `json:"updated_at,omitempty"`
	}{Rule: shown})
}

// checkRule normalizes and validates rule, and checks that its webhooks exist, as the
// alerting admin API does.
func checkRule(r *http.Request, st alerts.Store, rule *alerts.Rule) error {
	rule.Normalize()
	var p gatehouse.Problems
	p.Merge("", rule.Validate())
	for i, id := range rule.Webhooks {
		if _, err := st.Webhook(r.Context(), id); gatehouse.ErrorCode(err) == gatehouse.ENotFound {
			p.Addf(fmt.Sprintf("webhooks[%d]", i), "no webhook has the id %q", id)
		} else if err != nil {
			return err
		}
	}
	return p.Err("alert rule")
}

func (s *server) createRule(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	text := r.PostFormValue("json")
	rule := &alerts.Rule{Enabled: true}
	err = decodeJSON(text, rule)
	if err == nil {
		if rule.ID == "" {
			rule.ID = gatehouse.NewID("rule")
		}
		err = checkRule(r, st, rule)
	}
	if err == nil {
		now := s.o.Now().UTC().Truncate(time.Microsecond)
		rule.CreatedAt, rule.UpdatedAt = now, now
		_, err = st.CreateAlertRule(r.Context(), rule)
	}
	if err != nil {
		d := ruleData{JSON: text, Kinds: alerts.Kinds()}
		if d.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "rule.html", "New alert rule", "alerts", d)
		return nil
	}
	s.log.Info("dashboard: alert rule created", "rule", rule.ID, "actor", c.sess.Subject)
	redirect(w, r, "/ui/alerts/rules/"+pathEscape(rule.ID), "created")
	return nil
}

func (s *server) updateRule(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	old, err := st.AlertRule(r.Context(), id)
	if err != nil {
		return err
	}
	text := r.PostFormValue("json")
	rule := &alerts.Rule{Enabled: true}
	err = decodeJSON(text, rule)
	if err == nil && rule.ID != "" && rule.ID != id {
		err = invalid("id", "ids cannot change; create a new rule instead")
	}
	if err == nil {
		rule.ID = id
		err = checkRule(r, st, rule)
	}
	if err == nil {
		rule.CreatedAt, rule.UpdatedAt = old.CreatedAt, s.o.Now().UTC().Truncate(time.Microsecond)
		_, err = st.UpdateAlertRule(r.Context(), rule)
	}
	if err != nil {
		d := ruleData{Rule: old, JSON: text, Kinds: alerts.Kinds()}
		if d.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "rule.html", "Alert rule "+old.Name, "alerts", d)
		return nil
	}
	s.log.Info("dashboard: alert rule updated", "rule", id, "actor", c.sess.Subject)
	redirect(w, r, "/ui/alerts/rules/"+pathEscape(id), "saved")
	return nil
}

func (s *server) deleteRule(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := st.DeleteAlertRule(r.Context(), id); err != nil {
		return err
	}
	s.log.Info("dashboard: alert rule deleted", "rule", id, "actor", c.sess.Subject)
	redirect(w, r, "/ui/alerts", "deleted")
	return nil
}

type webhookData struct {
	Hook       *alerts.Webhook // nil for a new webhook
	JSON       string
	Secret     string // a generated secret, shown once after creation
	Deliveries []*alerts.Delivery
	Pager      pager
	Err        *formErr
}

const webhookTemplate = `{
  "name": "On-call pager",
  "url": "https://hooks.example.com/gatehouse",
  "enabled": true,
  "events": ["firing", "resolved"]
}`

func webhookJSON(h *alerts.Webhook) string {
	return indentJSON(struct {
		ID      string         `json:"id"`
		Name    string         `json:"name"`
		URL     string         `json:"url"`
		Enabled bool           `json:"enabled"`
		Events  []alerts.State `json:"events"`
	}{h.ID, h.Name, h.URL, h.Enabled, h.Events})
}

func (s *server) newWebhookPage(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := s.alertsStore(); err != nil {
		return err
	}
	s.show(w, r, c, "webhook.html", "New webhook", "alerts", webhookData{JSON: webhookTemplate})
	return nil
}

func (s *server) webhookPage(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	h, err := st.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := s.webhookData(r, st, h)
	if err != nil {
		return err
	}
	s.show(w, r, c, "webhook.html", "Webhook "+h.Name, "alerts", d)
	return nil
}

func (s *server) webhookData(r *http.Request, st alerts.Store, h *alerts.Webhook) (webhookData, error) {
	q := r.URL.Query()
	dl, err := st.Deliveries(r.Context(), alerts.DeliveryFilter{Webhook: h.ID, ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return webhookData{}, err
	}
	return webhookData{Hook: h, JSON: webhookJSON(h), Deliveries: dl.Items,
		Pager: pageLinks("/ui/alerts/webhooks/"+pathEscape(h.ID), q, dl.Next)}, nil
}

func (s *server) createWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	text := r.PostFormValue("json")
	h := &alerts.Webhook{Enabled: true}
	err = decodeJSON(text, h)
	generated := false
	if err == nil {
		if h.ID == "" {
			h.ID = gatehouse.NewID("wh")
		}
		if h.Secret == "" {
			h.Secret, _, _ = gatehouse.NewSecret("whsec_")
			generated = true
		}
		h.Normalize()
		err = h.Validate()
	}
	var out *alerts.Webhook
	if err == nil {
		now := s.o.Now().UTC().Truncate(time.Microsecond)
		h.CreatedAt, h.UpdatedAt = now, now
		out, err = st.CreateWebhook(r.Context(), h)
	}
	if err != nil {
		d := webhookData{JSON: text}
		if d.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "webhook.html", "New webhook", "alerts", d)
		return nil
	}
	s.log.Info("dashboard: webhook created", "webhook", out.ID, "actor", c.sess.Subject)
	if !generated {
		redirect(w, r, "/ui/alerts/webhooks/"+pathEscape(out.ID), "created")
		return nil
	}
	// The generated secret is shown on this one page and never again.
	d, err := s.webhookData(r, st, out)
	if err != nil {
		return err
	}
	d.Secret = out.Secret
	s.show(w, r, c, "webhook.html", "Webhook "+out.Name, "alerts", d)
	return nil
}

func (s *server) updateWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	old, err := st.Webhook(r.Context(), id)
	if err != nil {
		return err
	}
	text := r.PostFormValue("json")
	h := &alerts.Webhook{Enabled: true}
	err = decodeJSON(text, h)
	if err == nil && h.ID != "" && h.ID != id {
		err = invalid("id", "ids cannot change; create a new webhook instead")
	}
	if err == nil {
		h.ID = id
		if h.Secret == "" {
			h.Secret = old.Secret
		}
		h.Normalize()
		err = h.Validate()
	}
	if err == nil {
		h.CreatedAt, h.UpdatedAt = old.CreatedAt, s.o.Now().UTC().Truncate(time.Microsecond)
		_, err = st.UpdateWebhook(r.Context(), h)
	}
	if err != nil {
		d, derr := s.webhookData(r, st, old)
		if derr != nil {
			return derr
		}
		d.JSON = text
		if d.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "webhook.html", "Webhook "+old.Name, "alerts", d)
		return nil
	}
	s.log.Info("dashboard: webhook updated", "webhook", id, "actor", c.sess.Subject)
	redirect(w, r, "/ui/alerts/webhooks/"+pathEscape(id), "saved")
	return nil
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.alertsStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := st.DeleteWebhook(r.Context(), id); err != nil {
		return err
	}
	s.log.Info("dashboard: webhook deleted", "webhook", id, "actor", c.sess.Subject)
	redirect(w, r, "/ui/alerts", "deleted")
	return nil
}
