package portal

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBranding(t *testing.T) {
	st := openStore(t)
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	home := "# Welcome to Acme\n\nRead the **docs**. <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n" +
		"[click](javascript:alert(1)) [ok](https://acme.example/) ![x](data:text/html,<b>)\n"
	h, err := New(Options{Store: st, GatewayURL: "http://gw.test", Brand: Branding{Name: "Acme <APIs>", Logo: svg, LogoType: "image/svg+xml",
		PrimaryColor: "#aa0000", AccentColor: "#0a0", Home: home}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServerWith(t, h)
	_, page := getPage(t, srv.URL+"/")
	mustContain(t, page, "<title>API catalogue · Acme &lt;APIs&gt;</title>", `<img class="brand-logo" src="/brand/logo"`,
		`<link rel="stylesheet" href="/brand/theme.css">`, "<h1>Welcome to Acme</h1>", "<strong>docs</strong>", `href="https://acme.example/"`)
	// Not assertInert: the home text may link elsewhere; what matters is that no markup
	// from the file survives and no dangerous URL does.
	mustNotContain(t, page, "<script>alert", "onerror", "javascript:alert", "data:text/html")
	// A search hides the home text.
	if _, page := getPage(t, srv.URL+"/?q=x"); strings.Contains(page, "Welcome to Acme") {
		t.Error("home text on a search result")
	}

	resp, err := http.Get(srv.URL + "/brand/theme.css")
	if err != nil {
		t.Fatal(err)
	}
	css, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(css), "--accent: #aa0000;") || !strings.Contains(string(css), "--focus: #0a0;") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("theme.css = %s (%s)", css, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(srv.URL + "/brand/logo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("logo served as %q with CSP %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}

	for _, bad := range []Branding{{PrimaryColor: "red; } body { display:none"}, {AccentColor: "#12345"}, {Logo: make([]byte, 2<<20)}} {
		if _, err := New(Options{Store: st, Brand: bad}); err == nil {
			t.Errorf("branding %+v accepted", bad.PrimaryColor+bad.AccentColor)
		}
	}
}

func FuzzMarkdown(f *testing.F) {
	f.Add("# hi\n<script>x</script>")
	f.Add("[a](javascript:alert(1))")
	f.Add("<img src=x onerror=y>")
	f.Add("```\n<script>\n```")
	f.Fuzz(func(t *testing.T, src string) {
		out, err := renderMarkdown(src)
		if err != nil {
			return
		}
		low := strings.ToLower(string(out))
		for _, bad := range []string{"<script", "<img src=x onerror", "href=\"javascript:", "<iframe"} {
			if strings.Contains(low, bad) {
				t.Fatalf("markdown %q rendered %q", src, out)
			}
		}
	})
}
