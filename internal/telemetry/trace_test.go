package telemetry

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	validTP  = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanHex  = "00f067aa0ba902b7"
)

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ok    bool
		flags byte
	}{
		{validTP, true, 1},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", true, 9}, // unknown flags kept on parse
		// future versions: longer, with a dash after the flags; or exactly 55
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, 1},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like", true, 1},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what", false, 0},
		// version 00 must be exactly 55 characters
		{validTP + "-extra", false, 0},
		{validTP + " ", false, 0},
		{validTP[:54], false, 0},
		{"", false, 0},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, 0},
		{"0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, 0},
		// uppercase hex anywhere
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", false, 0},
		{"0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, 0},
		// all-zero ids
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, 0},
		// wrong lengths and separators
		{"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701", false, 0},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false, 0},
	} {
		got, ok := ParseTraceparent(tc.in)
		if ok != tc.ok {
			t.Errorf("%q: ok=%v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if got.Flags != tc.flags || got.TraceIDString() != traceHex || !got.IsValid() {
			t.Errorf("%q: %+v", tc.in, got)
		}
		if tc.in[:2] == "00" && tc.flags < 2 && got.Format() != tc.in {
			t.Errorf("round trip %q -> %q", tc.in, got.Format())
		}
	}
}

func TestTraceContextChild(t *testing.T) {
	p, _ := ParseTraceparent(validTP)
	c := p.Child()
	if c.TraceID != p.TraceID || c.Flags != p.Flags || c.SpanID == p.SpanID || !c.IsValid() {
		t.Errorf("child %+v of %+v", c, p)
	}
	n := NewTraceContext()
	if !n.IsValid() || n.Sampled() {
		t.Errorf("new %+v", n)
	}
	if back, ok := ParseTraceparent(n.Format()); !ok || back != n {
		t.Errorf("new context does not round trip: %q", n.Format())
	}
}

func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{validTP, "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "", "ff-" + traceHex + "-" + spanHex + "-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tc, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if !tc.IsValid() {
			t.Fatalf("accepted zero id: %q", s)
		}
		// Whatever was accepted re-parses to the same context once formatted as version 00.
		out := tc.Format()
		if len(out) != 55 || strings.ToLower(out) != out {
			t.Fatalf("format %q", out)
		}
		back, ok := ParseTraceparent(out)
		if !ok || back != tc {
			t.Fatalf("%q -> %q does not round trip", s, out)
		}
		if s[:2] == "00" && out != s {
			t.Fatalf("version 00 %q formatted as %q", s, out)
		}
	})
}

func TestTracerContinuesTrace(t *testing.T) {
	tr := NewTracer(TracerOptions{})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Traceparent", validTP)
	r.Header.Set("Tracestate", "congo=t61rcWkgMzE")
	out := http.Header{}
	sp := tr.Start(r, out)
	defer sp.End(200)
	if sp.TraceID() != traceHex {
		t.Errorf("trace id %q", sp.TraceID())
	}
	tp := out.Get("traceparent")
	got, ok := ParseTraceparent(tp)
	if !ok || got.TraceIDString() != traceHex || got.SpanID == [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7} || !got.Sampled() {
		t.Errorf("outgoing traceparent %q", tp)
	}
	if p, ok := sp.Parent(); !ok || string(appendHex(nil, p[:])) != spanHex {
		t.Errorf("parent %x", p)
	}
	if out.Get("tracestate") != "congo=t61rcWkgMzE" {
		t.Errorf("tracestate %q", out.Get("tracestate"))
	}
	if sp.Traceparent() != tp || sp.Recording() {
		t.Errorf("span %q recording=%v", sp.Traceparent(), sp.Recording())
	}

	// Injecting into the incoming headers (what the proxy copies) replaces the caller's.
	sp2 := tr.Start(r, r.Header)
	if r.Header.Get("Traceparent") != sp2.Traceparent() || r.Header.Get("Tracestate") != "congo=t61rcWkgMzE" {
		t.Errorf("in-place: %v", r.Header)
	}
}

func TestTracerStartsNewTrace(t *testing.T) {
	var tr *Tracer // nil works
	for name, hdr := range map[string][]string{
		"none":     nil,
		"invalid":  {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"},
		"multiple": {validTP, validTP},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		if hdr != nil {
			r.Header["Traceparent"] = hdr
		}
		r.Header.Set("Tracestate", "a=b")
		out := r.Header.Clone()
		sp := tr.Start(r, out)
		sp.End(500)
		got, ok := ParseTraceparent(out.Get("Traceparent"))
		if !ok || got.TraceIDString() == traceHex || got.Sampled() || len(out["Traceparent"]) != 1 {
			t.Errorf("%s: outgoing %v", name, out["Traceparent"])
		}
		if _, ok := sp.Parent(); ok {
			t.Errorf("%s: has a parent", name)
		}
		if _, ok := out["Tracestate"]; ok {
			t.Errorf("%s: tracestate of another trace passed on", name)
		}
		if len(sp.TraceID()) != 32 || sp.TraceID() != got.TraceIDString() {
			t.Errorf("%s: trace id %q", name, sp.TraceID())
		}
	}
}

func TestTracerSampling(t *testing.T) {
	exp, err := NewExporter(ExporterOptions{URL: "http://127.0.0.1:1", QueueSize: 1 << 16, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close(t.Context())
	count := func(opts TracerOptions, parent string) (recorded int) {
		tr := NewTracer(opts)
		for range 2000 {
			r := httptest.NewRequest("GET", "/", nil)
			if parent != "" {
				r.Header.Set("Traceparent", NewTraceContext().Child().Format()[:53]+parent)
			}
			sp := tr.Start(r, nil)
			if sp.Recording() {
				recorded++
				if !sp.Context().Sampled() {
					t.Fatal("recorded span not flagged sampled")
				}
			}
		}
		return recorded
	}
	if n := count(TracerOptions{SampleRatio: 1}, ""); n != 0 {
		t.Errorf("no exporter: %d recorded", n)
	}
	if n := count(TracerOptions{Exporter: exp}, "01"); n != 0 {
		t.Errorf("ratio 0: %d recorded", n)
	}
	if n := count(TracerOptions{Exporter: exp, SampleRatio: 1}, ""); n != 2000 {
		t.Errorf("ratio 1: %d recorded", n)
	}
	if n := count(TracerOptions{Exporter: exp, SampleRatio: 0.25}, ""); n < 400 || n > 600 {
		t.Errorf("ratio 0.25: %d of 2000 recorded", n)
	}
	if n := count(TracerOptions{Exporter: exp, ParentBased: true}, "01"); n != 2000 {
		t.Errorf("parent based, sampled parent: %d recorded", n)
	}
	if n := count(TracerOptions{Exporter: exp, ParentBased: true}, "00"); n != 0 {
		t.Errorf("parent based, unsampled parent: %d recorded", n)
	}
	// The decision is the trace id's: the same trace is sampled the same way every time.
	tr := NewTracer(TracerOptions{Exporter: exp, SampleRatio: 0.5})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Traceparent", validTP)
	first := tr.Start(r, nil).Recording()
	for range 10 {
		if tr.Start(r, nil).Recording() != first {
			t.Fatal("sampling is not deterministic per trace id")
		}
	}
}
