package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// publishOpts are pushpin-publish's options, so that scripts written for it carry over.
type publishOpts struct {
	id, prevID, sender, url string
	code                    int
	headers, meta           []string
	close, hint, noSeq      bool
	patch, noEOL            bool
	timeout                 time.Duration
}

func newPublishCmd(e *env) *cobra.Command {
	var o publishOpts
	cmd := &cobra.Command{
		Use:   "publish CHANNEL [CONTENT]",
		Short: "Publish to realtime subscribers of a channel (like pushpin-publish)",
		Long: `Publish one item to a channel through the node's publish API (POST /publish/ on the
admin listener, authenticated with --token). Held HTTP streams and long-polls and WebSocket
subscribers of the channel receive it on every node.

CONTENT is sent as an http-stream chunk and an http-response body (each with a newline added,
unless --no-eol) and as a WebSocket text message. Without CONTENT it is read from stdin.
--close ends streams and closes WebSockets; --hint asks held connections to fetch the
content from their origin instead.`,
		Example: `  gatehouse publish news "hello"
  gatehouse publish news --id 2 --prev-id 1 "second"
  gatehouse publish orders --code 201 -H "Content-Type: application/json" '{"id": 7}'
  gatehouse publish news --close`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.publish(cmd, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.id, "id", "", "item id (subscribers drop an id they have seen)")
	f.StringVar(&o.prevID, "prev-id", "", "id of the item this one follows, for ordering and gap recovery")
	f.IntVar(&o.code, "code", 0, "HTTP status of the http-response delivered to long-polls (default 200)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, `header of the http-response, "Name: value" (repeatable)`)
	f.StringArrayVarP(&o.meta, "meta", "M", nil, `publish meta for filters, "name=value" (repeatable)`)
	f.StringVar(&o.sender, "sender", "", "sender meta, for subscribers with the skip-self filter")
	f.BoolVar(&o.close, "close", false, "end held streams and close WebSockets")
	f.BoolVar(&o.hint, "hint", false, "send a hint: held connections re-fetch from their origin")
	f.BoolVar(&o.noSeq, "no-seq", false, "deliver at once, without waiting for a missing predecessor")
	f.BoolVar(&o.patch, "patch", false, "CONTENT is a JSON Patch applied to the held long-poll's original body")
	f.BoolVar(&o.noEOL, "no-eol", false, "do not add a newline to http content")
	f.StringVar(&o.url, "publish-url", "", "publish endpoint (default: the admin URL + /publish/)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the node")
	return cmd
}

func (e *env) publish(cmd *cobra.Command, args []string, o publishOpts) error {
	if o.close && o.hint {
		return usagef("--close and --hint exclude each other")
	}
	channel := args[0]
	var content string
	switch {
	case len(args) == 2:
		content = args[1]
	case o.close || o.hint:
	default:
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20+1))
		if err != nil {
			return fmt.Errorf("reading content from stdin: %w", err)
		}
		if len(b) > 1<<20 {
			return usagef("content from stdin is over 1 MiB")
		}
		content = string(b)
	}
	item, err := publishItem(channel, content, o)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"items": []any{item}})
	u := o.url
	if u == "" {
		u = strings.TrimRight(e.adminURL, "/") + "/publish/"
	}
	ctx := cmd.Context()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return usagef("bad --publish-url: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := (&http.Client{Timeout: o.timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("publishing to %s: %w (is the node running, and --admin-url right?)", u, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(answer))
		var p struct{ Detail string }
		if json.Unmarshal(answer, &p) == nil && p.Detail != "" {
			msg = p.Detail
		}
		return fmt.Errorf("publish refused: %s: %s", resp.Status, msg)
	}
	_, err = fmt.Fprintln(e.stdout, strings.TrimSpace(string(answer)))
	return err
}

// publishItem builds the item as pushpin-publish does: one item carrying all three formats.
func publishItem(channel, content string, o publishOpts) (map[string]any, error) {
	item := map[string]any{"channel": channel}
	if o.id != "" {
		item["id"] = o.id
	}
	if o.prevID != "" {
		item["prev-id"] = o.prevID
	}
	if o.noSeq {
		item["no-seq"] = true
	}
	meta := map[string]string{}
	for _, m := range o.meta {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return nil, usagef("--meta %q: want name=value", m)
		}
		meta[k] = v
	}
	if o.sender != "" {
		meta["sender"] = o.sender
	}
	if len(meta) > 0 {
		item["meta"] = meta
	}
	httpContent := content
	if !o.noEOL && !o.patch {
		httpContent += "\n"
	}
	switch {
	case o.close:
		item["formats"] = map[string]any{
			"http-stream": map[string]any{"action": "close"},
			"ws-message":  map[string]any{"action": "close"},
		}
		return item, nil
	case o.hint:
		item["formats"] = map[string]any{
			"http-response": map[string]any{"action": "hint"},
			"http-stream":   map[string]any{"action": "hint"},
		}
		return item, nil
	}
	resp := map[string]any{}
	if o.code != 0 {
		resp["code"] = o.code
	}
	if len(o.headers) > 0 {
		h := map[string]string{}
		for _, line := range o.headers {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("--header %q: want \"Name: value\"", line)
			}
			h[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		resp["headers"] = h
	}
	if o.patch {
		var ops any
		if err := json.Unmarshal([]byte(content), &ops); err != nil {
			return nil, usagef("--patch: CONTENT is not JSON: %v", err)
		}
		resp["body-patch"] = ops
	} else {
		resp["body"] = httpContent
	}
	formats := map[string]any{"http-response": resp}
	if !o.patch {
		formats["http-stream"] = map[string]any{"content": httpContent}
		formats["ws-message"] = map[string]any{"content": content}
	}
	item["formats"] = formats
	return item, nil
}
