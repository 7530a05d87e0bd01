package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

type apiRow struct {
	*gatehouse.API
	Routes      int
	FromOpenAPI bool // routes come from the attached OpenAPI document
}

type apisData struct {
	Items      []apiRow
	State      string
	Pager      pager
	GatewayURL string
}

func (s *server) apis(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	state := gatehouse.APIState(q.Get("state"))
	if state != "" && !state.Valid() {
		return invalid("state", "must be draft, published, deprecated or retired")
	}
	pg, err := s.o.Store.APIs(r.Context(), gatehouse.APIFilter{State: state,
		ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	d := apisData{State: string(state), Pager: pageLinks("/ui/apis", q, pg.Next), GatewayURL: s.o.GatewayURL}
	for _, a := range pg.Items {
		d.Items = append(d.Items, apiRow{API: a, Routes: len(a.Routes), FromOpenAPI: len(a.Routes) == 0 && a.OpenAPI != ""})
	}
	s.show(w, r, c, "apis.html", "APIs", "apis", d)
	return nil
}

// checkAPI normalizes and validates a as the admin API does, then asks the gateway
// whether it compiles (when a is valid on its own and CheckAPI is set).
func (s *server) checkAPI(a *gatehouse.API) error {
	a.Normalize()
	var p gatehouse.Problems
	p.Merge("", a.Validate())
	if msg := gatehouse.OpenAPIHeadProblem(a.OpenAPI); msg != "" {
		p.Addf("openapi", "%s", msg)
	}
	if err := p.Err("api"); err != nil || s.o.CheckAPI == nil {
		return err
	}
	return s.o.CheckAPI(a)
}

// decodeJSON reads one JSON value from text into v, refusing unknown fields so that a
// typo is an error rather than a silently ignored setting.
func decodeJSON(text string, v any) error {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg = fmt.Sprintf("%s (at byte %d)", msg, se.Offset)
		}
		return invalid("json", "is not valid: "+msg)
	}
	if dec.More() {
		return invalid("json", "holds more than one JSON value")
	}
	return nil
}

// apiForm is the create form, as typed.
type apiForm struct {
	Mode        string // "form" or "json"
	Name        string
	Version     string
	Description string
	Path        string
	Upstreams   string // one URL per line
	Hosts       string // separated by spaces or commas
	JSON        string
	Err         *formErr
}

const apiTemplate = `{
  "name": "orders",
  "version": "1.0",
  "description": "",
  "state": "draft",
  "path": "/orders",
  "upstream": {"targets": [{"url": "https://orders.internal:8443"}]},
  "policies": [{"type": "key-auth"}]
}`

func (s *server) newAPIPage(w http.ResponseWriter, r *http.Request, c *call) error {
	s.show(w, r, c, "api_new.html", "New API", "apis", apiForm{Mode: "form", Path: "/", JSON: apiTemplate})
	return nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (s *server) createAPI(w http.ResponseWriter, r *http.Request, c *call) error {
	f := apiForm{
		Mode: r.PostFormValue("mode"), Name: strings.TrimSpace(r.PostFormValue("name")),
		Version: strings.TrimSpace(r.PostFormValue("version")), Description: r.PostFormValue("description"),
		Path: strings.TrimSpace(r.PostFormValue("path")), Upstreams: r.PostFormValue("upstreams"),
		Hosts: r.PostFormValue("hosts"), JSON: r.PostFormValue("json"),
	}
	a := &gatehouse.API{}
	var err error
	if f.Mode == "json" {
		err = decodeJSON(f.JSON, a)
		a.Meta = gatehouse.Meta{}
	} else {
		f.Mode = "form"
		if f.JSON == "" {
			f.JSON = apiTemplate
		}
		a.Name, a.Version, a.Description, a.Path = f.Name, f.Version, f.Description, f.Path
		a.State = gatehouse.StateDraft
		a.Hosts = splitList(f.Hosts)
		for _, u := range splitList(f.Upstreams) {
			a.Upstream.Targets = append(a.Upstream.Targets, gatehouse.Target{URL: u})
		}
	}
	if err == nil {
		err = s.checkAPI(a)
	}
	if err == nil {
		_, err = s.o.Store.CreateAPI(r.Context(), a)
	}
	if err != nil {
		if f.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "api_new.html", "New API", "apis", f)
		return nil
	}
	redirect(w, r, "/ui/apis/"+pathEscape(a.Name), "created")
	return nil
}

