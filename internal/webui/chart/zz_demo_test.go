package chart

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestZZDemo(t *testing.T) {
	addr := os.Getenv("CHART_DEMO")
	if addr == "" {
		t.Skip()
	}
	mux := http.NewServeMux()
	mux.Handle("/static/chart/", http.StripPrefix("/static/chart/", Static()))
	n := 1440
	c := Chart{Title: "Traffic </svg><script>alert(1)</script>", Unit: "req", Times: times(t0, time.Minute, n)}
	for s, name := range []string{"requests", "errors", "rejected"} {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = (1000 + 400*math.Sin(float64(i)/90+float64(s))) / float64(1+3*s)
			if i%197 < 10 && s == 1 {
				vs[i] = math.NaN()
			}
		}
		c.Series = append(c.Series, Series{Name: name, Values: vs})
	}
	var many []Series
	for i := range 8 {
		many = append(many, Series{Name: fmt.Sprint("api-", i), Values: []float64{float64(i), float64(i * 2), math.NaN(), float64(i * 3), float64(10 - i), 5}})
	}
	page := template.Must(template.New("p").Parse(`<!doctype html><html data-chart-scheme="{{.Scheme}}"><head><meta charset="utf-8"><title>demo</title>
<link rel="stylesheet" href="/static/chart/chart.css"><script src="/static/chart/live.js" defer></script></head>
<body style="font-family:sans-serif;max-width:820px;margin:1rem auto;{{.BodyStyle}}">{{.A}}{{.B}}{{.C}}{{.D}}{{.E}}</body></html>`))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'")
		scheme := r.URL.Query().Get("scheme")
		_ = page.Execute(w, map[string]any{
			"Scheme": scheme,
			"A":      Line(c),
			"B":      Line(Chart{Title: "Many series over a week", Unit: "%", Times: times(t0, 24*time.Hour, 6), Series: many, Height: 200}),
			"C":      Line(Chart{Title: "Empty", Times: times(t0, time.Hour, 4), Series: []Series{{Name: "x", Values: []float64{nan, nan}}}}),
			"D":      Line(Chart{Title: "One point", Times: times(t0, time.Hour, 1), Series: []Series{{Name: "x", Values: []float64{3.4e6}}}}),
			"E":      LiveFigure("live", "Live traffic", "/sse", liveFields),
		})
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		start := time.Now().Add(-40 * time.Second).Truncate(time.Second)
		for i := 0; i < 40; i++ {
			fmt.Fprintf(w, "event: second\ndata: {\"time\":%q,\"count\":%d,\"errors\":%d,\"totals\":{\"p99_ms\":%.1f}}\n\n",
				start.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339), 100+i*5, i%7, 40+10*math.Sin(float64(i)/5))
		}
		fl.Flush()
		<-r.Context().Done()
	})
	_ = http.ListenAndServe(addr, mux)
}
