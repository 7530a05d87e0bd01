package clienttest

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// fakeUser is an admin user of the fake: the password is kept only to check it was sent.
type fakeUser struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	password  string
}

// userRoutes serves admin users and reset links as the admin API does.
func (s *Server) userRoutes(mux *http.ServeMux) {
	users := map[string]*fakeUser{}
	type body struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	mux.HandleFunc("GET /v1/admin-users", func(w http.ResponseWriter, r *http.Request) {
		out := []*fakeUser{}
		for _, u := range users {
			out = append(out, u)
		}
		slices.SortFunc(out, func(a, b *fakeUser) int { return cmp.Compare(a.Name, b.Name) })
		writeJSON(w, http.StatusOK, gatehouse.Page[*fakeUser]{Items: out})
	})
	mux.HandleFunc("POST /v1/admin-users", func(w http.ResponseWriter, r *http.Request) {
		var b body
		if err := decode(r, &b); err != nil {
			writeProblem(w, err)
			return
		}
		var p gatehouse.Problems
		if !gatehouse.ValidName(b.Name) {
			p.Addf("name", "must be 1-64 letters, digits, '.', '_' or '-'")
		}
		if !gatehouse.ValidRole(b.Role) {
			p.Addf("role", "must be admin, editor or viewer")
		}
		if len(b.Password) < 10 {
			p.Addf("password", "must be at least 10 characters")
		}
		if err := p.Err("admin user"); err != nil {
			writeProblem(w, err)
			return
		}
		if users[b.Name] != nil {
			writeProblem(w, gatehouse.Errorf(gatehouse.EConflict, "admin user %q already exists", b.Name))
			return
		}
		u := &fakeUser{Name: b.Name, Role: b.Role, CreatedAt: s.now, UpdatedAt: s.now, password: b.Password}
		users[b.Name] = u
		writeJSON(w, http.StatusCreated, u)
	})
	mux.HandleFunc("PUT /v1/admin-users/{name}", func(w http.ResponseWriter, r *http.Request) {
		u := users[r.PathValue("name")]
		if u == nil {
			writeProblem(w, gatehouse.Errorf(gatehouse.ENotFound, "admin user %q not found", r.PathValue("name")))
			return
		}
		var b body
		if err := decode(r, &b); err != nil {
			writeProblem(w, err)
			return
		}
		if b.Role != "" {
			u.Role = b.Role
		}
		if b.Password != "" {
			u.password = b.Password
		}
		u.UpdatedAt = s.now
		writeJSON(w, http.StatusOK, u)
	})
	mux.HandleFunc("DELETE /v1/admin-users/{name}", func(w http.ResponseWriter, r *http.Request) {
		if users[r.PathValue("name")] == nil {
			writeProblem(w, gatehouse.Errorf(gatehouse.ENotFound, "admin user %q not found", r.PathValue("name")))
			return
		}
		delete(users, r.PathValue("name"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/developers/{email}/reset-link", func(w http.ResponseWriter, r *http.Request) {
		email := gatehouse.NormalizeEmail(r.PathValue("email"))
		if _, ok := s.developers.items[email]; !ok {
			writeProblem(w, gatehouse.Errorf(gatehouse.ENotFound, "developer %q not found", email))
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"url": "http://portal.test/reset?token=" + url.QueryEscape("r_"+s.nextID("t")),
			"expires_at": s.now.Add(time.Hour)})
	})
}
