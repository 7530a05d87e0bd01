package dashboard

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

type developersData struct {
	Items    []*gatehouse.Developer
	Status   string
	Pager    pager
	Resets   []*session.Session // developers who asked for a reset link (Subject: email)
	Back     string             // this page, for the action forms to return to
	Statuses []string
}

func (s *server) developers(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && !gatehouse.ValidDeveloperStatus(status) {
		return invalid("status", "must be active, pending or blocked")
	}
	pg, err := s.o.Store.Developers(r.Context(), gatehouse.DeveloperFilter{Status: status,
		ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	resets, err := s.o.Sessions.Sessions(r.Context(), session.KindResetRequest, 100)
	if err != nil {
		return err
	}
	title := "Developers"
	if status == gatehouse.DeveloperPending {
		title = "Developers awaiting approval"
	}
	s.show(w, r, c, "developers.html", title, "developers", developersData{
		Items: pg.Items, Status: status, Pager: pageLinks("/ui/developers", q, pg.Next), Resets: resets,
		Back:     r.URL.RequestURI(),
		Statuses: []string{gatehouse.DeveloperPending, gatehouse.DeveloperActive, gatehouse.DeveloperBlocked},
	})
	return nil
}

type developerData struct {
	Dev   *gatehouse.Developer
	Apps  []*gatehouse.App
	More  bool
	Back  string
	Reset bool // the developer asked for a reset link
}

func (s *server) developerPage(w http.ResponseWriter, r *http.Request, c *call) error {
	dev, err := s.o.Store.Developer(r.Context(), r.PathValue("email"))
	if err != nil {
		return err
	}
	apps, err := s.o.Store.Apps(r.Context(), gatehouse.AppFilter{Developer: dev.Email, ListOptions: gatehouse.ListOptions{Limit: 100}})
	if err != nil {
		return err
	}
	s.show(w, r, c, "developer.html", "Developer "+dev.Email, "developers",
		developerData{Dev: dev, Apps: apps.Items, More: apps.Next != "", Back: r.URL.Path})
	return nil
}

// developerActions are the status changes the dashboard offers: the form's action, the
// status it sets and the flash after it.
var developerActions = map[string]struct{ status, flash string }{
	"approve": {gatehouse.DeveloperActive, "approved"},
	"reject":  {gatehouse.DeveloperBlocked, "rejected"},
	"block":   {gatehouse.DeveloperBlocked, "blocked"},
	"unblock": {gatehouse.DeveloperActive, "unblocked"},
}

func (s *server) setDeveloperStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	act, ok := developerActions[r.PostFormValue("action")]
	if !ok {
		return invalid("action", "must be approve, reject, block or unblock")
	}
	dev, err := s.o.Store.Developer(r.Context(), r.PathValue("email"))
	if err != nil {
		return err
	}
	dev.Status = act.status
	if _, err := s.o.Store.UpdateDeveloper(r.Context(), dev, revision(r.PostFormValue("revision"))); err != nil {
		return err
	}
	back := safeNext(r.PostFormValue("back"))
	if back == basePath {
		back = "/ui/developers/" + pathEscape(dev.Email)
	}
	redirect(w, r, back, act.flash)
	return nil
}

type resetData struct {
	Email string
	Link  string
}

// resetLink makes a single-use password reset link for a developer and shows it once:
// only its hash is stored, so the page is the only place it ever appears.
func (s *server) resetLink(w http.ResponseWriter, r *http.Request, c *call) error {
	dev, err := s.o.Store.Developer(r.Context(), r.PathValue("email"))
	if err != nil {
		return err
	}
	token, err := session.NewReset(r.Context(), s.o.Sessions, dev.Email, s.o.Now())
	if err != nil {
		return err
	}
	s.log.Info("dashboard: password reset link made", "developer", dev.Email, "actor", c.sess.Subject)
	// The request is answered: it leaves the queue.
	if err := s.o.Sessions.DeleteSessions(r.Context(), session.KindResetRequest, dev.Email); err != nil {
		s.log.Warn("dashboard: clearing a reset request", "developer", dev.Email, "err", err)
	}
	link := s.o.PortalURL + "/reset?token=" + url.QueryEscape(token)
	s.show(w, r, c, "reset_link.html", "Password reset link", "developers", resetData{Email: dev.Email, Link: link})
	return nil
}
