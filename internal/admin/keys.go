package admin

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// keyCreate is the body of POST /v1/apps/{name}/keys. Every field is optional.
type keyCreate struct {
	App       string              `json:"app,omitempty"` // redundant with the path; must match it
	Name      string              `json:"name,omitempty"`
	ExpiresAt *time.Time          `json:"expires_at,omitempty"`
	ExpiresIn *gatehouse.Duration `json:"expires_in,omitempty"`
}

// keyCreated answers a key creation: the key and, this once only, its secret.
type keyCreated struct {
	*gatehouse.Key
	Secret string `json:"key"`
}

// keyServerFields are ignored in a key creation body, like serverFields elsewhere.
func keyServerFields() []string {
	return append(serverFields(), "revoked_at", "last_used_at")
}

func (s *server) listKeys(w http.ResponseWriter, r *http.Request) error {
	o, err := listOptions(r.URL.Query())
	if err != nil {
		return err
	}
	app := r.PathValue("name")
	// An unknown app is a 404, not an empty list: the caller probably misspelt it.
	if _, err := s.store.App(r.Context(), app); err != nil {
		return err
	}
	pg, err := s.store.Keys(r.Context(), gatehouse.KeyFilter{ListOptions: o, App: app})
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

// createKey generates a key for an app. The store keeps only its prefix and hash; the
// secret is in this one answer and nowhere else.
func (s *server) createKey(w http.ResponseWriter, r *http.Request) error {
	app := r.PathValue("name")
	doc, err := s.readBody(w, r, true, mediaJSON)
	if err != nil {
		return err
	}
	var req keyCreate
	if err := decodeInto(doc, &req, keyServerFields()...); err != nil {
		return err
	}
	now := s.now()
	var p gatehouse.Problems
	if req.App != "" && req.App != app {
		p.Addf("app", "is %q but the path names app %q", req.App, app)
	}
	var expires *time.Time
	switch {
	case req.ExpiresAt != nil && req.ExpiresIn != nil:
		p.Addf("expires_in", "give expires_at or expires_in, not both")
	case req.ExpiresIn != nil:
		if *req.ExpiresIn <= 0 {
			p.Addf("expires_in", "must be positive")
		}
		t := now.Add(req.ExpiresIn.D()).UTC()
		expires = &t
	case req.ExpiresAt != nil:
		if !req.ExpiresAt.After(now) {
			p.Addf("expires_at", "must be in the future")
		}
		t := req.ExpiresAt.UTC()
		expires = &t
	}
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	k := &gatehouse.Key{App: app, Name: req.Name, Prefix: prefix, Hash: hash, ExpiresAt: expires}
	p.Merge("", k.Validate())
	if err := p.Err("key"); err != nil {
		return err
	}
	out, err := s.store.CreateKey(r.Context(), k)
	if err != nil {
		return err
	}
	s.writeCreated(w, r, pathOf("apps", out.App, "keys", out.ID), 0, keyCreated{Key: out, Secret: secret})
	return nil
}

// appKey returns the key named by the path, or ENotFound when it belongs to another app:
// a key id must not reach across apps.
func (s *server) appKey(r *http.Request) (*gatehouse.Key, error) {
	app, id := r.PathValue("name"), r.PathValue("id")
	k, err := s.store.Key(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if k.App != app {
		return nil, gatehouse.Errorf(gatehouse.ENotFound, "app %q has no key %q", app, id)
	}
	return k, nil
}

func (s *server) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.appKey(r)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, k)
	return nil
}

func (s *server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	if err := ifMatchUnversioned(r); err != nil {
		return err
	}
	k, err := s.appKey(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteKey(r.Context(), k.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeKey marks a key revoked. It is idempotent and keeps the key (for the audit trail
// and so that its prefix still explains rejected requests); DELETE removes it.
func (s *server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.readBody(w, r, true, mediaJSON)
	if err != nil {
		return err
	}
	if err := decodeInto(doc, &struct{}{}); err != nil {
		return err
	}
	k, err := s.appKey(r)
	if err != nil {
		return err
	}
	out, err := s.store.RevokeKey(r.Context(), k.ID)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// keyRotate is the body of POST /v1/apps/{name}/keys/{id}/rotate.
type keyRotate struct {
	// Overlap is how long the old key keeps working beside the new one (default 0: it
	// stops at once).
	Overlap gatehouse.Duration `json:"overlap"`
}

// rotateKey issues a successor of a key and ends the old one after the overlap; the
// answer is the new key with its secret, as from createKey.
func (s *server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.readBody(w, r, true, mediaJSON)
	if err != nil {
		return err
	}
	var req keyRotate
	if err := decodeInto(doc, &req); err != nil {
		return err
	}
	k, err := s.appKey(r)
	if err != nil {
		return err
	}
	out, secret, err := gatehouse.RotateKey(r.Context(), s.store, k, req.Overlap.D(), s.now())
	if err != nil {
		return err
	}
	s.writeCreated(w, r, pathOf("apps", out.App, "keys", out.ID), 0, keyCreated{Key: out, Secret: secret})
	return nil
}
