package chart

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// The files Static serves, by the names a page links them with.
const (
	Stylesheet = "chart.css" // <link rel="stylesheet" href="/static/chart/chart.css">
	Script     = "live.js"   // <script src="/static/chart/live.js" defer></script>
)

//go:embed static/chart.css static/live.js
var staticFS embed.FS

// Static serves chart.css and live.js, for mounting under a prefix that it does not
// strip itself:
//
//	mux.Handle("GET /static/chart/", http.StripPrefix("/static/chart/", chart.Static()))
//
// Responses carry a strong ETag and are cacheable for an hour (the files change only
// with the binary; an hour keeps a new release visible soon after a restart).
func Static() http.Handler {
	type file struct {
		body        []byte
		contentType string
		etag        string
	}
	files := map[string]file{}
	for name, ct := range map[string]string{
		Stylesheet: "text/css; charset=utf-8",
		Script:     "text/javascript; charset=utf-8",
	} {
		body, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			continue // cannot happen with go:embed; the file would just be a 404
		}
		sum := sha256.Sum256(body)
		files[name] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}
