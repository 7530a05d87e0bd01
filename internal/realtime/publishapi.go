package realtime

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// MaxPublishBody is the largest publish request body (Pushpin's
// push_in_http_max_body_size default).
const MaxPublishBody = 1_000_000

// Authenticator checks a publish request's credentials; nil error means allowed.
type Authenticator func(r *http.Request) error

// PublishHandler serves Pushpin's HTTP publish API: POST /publish (or /publish/) and
// POST /recover, with Pushpin's status codes and messages. Unlike Pushpin it requires
// authentication: auth (an admin token) or, when the node has a publish key, a JWT signed
// with it, as GRIP libraries send (Authorization: Bearer).
func (n *Node) PublishHandler(auth Authenticator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) { n.servePublish(w, r, auth) })
	mux.HandleFunc("/publish/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/publish/" {
			plain(w, http.StatusNotFound, "Not Found\n")
			return
		}
		n.servePublish(w, r, auth)
	})
	mux.HandleFunc("/recover", func(w http.ResponseWriter, r *http.Request) {
		if !n.allowed(w, r, auth) || !hasLength(w, r) {
			return
		}
		n.fanout.Recover()
		plain(w, http.StatusOK, "Updated\n")
	})
	return mux
}

// PublishListenerHandler is the dedicated publish listener's handler: the publish API plus
// Pushpin's "GET /" banner, and 404 for everything else.
func (n *Node) PublishListenerHandler(auth Authenticator) http.Handler {
	api := n.PublishHandler(auth)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			plain(w, http.StatusOK, "Gatehouse publish API (Pushpin-compatible)\n")
		case r.URL.Path == "/publish" || r.URL.Path == "/publish/" || r.URL.Path == "/recover":
			api.ServeHTTP(w, r)
		default:
			plain(w, http.StatusNotFound, "Not Found\n")
		}
	})
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// allowed checks method and credentials, answering the request when they fail.
func (n *Node) allowed(w http.ResponseWriter, r *http.Request, auth Authenticator) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		plain(w, http.StatusMethodNotAllowed, "Method not allowed: "+r.Method+".\n")
		return false
	}
	if n.publishKeyOK(r) {
		return true
	}
	if auth == nil {
		problem.Write(w, http.StatusUnauthorized, "unauthorized", "publishing needs credentials, and this listener accepts none")
		return false
	}
	if err := auth(r); err != nil {
		status, code := http.StatusUnauthorized, "unauthorized"
		if gatehouse.ErrorCode(err) == gatehouse.EForbidden {
			status, code = http.StatusForbidden, "forbidden"
		}
		problem.Write(w, status, code, "publishing needs an admin token or a JWT signed with realtime.publish_key: "+err.Error())
		return false
	}
	return true
}

// publishKeyOK accepts an HS256 JWT signed with the node's publish key, as GRIP libraries
// send it (Authorization: Bearer <token>; exp required).
func (n *Node) publishKeyOK(r *http.Request) bool {
	if len(n.publishKey) == 0 {
		return false
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.Count(tok, ".") != 2 {
		return false
	}
	return grip.Verify(strings.TrimSpace(tok), n.publishKey, n.publishIss, time.Now(), 30*time.Second) == nil
}

func (n *Node) servePublish(w http.ResponseWriter, r *http.Request, auth Authenticator) {
	if !n.allowed(w, r, auth) {
		return
	}
	useJSON, ok := publish.Negotiate(r.Header.Values("Accept"))
	if !ok {
		plain(w, http.StatusNotAcceptable, publish.NotAcceptable)
		return
	}
	if !hasLength(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPublishBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			plain(w, http.StatusRequestEntityTooLarge, "Request too large.\n")
			return
		}
		plain(w, http.StatusBadRequest, "Failed to read the request body.\n")
		return
	}
	items, err := publish.Parse(body, publish.Options{})
	if err != nil {
		var pe *publish.Error
		if errors.As(err, &pe) {
			plain(w, pe.Status, pe.Body())
			return
		}
		plain(w, http.StatusBadRequest, "Invalid format.\n")
		return
	}
	if err := n.fanout.Publish(r.Context(), items); err != nil {
		n.log.Error("publish failed", "items", len(items), "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "broker_unavailable", "the realtime broker did not take the items: "+err.Error())
		return
	}
	if useJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, publish.PublishedJSON)
		return
	}
	plain(w, http.StatusOK, publish.PublishedText)
}

// hasLength answers 411 to a POST with no body framing, as Pushpin does.
func hasLength(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Content-Length") == "" && len(r.TransferEncoding) == 0 {
		plain(w, http.StatusLengthRequired, "Request requires Content-Length.\n")
		return false
	}
	return true
}
