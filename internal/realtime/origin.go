package realtime

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/hold"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsproxy"
)

// holdOrigin and wsOrigin adapt the gateway's Origin to what hold and wsproxy ask of one;
// the response types are the same shape, so the conversions are free.
type holdOrigin struct{ o gateway.Origin }

func (h holdOrigin) Retry(ctx context.Context, extra http.Header) (*hold.Upstream, error) {
	r, err := h.o.Retry(ctx, extra)
	return (*hold.Upstream)(r), err
}

func (h holdOrigin) Link(ctx context.Context, u *url.URL, extra http.Header) (*hold.Upstream, error) {
	r, err := h.o.Link(ctx, u, extra)
	return (*hold.Upstream)(r), err
}

type wsOrigin struct{ o gateway.Origin }

func (w wsOrigin) Post(ctx context.Context, header http.Header, body []byte) (*wsproxy.Response, error) {
	r, err := w.o.Post(ctx, header, body)
	return (*wsproxy.Response)(r), err
}

func (w wsOrigin) Upgrade(ctx context.Context, header http.Header) (*http.Response, error) {
	return w.o.Upgrade(ctx, header)
}
