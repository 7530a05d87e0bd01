package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// genDocument returns an OpenAPI 3.1 JSON document with ops operations over ops/5
// resources, each with path and query parameters, a $ref'd request body, responses and
// examples: the size of a large real API.
func genDocument(ops int) string {
	resources := max(ops/5, 1)
	paths := map[string]any{}
	schemas := map[string]any{
		"Error": map[string]any{"type": "object", "required": []string{"code"}, "properties": map[string]any{
			"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}},
		"Page": map[string]any{"type": "object", "properties": map[string]any{
			"next": map[string]any{"type": "string", "format": "uri"}, "total": map[string]any{"type": "integer"}}},
	}
	n := 0
	for r := 0; r < resources && n < ops; r++ {
		name := fmt.Sprintf("Thing%d", r)
		schemas[name] = map[string]any{
			"type": "object", "required": []string{"id", "name"}, "description": "A thing of kind " + name + ".",
			"properties": map[string]any{
				"id":      map[string]any{"type": "string", "format": "uuid", "readOnly": true},
				"name":    map[string]any{"type": "string", "maxLength": 200, "description": "Its display name."},
				"status":  map[string]any{"type": "string", "enum": []string{"active", "paused", "closed"}},
				"created": map[string]any{"type": "string", "format": "date-time"},
				"tags":    map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				"parent":  map[string]any{"$ref": "#/components/schemas/" + name},
				"page":    map[string]any{"$ref": "#/components/schemas/Page"},
				"address": map[string]any{"type": "object", "properties": map[string]any{
					"line1": map[string]any{"type": "string"}, "city": map[string]any{"type": "string"}, "country": map[string]any{"type": "string", "minLength": 2, "maxLength": 2}}},
			},
		}
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		example := map[string]any{"id": "0b6c6a9e-2f5e-4f0e-9d55-3d8c6b3f1a10", "name": "Example " + name, "status": "active", "tags": []string{"a", "b"}}
		errResp := map[string]any{"description": "Error", "content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
		tag := fmt.Sprintf("group%d", r%10)
		op := func(method, summary string, body bool, status string) map[string]any {
			n++
			o := map[string]any{
				"tags": []string{tag}, "operationId": fmt.Sprintf("%s%s", method, name), "summary": summary,
				"description": "Does " + summary + ".\n\nSee the guide for details.",
				"parameters": []any{
					map[string]any{"name": "X-Request-Id", "in": "header", "schema": map[string]any{"type": "string"}, "description": "Correlation id"},
					map[string]any{"name": "fields", "in": "query", "schema": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}},
				},
				"responses": map[string]any{
					status: map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": ref, "example": example}}},
					"400":  errResp, "404": errResp,
				},
			}
			if body {
				o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref, "examples": map[string]any{"basic": map[string]any{"summary": "Basic", "value": example}}}}}
			}
			return o
		}
		base := "/" + strings.ToLower(name) + "s"
		idPath := base + "/{id}"
		paths[base] = map[string]any{"get": op("list", "list "+name, false, "200"), "post": op("create", "create "+name, true, "201")}
		paths[idPath] = map[string]any{
			"parameters": []any{map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string", "format": "uuid"}}},
			"get":        op("get", "get "+name, false, "200"), "put": op("put", "replace "+name, true, "200"), "delete": op("delete", "delete "+name, false, "204"),
		}
	}
	doc := map[string]any{
		"openapi": "3.1.0", "info": map[string]any{"title": "Generated", "version": "1.0.0", "description": "A generated API."},
		"paths": paths, "components": map[string]any{"schemas": schemas},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// benchHandler serves a SQLite store holding 1,000 served APIs (each with a small
// OpenAPI document and tags; 100 of them deprecated), 50 drafts, and 10,000 apps of 100
// developers (the pages never read apps: they make the database the size). One
// of the APIs, big-api, has a document of 200 operations.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	h, _ := benchStore(b, nil)
	return h
}

// benchStore seeds the store of benchHandler and builds the portal with mod applied to
// its options.
func benchStore(b *testing.B, mod func(*Options)) (http.Handler, gatehouse.Store) {
	b.Helper()
	st := openStore(b)
	ctx := context.Background()
	small := genDocument(5)
	start := time.Now()
	for i := range 1050 {
		a := &gatehouse.API{
			Name: fmt.Sprintf("api-%04d", i), Version: "1.0", Path: fmt.Sprintf("/api-%04d", i), Upstream: testUpstream,
			Description: fmt.Sprintf("API number %d: it does useful things.\n\nMore detail here.", i),
			Tags:        []string{fmt.Sprintf("team-%d", i%20), "public"}, OpenAPI: small, State: gatehouse.StatePublished,
		}
		switch {
		case i >= 1000:
			a.State = gatehouse.StateDraft
		case i%10 == 0:
			a.State = gatehouse.StateDeprecated
			sunset := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			a.Sunset = &sunset
		}
		if i == 1 {
			a.Name, a.OpenAPI = "big-api", genDocument(200)
		}
		if _, err := st.CreateAPI(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	for d := range 100 {
		email := fmt.Sprintf("dev%d@example.com", d)
		if _, err := st.CreateDeveloper(ctx, &gatehouse.Developer{Email: email, Name: "Dev"}); err != nil {
			b.Fatal(err)
		}
		for a := range 100 {
			if _, err := st.CreateApp(ctx, &gatehouse.App{Name: fmt.Sprintf("app-%d-%d", d, a), Developer: email}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("seeded the store in %v", time.Since(start).Round(time.Millisecond))
	o := Options{Store: st, GatewayURL: "https://gw.example.com"}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	return h, st
}

func benchGet(b *testing.B, h http.Handler, path string, cookies ...*http.Cookie) {
	b.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("GET %s: %d", path, w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkCatalogue1000 renders the catalogue of 1,000 APIs (900 published, 100
// deprecated) read from SQLite: the target is under 300 ms per page.
func BenchmarkCatalogue1000(b *testing.B) {
	h := benchHandler(b)
	b.Run("all", func(b *testing.B) { benchGet(b, h, "/") })
	b.Run("search", func(b *testing.B) { benchGet(b, h, "/?q=number+9&tag=public") })
}

// BenchmarkAPIPage renders the page of an API whose document has 200 operations, from
// reading the API to the last byte: the document is parsed on every render.
func BenchmarkAPIPage(b *testing.B) {
	benchGet(b, benchHandler(b), "/apis/big-api")
}

// BenchmarkSignedIn renders a signed-in developer's pages in the same store: the app list
// of a developer with 50 apps (the most an account may have) among 10,000, and an app's
// page with 5 keys, 2 subscriptions and usage charts over 24 hours of per-minute rollups.
func BenchmarkSignedIn(b *testing.B) {
	mem := analytics.NewMemoryStore()
	q := analytics.NewQuery(analytics.QueryOptions{Store: mem})
	sessions := session.NewMemory()
	h, st := benchStore(b, func(o *Options) { o.Sessions = sessions; o.Query = q })
	ctx := context.Background()
	email := "heavy@example.com"
	if _, err := st.CreateDeveloper(ctx, &gatehouse.Developer{Email: email}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreatePlan(ctx, &gatehouse.Plan{Name: "free", APIs: []string{"api-0002"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreatePlan(ctx, &gatehouse.Plan{Name: "gold", APIs: []string{"api-0003"}, Approval: gatehouse.ApprovalManual}); err != nil {
		b.Fatal(err)
	}
	for i := range maxAppsPerDeveloper {
		name := fmt.Sprintf("heavy-%02d", i)
		if _, err := st.CreateApp(ctx, &gatehouse.App{Name: name, Title: "Heavy app", Developer: email}); err != nil {
			b.Fatal(err)
		}
	}
	for range 5 {
		_, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
		if _, err := st.CreateKey(ctx, &gatehouse.Key{App: "heavy-00", Prefix: prefix, Hash: hash}); err != nil {
			b.Fatal(err)
		}
	}
	for _, plan := range []string{"free", "gold"} {
		if _, err := st.CreateSubscription(ctx, &gatehouse.Subscription{App: "heavy-00", Plan: plan}); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Minute)
	var rows []analytics.Rollup
	for m := range 24 * 60 {
		rows = append(rows, analytics.Rollup{Res: analytics.Minute, Start: now.Add(-time.Duration(m) * time.Minute), Node: "n1",
			Dims:  analytics.Dims{API: "api-0002", App: "heavy-00", Developer: email, Kind: analytics.KindRequest, StatusClass: 2},
			Count: 100, LatencySum: 100 * time.Millisecond})
	}
	if err := mem.WriteRollups(ctx, rows); err != nil {
		b.Fatal(err)
	}
	// A signed-in browser: the session row as the sign-in form would make it.
	token, _, id := gatehouse.NewSecret("s_")
	if err := sessions.CreateSession(ctx, &session.Session{ID: id, Kind: session.KindDeveloper, Subject: email, CSRF: "c",
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	cookie := &http.Cookie{Name: "gh_portal", Value: token}
	b.Run("apps", func(b *testing.B) { benchGet(b, h, "/apps", cookie) })
	b.Run("app", func(b *testing.B) { benchGet(b, h, "/apps/heavy-00", cookie) })
}
