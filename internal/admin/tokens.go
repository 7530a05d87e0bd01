package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// tokenCreate is the body of POST /v1/admin-tokens.
type tokenCreate struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// tokenCreated answers an admin token creation: the token and, this once only, its secret.
type tokenCreated struct {
	*gatehouse.AdminToken
	Secret string `json:"token"`
}

func (s *server) listAdminTokens(w http.ResponseWriter, r *http.Request) error {
	o, err := listOptions(r.URL.Query())
	if err != nil {
		return err
	}
	pg, err := s.store.AdminTokens(r.Context(), o)
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

// createAdminToken generates an admin token; like a key, its secret is shown only here.
func (s *server) createAdminToken(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.readBody(w, r, false, mediaJSON)
	if err != nil {
		return err
	}
	var req tokenCreate
	if err := decodeInto(doc, &req, append(serverFields(), "last_used_at")...); err != nil {
		return err
	}
	t := gatehouse.AdminToken{Name: req.Name, Role: req.Role, ExpiresAt: req.ExpiresAt}
	var p gatehouse.Problems
	p.Merge("", t.Validate())
	if t.ExpiresAt != nil {
		if !t.ExpiresAt.After(s.now()) {
			p.Addf("expires_at", "must be in the future")
		}
		e := t.ExpiresAt.UTC()
		t.ExpiresAt = &e
	}
	if err := p.Err("admin token"); err != nil {
		return err
	}
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	t.Prefix, t.Hash = prefix, hash
	out, err := s.store.CreateAdminToken(r.Context(), &t)
	if err != nil {
		return err
	}
	s.writeCreated(w, r, pathOf("admin-tokens", out.ID), 0, tokenCreated{AdminToken: out, Secret: secret})
	return nil
}

// deleteAdminToken deletes a token, effective at once on this node. A token cannot delete
// itself: that is how the last admin locks everyone out, and the fix (restarting with
// GATEHOUSE_ADMIN_TOKEN) is much worse than asking another token to do it.
func (s *server) deleteAdminToken(w http.ResponseWriter, r *http.Request) error {
	if err := ifMatchUnversioned(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if self := tokenFrom(r.Context()); self != nil && self.ID == id {
		return gatehouse.Errorf(gatehouse.EConflict, "an admin token cannot delete itself; use another admin token")
	}
	name := s.tokenName(r.Context(), id)
	if err := s.store.DeleteAdminToken(r.Context(), id); err != nil {
		return err
	}
	s.tokens.forget(id)
	if name != "" {
		s.endTokenSessions(r.Context(), name) // dashboard sign-ins made with it end too
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenName finds the name of token id ("" if none): tokens are few, so a scan is fine.
func (s *server) tokenName(ctx context.Context, id string) string {
	o := gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}
	for {
		pg, err := s.store.AdminTokens(ctx, o)
		if err != nil {
			return ""
		}
		for _, t := range pg.Items {
			if t.ID == id {
				return t.Name
			}
		}
		if pg.Next == "" {
			return ""
		}
		o.After = pg.Next
	}
}