type apiPageData struct {
	API         *gatehouse.API
	Revision    int64
	JSON        string // the API as JSON, without its OpenAPI document
	OpenAPISize int
	Plans       []*gatehouse.Plan
	MorePlans   bool
	Gateway     *gatehouse.APIStatus // nil when the gateway does not serve it (or is not known)
	GatewayRev  int64
	GatewayErr  string
	GatewayKnow bool
	URL         string // where the gateway serves it
	Err         *formErr
}

func (s *server) apiPage(w http.ResponseWriter, r *http.Request, c *call) error {
	a, err := s.o.Store.API(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	d, err := s.apiData(r, a)
	if err != nil {
		return err
	}
	s.show(w, r, c, "api.html", "API "+a.Name, "apis", d)
	return nil
}

func (s *server) apiData(r *http.Request, a *gatehouse.API) (*apiPageData, error) {
	d := &apiPageData{API: a, Revision: a.Revision, OpenAPISize: len(a.OpenAPI), URL: s.o.GatewayURL + a.Path}
	shown := a.Clone()
	shown.OpenAPI = ""
	shown.Meta = gatehouse.Meta{}
	d.JSON = indentJSON(shown)
	plans, err := s.o.Store.Plans(r.Context(), gatehouse.PlanFilter{API: a.Name, ListOptions: gatehouse.ListOptions{Limit: 100}})
	if err != nil {
		return nil, err
	}
	d.Plans, d.MorePlans = plans.Items, plans.Next != ""
	if s.o.Gateway != nil {
		if st := s.o.Gateway(); st != nil {
			d.GatewayKnow, d.GatewayRev, d.GatewayErr = true, st.Revision, st.Error
			for i := range st.APIs {
				if st.APIs[i].Name == a.Name {
					d.Gateway = &st.APIs[i]
				}
			}
		}
	}
	return d, nil
}

// renderAPIError shows the API page again with err next to its forms, keeping the
// JSON the operator typed (when given).
func (s *server) renderAPIError(w http.ResponseWriter, r *http.Request, c *call, name, typed string, err error) error {
	fe, err := toFormErr(err)
	if err != nil {
		return err
	}
	a, gerr := s.o.Store.API(r.Context(), name)
	if gerr != nil {
		return gerr
	}
	d, gerr := s.apiData(r, a)
	if gerr != nil {
		return gerr
	}
	d.Err = fe
	if typed != "" {
		d.JSON = typed
		d.Revision = revision(r.PostFormValue("revision"))
	}
	s.showStatus(w, r, c, http.StatusUnprocessableEntity, "api.html", "API "+a.Name, "apis", d)
	return nil
}

// updateAPI replaces an API with the JSON of the edit form. The revision the form was
// loaded at guards against overwriting someone else's change; a JSON without "openapi"
// keeps the attached document (the form leaves it out, it can be megabytes).
func (s *server) updateAPI(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	text := r.PostFormValue("json")
	rev := revision(r.PostFormValue("revision"))
	a := &gatehouse.API{}
	err := decodeJSON(text, a)
	if err == nil && a.Name != "" && a.Name != name {
		err = invalid("name", "names cannot change; create a new API instead")
	}
	if err == nil {
		a.Name = name
		a.Meta = gatehouse.Meta{}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal([]byte(text), &keys)
		if _, ok := keys["openapi"]; !ok {
			cur, gerr := s.o.Store.API(r.Context(), name)
			if gerr != nil {
				return gerr
			}
			a.OpenAPI = cur.OpenAPI
		}
		err = s.checkAPI(a)
	}
	if err == nil {
		_, err = s.o.Store.UpdateAPI(r.Context(), a, rev)
	}
	if err != nil {
		return s.renderAPIError(w, r, c, name, text, err)
	}
	redirect(w, r, "/ui/apis/"+pathEscape(name), "saved")
	return nil
}

func (s *server) setAPIState(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	state := gatehouse.APIState(r.PostFormValue("state"))
	a, err := s.o.Store.API(r.Context(), name)
	if err != nil {
		return err
	}
	if !state.Valid() {
		return s.renderAPIError(w, r, c, name, "", invalid("state", "must be draft, published, deprecated or retired"))
	}
	a.State = state
	err = s.checkAPI(a)
	if err == nil {
		_, err = s.o.Store.UpdateAPI(r.Context(), a, revision(r.PostFormValue("revision")))
	}
	if err != nil {
		return s.renderAPIError(w, r, c, name, "", err)
	}
	redirect(w, r, "/ui/apis/"+pathEscape(name), "state")
	return nil
}

func (s *server) deleteAPI(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	if err := s.o.Store.DeleteAPI(r.Context(), name, revision(r.PostFormValue("revision"))); err != nil {
		return s.renderAPIError(w, r, c, name, "", err)
	}
	redirect(w, r, "/ui/apis", "deleted")
	return nil
}

// The OpenAPI import: a document uploaded or fetched by URL, attached to an existing API
// or to a new draft one.

type importForm struct {
	API      string // name of the API to attach to, or to create
	Path     string // for a new API
	Upstream string // for a new API
	URL      string
	Revision int64
	Exists   bool // API names an existing API (set by the page from ?api=)
	Err      *formErr
}

func (s *server) importPage(w http.ResponseWriter, r *http.Request, c *call) error {
	f := importForm{API: r.URL.Query().Get("api"), Path: "/"}
	if f.API != "" {
		a, err := s.o.Store.API(r.Context(), f.API)
		if err != nil {
			return err
		}
		f.Exists, f.Revision, f.Path = true, a.Revision, a.Path
	}
	s.show(w, r, c, "api_import.html", "Import OpenAPI", "apis", f)
	return nil
}

// maxImportBytes caps a fetched or uploaded document; the API itself takes at most
// gatehouse.MaxOpenAPIBytes, which validation reports.
const maxImportBytes = 5 << 20

func (s *server) importOpenAPI(w http.ResponseWriter, r *http.Request, c *call) error {
	f := importForm{
		API: strings.TrimSpace(r.PostFormValue("api")), Path: strings.TrimSpace(r.PostFormValue("path")),
		Upstream: strings.TrimSpace(r.PostFormValue("upstream")), URL: strings.TrimSpace(r.PostFormValue("url")),
		Revision: revision(r.PostFormValue("revision")),
	}
	fail := func(err error) error {
		if f.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "api_import.html", "Import OpenAPI", "apis", f)
		return nil
	}
	if f.API == "" {
		return fail(invalid("api", "name the API to attach the document to, or a new one"))
	}
	doc, err := s.readDocument(r, f.URL)
	if err != nil {
		return fail(err)
	}
	info, err := openAPIInfo(doc)
	if err != nil {
		return fail(err)
	}
	a, err := s.o.Store.API(r.Context(), f.API)
	switch gatehouse.ErrorCode(err) {
	case "":
		f.Exists = true
		a.OpenAPI = string(doc)
		if err = s.checkAPI(a); err == nil {
			_, err = s.o.Store.UpdateAPI(r.Context(), a, f.Revision)
		}
	case gatehouse.ENotFound:
		a = &gatehouse.API{Name: f.API, Path: f.Path, State: gatehouse.StateDraft, OpenAPI: string(doc),
			Version: info.Version, Description: info.Description}
		if len(a.Version) > 64 {
			a.Version = ""
		}
		if len(a.Description) > 4096 {
			a.Description = a.Description[:4093] + "..."
		}
		if f.Upstream != "" {
			a.Upstream.Targets = []gatehouse.Target{{URL: f.Upstream}}
		}
		if err = s.checkAPI(a); err == nil {
			_, err = s.o.Store.CreateAPI(r.Context(), a)
		}
	}
	if err != nil {
		return fail(err)
	}
	redirect(w, r, "/ui/apis/"+pathEscape(a.Name), "imported")
	return nil
}

// readDocument returns the uploaded file, or the document at url, at most
// maxImportBytes.
func (s *server) readDocument(r *http.Request, url string) ([]byte, error) {
	file, hdr, err := r.FormFile("file")
	if err == nil {
		defer file.Close()
		if hdr.Size > 0 || url == "" {
			return readCapped(file, "file")
		}
	}
	if url == "" {
		return nil, invalid("file", "choose a file or give a URL")
	}
	return s.fetchDocument(r, url)
}

func readCapped(rd io.Reader, field string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, maxImportBytes+1))
	if err != nil {
		return nil, invalid(field, "could not be read: "+err.Error())
	}
	if len(b) > maxImportBytes {
		return nil, invalid(field, fmt.Sprintf("is larger than %d MB", maxImportBytes>>20))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, invalid(field, "is empty")
	}
	return b, nil
}
