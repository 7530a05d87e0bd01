package openapivalidate

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmarks measure the policy.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchChain(b *testing.B, doc, cfg string) http.Handler {
	b.Helper()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":42,"note":null}`))
	})
	spec := gatehouse.PolicySpec{Type: Type.Name}
	if cfg != "" {
		spec.Config = []byte(cfg)
	}
	h, err := policytest.Build(b, policy.NewRegistry(Type), &policy.Env{API: shopAPI(readDoc(b, doc))}, []gatehouse.PolicySpec{spec}, nil, ok)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func benchGET(b *testing.B, doc, cfg, target string, hdr map[string]string) {
	h := benchChain(b, doc, cfg)
	r, _ := http.NewRequest("GET", "http://gw.example"+target, http.NoBody)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func benchPOST(b *testing.B, doc, cfg string) {
	h := benchChain(b, doc, cfg)
	body := []byte(goodOrder)
	r, _ := http.NewRequest("POST", "http://gw.example/shop/orders", nil)
	r.Header.Set("Content-Type", "application/json")
	rd := bytes.NewReader(body)
	rc := io.NopCloser(rd)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		// The policy replaces the body (it buffers it): give each round the original.
		rd.Reset(body)
		r.Body, r.GetBody, r.ContentLength = rc, nil, int64(len(body))
		h.ServeHTTP(w, r)
	}
}

// BenchmarkGET: a path parameter (/orders/{id}), or a query and a header parameter.
func BenchmarkGET(b *testing.B) {
	for _, d := range docs {
		b.Run(d.name+"/path", func(b *testing.B) { benchGET(b, d.file, "", "/shop/orders/42", nil) })
		b.Run(d.name+"/query+header", func(b *testing.B) {
			benchGET(b, d.file, "", "/shop/orders?limit=10", map[string]string{"X-Tenant": "acme"})
		})
	}
}

// BenchmarkPOST: a small JSON body (two array items) checked against a $ref'd schema.
func BenchmarkPOST(b *testing.B) {
	for _, d := range docs {
		b.Run(d.name, func(b *testing.B) { benchPOST(b, d.file, "") })
	}
}

// BenchmarkReport: a GET whose JSON response is checked too.
func BenchmarkReport(b *testing.B) {
	for _, d := range docs {
		b.Run(d.name, func(b *testing.B) { benchGET(b, d.file, `{"response":"report"}`, "/shop/orders/42", nil) })
	}
}

// BenchmarkRejected: a query parameter over its maximum, rejected with a detail.
func BenchmarkRejected(b *testing.B) {
	benchGET(b, docs[1].file, "", "/shop/orders?limit=1000", map[string]string{"X-Tenant": "acme"})
}
