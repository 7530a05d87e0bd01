package clienttest

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// The reference rules of the real store, so that tests see the same conflicts.

func (s *Server) checkAPI(a *gatehouse.API) error {
	a.Normalize()
	return a.Validate()
}

func (s *Server) checkPlan(p *gatehouse.Plan) error {
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	var probs gatehouse.Problems
	for i, name := range p.APIs {
		if _, ok := s.apis.items[name]; !ok {
			probs.Addf("apis["+strconv.Itoa(i)+"]", "api %q does not exist", name)
		}
	}
	return probs.Err("plan")
}

func (s *Server) checkDeveloper(d *gatehouse.Developer) error {
	d.Normalize()
	return d.Validate()
}

func (s *Server) checkApp(a *gatehouse.App) error {
	a.Normalize()
	if err := a.Validate(); err != nil {
		return err
	}
	if _, ok := s.developers.items[a.Developer]; !ok {
		return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid app",
			Fields: []gatehouse.FieldError{{Field: "developer", Message: "developer " + strconv.Quote(a.Developer) + " does not exist"}}}
	}
	return nil
}

func (s *Server) checkSubscription(sub *gatehouse.Subscription) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	var probs gatehouse.Problems
	if _, ok := s.apps.items[sub.App]; !ok {
		probs.Addf("app", "app %q does not exist", sub.App)
	}
	plan, ok := s.plans.items[sub.Plan]
	if !ok {
		probs.Addf("plan", "plan %q does not exist", sub.Plan)
	}
	if err := probs.Err("subscription"); err != nil {
		return err
	}
	for _, other := range s.subs.items {
		if other.App == sub.App && other.Plan == sub.Plan && other.ID != sub.ID {
			return gatehouse.Errorf(gatehouse.EConflict, "app %q already subscribes to plan %q", sub.App, sub.Plan)
		}
	}
	if sub.Status == "" {
		sub.Status = gatehouse.SubActive
		if plan.Approval == gatehouse.ApprovalManual {
			sub.Status = gatehouse.SubPending
		}
	}
	return nil
}

func (s *Server) apiInUse(a *gatehouse.API) error {
	for _, p := range s.plans.sorted() {
		if slices.Contains(p.APIs, a.Name) {
			return gatehouse.Errorf(gatehouse.EConflict, "api %q is offered in plan %q", a.Name, p.Name)
		}
	}
	return nil
}

func (s *Server) planInUse(p *gatehouse.Plan) error {
	for _, sub := range s.subs.items {
		if sub.Plan == p.Name {
			return gatehouse.Errorf(gatehouse.EConflict, "plan %q has subscriptions", p.Name)
		}
	}
	return nil
}

func (s *Server) developerInUse(d *gatehouse.Developer) error {
	for _, a := range s.apps.items {
		if a.Developer == d.Email {
			return gatehouse.Errorf(gatehouse.EConflict, "developer %q owns app %q", d.Email, a.Name)
		}
	}
	return nil
}

func (s *Server) appInUse(a *gatehouse.App) error {
	for _, sub := range s.subs.items {
		if sub.App == a.Name {
			return gatehouse.Errorf(gatehouse.EConflict, "app %q has subscriptions", a.Name)
		}
	}
	return nil
}

