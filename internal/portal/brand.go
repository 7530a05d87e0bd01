package portal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"regexp"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// Branding is how the portal presents itself, from the portal.* settings.
type Branding struct {
	Name string // default "Gatehouse developer portal"
	// Logo is the image's bytes and LogoType its media type (image/png, image/svg+xml...).
	Logo     []byte
	LogoType string
	// PrimaryColor and AccentColor are #rgb or #rrggbb; empty keeps the defaults.
	PrimaryColor, AccentColor string
	// Home is Markdown shown above the catalogue.
	Home string
}

// brand is Branding prepared once: the theme stylesheet and the home page's HTML.
type brand struct {
	name             string
	logo             []byte
	logoType         string
	css              string        // served as /brand/theme.css; empty when no colour is set
	home             template.HTML // rendered, sanitised Markdown
	logoETag, cssTag string
}

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// maxLogo bounds the logo file.
const maxLogo = 1 << 20

func newBrand(b Branding) (brand, error) {
	out := brand{name: b.Name, logo: b.Logo, logoType: b.LogoType}
	if out.name == "" {
		out.name = "Gatehouse developer portal"
	}
	if len(b.Logo) > maxLogo {
		return out, fmt.Errorf("portal logo: %d bytes, at most %d", len(b.Logo), maxLogo)
	}
	for _, c := range []string{b.PrimaryColor, b.AccentColor} {
		if c != "" && !hexColor.MatchString(c) {
			return out, fmt.Errorf("portal colour %q: want #rgb or #rrggbb", c)
		}
	}
	// Colours go into a stylesheet of their own (the CSP allows no inline style); they
	// were checked against hexColor, so nothing but a colour can reach the CSS.
	var css bytes.Buffer
	if b.PrimaryColor != "" || b.AccentColor != "" {
		css.WriteString(":root {\n")
		if b.PrimaryColor != "" {
			fmt.Fprintf(&css, "  --accent: %s;\n  --brand: %s;\n", b.PrimaryColor, b.PrimaryColor)
		}
		if b.AccentColor != "" {
			fmt.Fprintf(&css, "  --focus: %s;\n  --chart-2: %s;\n", b.AccentColor, b.AccentColor)
		}
		css.WriteString("}\n")
	}
	out.css = css.String()
	out.cssTag, out.logoETag = etag([]byte(out.css)), etag(b.Logo)
	home, err := renderMarkdown(b.Home)
	if err != nil {
		return out, fmt.Errorf("portal home page: %w", err)
	}
	out.home = home
	return out, nil
}

// etag is a strong validator of content that changes only with the settings.
func etag(content []byte) string {
	sum := sha256.Sum256(content)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// markdown renders CommonMark with GitHub's tables, strikethrough and autolinks. It is
// not in unsafe mode: raw HTML is replaced by a comment and links and images with
// javascript:, vbscript:, file: or data: (other than images) URLs are dropped, so the
// home page cannot carry script whatever the file says.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

func renderMarkdown(src string) (template.HTML, error) {
	if src == "" {
		return "", nil
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil //nolint:gosec // goldmark without WithUnsafe: no raw HTML passes
}

func (p *portal) themeCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", p.brand.cssTag)
	if r.Header.Get("If-None-Match") == p.brand.cssTag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write([]byte(p.brand.css))
}

func (p *portal) logo(w http.ResponseWriter, r *http.Request) {
	if p.brand.logo == nil {
		p.fail(w, r, http.StatusNotFound, "not_found", "this portal has no logo")
		return
	}
	h := w.Header()
	h.Set("Content-Type", p.brand.logoType)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", p.brand.logoETag)
	// An SVG logo is a document that could hold script; served on its own it gets a
	// sandboxing policy of its own.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	if r.Header.Get("If-None-Match") == p.brand.logoETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(p.brand.logo)
}