func (s *Server) keyRoutes(mux *http.ServeMux) {
	// lookup finds the app and, when the route names one, its key.
	lookup := func(w http.ResponseWriter, r *http.Request) (*gatehouse.Key, bool) {
		app := r.PathValue("name")
		if _, ok := s.apps.items[app]; !ok {
			writeProblem(w, s.apps.notFound(app))
			return nil, false
		}
		id := r.PathValue("id")
		if id == "" {
			return nil, true
		}
		k, ok := s.keys.items[id]
		if !ok || k.App != app {
			writeProblem(w, s.keys.notFound(id))
			return nil, false
		}
		return k, true
	}
	mux.HandleFunc("GET /v1/apps/{name}/keys", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := lookup(w, r); !ok {
			return
		}
		keys := slices.DeleteFunc(s.keys.sorted(), func(k *gatehouse.Key) bool { return k.App != r.PathValue("name") })
		page, err := paginate(keys, s.keys.id, r.URL.Query(), s.PageSize)
		if err != nil {
			writeProblem(w, err)
			return
		}
		writeJSON(w, http.StatusOK, page)
	})
	mux.HandleFunc("POST /v1/apps/{name}/keys", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := lookup(w, r); !ok {
			return
		}
		var req struct {
			Name      string             `json:"name"`
			ExpiresAt *time.Time         `json:"expires_at"`
			ExpiresIn gatehouse.Duration `json:"expires_in"`
		}
		if err := decode(r, &req); err != nil {
			writeProblem(w, err)
			return
		}
		secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
		k := &gatehouse.Key{ID: s.nextID("key"), App: r.PathValue("name"), Name: req.Name,
			Prefix: prefix, Hash: hash, CreatedAt: s.now, ExpiresAt: req.ExpiresAt}
		if req.ExpiresIn > 0 {
			t := s.now.Add(req.ExpiresIn.D())
			k.ExpiresAt = &t
		}
		if err := k.Validate(); err != nil {
			writeProblem(w, err)
			return
		}
		store(s, s.keys, k, gatehouse.ActionCreate)
		writeJSON(w, http.StatusCreated, struct {
			*gatehouse.Key
			Secret string `json:"key"`
		}{k, secret})
	})
	mux.HandleFunc("GET /v1/apps/{name}/keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if k, ok := lookup(w, r); ok {
			writeJSON(w, http.StatusOK, k)
		}
	})
	mux.HandleFunc("POST /v1/apps/{name}/keys/{id}/revoke", func(w http.ResponseWriter, r *http.Request) {
		k, ok := lookup(w, r)
		if !ok {
			return
		}
		if k.RevokedAt == nil {
			t := s.now
			k.RevokedAt = &t
			s.rev++
			s.record(gatehouse.KindKey, k.ID, gatehouse.ActionRevoke)
		}
		writeJSON(w, http.StatusOK, k)
	})
	mux.HandleFunc("POST /v1/apps/{name}/keys/{id}/rotate", func(w http.ResponseWriter, r *http.Request) {
		old, ok := lookup(w, r)
		if !ok {
			return
		}
		var req struct {
			Overlap gatehouse.Duration `json:"overlap"`
		}
		if err := decode(r, &req); err != nil {
			writeProblem(w, err)
			return
		}
		secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
		k := &gatehouse.Key{ID: s.nextID("key"), App: old.App, Name: old.Name, Prefix: prefix, Hash: hash,
			CreatedAt: s.now, ExpiresAt: old.ExpiresAt}
		store(s, s.keys, k, gatehouse.ActionCreate)
		ends := s.now.Add(req.Overlap.D())
		old.ExpiresAt = &ends
		s.rev++
		s.record(gatehouse.KindKey, old.ID, gatehouse.ActionUpdate)
		writeJSON(w, http.StatusCreated, struct {
			*gatehouse.Key
			Secret string `json:"key"`
		}{k, secret})
	})
	mux.HandleFunc("DELETE /v1/apps/{name}/keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if k, ok := lookup(w, r); ok {
			remove(s, s.keys, k.ID)
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

func (s *Server) tokenRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/admin-tokens", func(w http.ResponseWriter, r *http.Request) {
		page, err := paginate(s.tokens.sorted(), s.tokens.id, r.URL.Query(), s.PageSize)
		if err != nil {
			writeProblem(w, err)
			return
		}
		writeJSON(w, http.StatusOK, page)
	})
	mux.HandleFunc("POST /v1/admin-tokens", func(w http.ResponseWriter, r *http.Request) {
		var t gatehouse.AdminToken
		var req struct {
			Name      string     `json:"name"`
			Role      string     `json:"role"`
			ExpiresAt *time.Time `json:"expires_at"`
		}
		if err := decode(r, &req); err != nil {
			writeProblem(w, err)
			return
		}
		t.Name, t.Role, t.ExpiresAt = req.Name, req.Role, req.ExpiresAt
		if err := t.Validate(); err != nil {
			writeProblem(w, err)
			return
		}
		secret, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
		t.ID, t.Prefix, t.Hash, t.CreatedAt = s.nextID("tok"), prefix, hash, s.now
		store(s, s.tokens, &t, gatehouse.ActionCreate)
		writeJSON(w, http.StatusCreated, struct {
			*gatehouse.AdminToken
			Secret string `json:"token"`
		}{&t, secret})
	})
	mux.HandleFunc("DELETE /v1/admin-tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, ok := s.tokens.items[id]; !ok {
			writeProblem(w, s.tokens.notFound(id))
			return
		}
		remove(s, s.tokens, id)
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err1 := parseTime(q.Get("since"))
	until, err2 := parseTime(q.Get("until"))
	if err1 != nil || err2 != nil {
		writeProblem(w, gatehouse.Errorf(gatehouse.EInvalid, "since and until must be RFC 3339 times"))
		return
	}
	var entries []*gatehouse.AuditEntry
	for _, e := range slices.Backward(s.audit) {
		if match(q, "resource", e.Resource) && match(q, "name", e.Name) && match(q, "actor", e.Actor) &&
			!e.At.Before(since) && (until.IsZero() || e.At.Before(until)) {
			entries = append(entries, e)
		}
	}
	page, err := paginate(entries, func(e *gatehouse.AuditEntry) string { return strconv.FormatInt(e.ID, 10) }, q, s.PageSize)
	if err != nil {
		writeProblem(w, err)
		return
	}
	if page.Items == nil {
		page.Items = []*gatehouse.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, page)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
