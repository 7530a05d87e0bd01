package grip

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestIsGrip(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"plain origin passes through [T:A]", hdr("Content-Type", "text/plain"), false},
		{"grip header", hdr("Grip-Hold", "stream"), true},
		{"any grip prefix, any case", http.Header{"grip-whatever": {"x"}}, true},
		{"instruct type with params", hdr("Content-Type", "application/grip-instruct; charset=utf-8"), true},
		// Pushpin compares the media type case-sensitively.
		{"instruct type in other case", hdr("Content-Type", "Application/Grip-Instruct"), false},
		{"no headers", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsGrip(tt.h); got != tt.want {
				t.Errorf("IsGrip = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseHeaders(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want Instruction
	}{
		{
			name: "stream hold [T:B]",
			h:    hdr("Grip-Hold", "stream", "Grip-Channel", "s"),
			want: Instruction{Hold: HoldStream, Channels: []Channel{{Name: "s"}}, Timeout: DefaultTimeout},
		},
		{
			name: "comma-joined and repeated channels [T:X]",
			h:    hdr("Grip-Hold", "stream", "Grip-Channel", "m1, m2", "Grip-Channel", `m3; filter=skip-self; filter="var-subst"`),
			want: Instruction{Hold: HoldStream, Timeout: DefaultTimeout, Channels: []Channel{
				{Name: "m1"}, {Name: "m2"}, {Name: "m3", Filters: []string{"skip-self", "var-subst"}},
			}},
		},
		{
			name: "response hold with prev-id and timeout [T:L, T:G]",
			h:    hdr("Grip-Hold", "response", "Grip-Channel", "lp; prev-id=1", "Grip-Timeout", "5"),
			want: Instruction{Hold: HoldResponse, Channels: []Channel{{Name: "lp", PrevID: "1"}}, Timeout: 5 * time.Second},
		},
		{
			name: "timeout clamped to 5 s",
			h:    hdr("Grip-Hold", "response", "Grip-Channel", "a", "Grip-Timeout", "0"),
			want: Instruction{Hold: HoldResponse, Channels: []Channel{{Name: "a"}}, Timeout: MinTimeout},
		},
		{
			name: "keep-alive cstring idle [T:C]",
			h:    hdr("Grip-Hold", "stream", "Grip-Channel", "ka", "Grip-Keep-Alive", `\n; format=cstring; timeout=2`),
			want: Instruction{Hold: HoldStream, Channels: []Channel{{Name: "ka"}}, Timeout: DefaultTimeout,
				KeepAlive: &KeepAlive{Data: []byte("\n"), Timeout: 2 * time.Second, Mode: KeepAliveIdle}},
		},
		{
			name: "keep-alive interval [T:D]",
			h:    hdr("Grip-Hold", "stream", "Grip-Keep-Alive", `\n; format=cstring; timeout=2; mode=interval`),
			want: Instruction{Hold: HoldStream, Timeout: DefaultTimeout,
				KeepAlive: &KeepAlive{Data: []byte("\n"), Timeout: 2 * time.Second, Mode: KeepAliveInterval}},
		},
		{
			name: "keep-alive raw keeps commas, SSE comment via cstring [T:E]",
			h:    hdr("Grip-Hold", "stream", "Grip-Keep-Alive", `a, b`, "Grip-Keep-Alive", "ignored"),
			want: Instruction{Hold: HoldStream, Timeout: DefaultTimeout,
				KeepAlive: &KeepAlive{Data: []byte("a, b"), Timeout: DefaultKeepAliveTimeout, Mode: KeepAliveIdle}},
		},
		{
			name: "keep-alive base64 and cstring hex, timeout min 1",
			h:    hdr("Grip-Keep-Alive", `OlwKCg==; format=base64; timeout=0`),
			want: Instruction{Timeout: DefaultTimeout,
				KeepAlive: &KeepAlive{Data: []byte(":\\\n\n"), Timeout: time.Second, Mode: KeepAliveIdle}},
		},
		{
			name: "status with reason [T:I]",
			h:    hdr("Grip-Hold", "stream", "Grip-Status", "299 Custom Reason"),
			want: Instruction{Hold: HoldStream, Timeout: DefaultTimeout, StatusCode: 299, Reason: "Custom Reason"},
		},
		{
			name: "status without reason gets the standard phrase",
			h:    hdr("Grip-Status", "404"),
			want: Instruction{Timeout: DefaultTimeout, StatusCode: 404, Reason: "Not Found"},
		},
		{
			name: "expose headers [T:N]",
			h:    hdr("Grip-Expose-Headers", "Content-Type, X-A", "Grip-Expose-Headers", "X-C"),
			want: Instruction{Timeout: DefaultTimeout, ExposeHeaders: []string{"Content-Type", "X-A", "X-C"}},
		},
		{
			name: "empty expose list filters nothing",
			h:    hdr("Grip-Expose-Headers", ""),
			want: Instruction{Timeout: DefaultTimeout},
		},
		{
			name: "large timeout does not overflow",
			h:    hdr("Grip-Timeout", "2147483647"),
			want: Instruction{Timeout: (1 << 30) * time.Second},
		},
		{
			name: "meta, both spellings",
			h:    hdr("Grip-Set-Meta", `user=alice, role="a,b"`, "Grip-Set-Meta-Team", "red"),
			want: Instruction{Timeout: DefaultTimeout, Meta: map[string]string{"user": "alice", "role": "a,b", "team": "red"}},
		},
		{
			name: "last ids",
			h:    hdr("Grip-Last", "a; last-id=1, b; last-id=2"),
			want: Instruction{Timeout: DefaultTimeout, LastIDs: map[string]string{"a": "1", "b": "2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(200, tt.h, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
}

func TestParseLink(t *testing.T) {
	// [T:M]: a stream with prev-id recovering through a next link.
	in, err := Parse(200, hdr("Grip-Hold", "stream", "Grip-Channel", "lk; prev-id=a1",
		"Grip-Link", "</link?after=a1>; rel=next; timeout=5", "Grip-Link", "</bye>; rel=gone"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.NextLink == nil || in.NextLink.URI.String() != "/link?after=a1" || in.NextLink.Timeout != 5*time.Second {
		t.Errorf("next link = %+v", in.NextLink)
	}
	if in.GoneLink == nil || in.GoneLink.URI.Path != "/bye" {
		t.Errorf("gone link = %+v", in.GoneLink)
	}
	in, err = Parse(200, hdr("Grip-Link", "<http://o/next>; rel=next"), nil)
	if err != nil || in.Hold != HoldNone || in.NextLink.Timeout != DefaultLinkTimeout {
		t.Errorf("pagination link: %+v, %v", in, err)
	}
	// Entries without parameters, or with an unknown rel, are not links.
	in, err = Parse(200, hdr("Grip-Link", "</a>, </b>; rel=prev, garbage"), nil)
	if err != nil || in.NextLink != nil || in.GoneLink != nil {
		t.Errorf("non-links: %+v, %v", in, err)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name   string
		status int
		h      http.Header
		body   string
		reason string
	}{
		{"bad hold [T:K]", 200, hdr("Grip-Hold", "bogus"), "", "Grip-Hold must be set to either 'response' or 'stream'"},
		{"empty channel", 200, hdr("Grip-Channel", "a,,b"), "", "failed to parse Grip-Channel"},
		{"timeout not a number", 200, hdr("Grip-Timeout", "soon"), "", "failed to parse Grip-Timeout"},
		{"timeout beyond int32", 200, hdr("Grip-Timeout", "99999999999"), "", "failed to parse Grip-Timeout"},
		{"negative timeout", 200, hdr("Grip-Timeout", "-1"), "", "Grip-Timeout has invalid value"},
		{"empty keep-alive", 200, hdr("Grip-Keep-Alive", " ; format=raw"), "", "Grip-Keep-Alive cannot be empty"},
		{"keep-alive mode", 200, hdr("Grip-Keep-Alive", "x; mode=sometimes"), "", "no such Grip-Keep-Alive mode 'sometimes'"},
		{"keep-alive format", 200, hdr("Grip-Keep-Alive", "x; format=hex"), "", "no such Grip-Keep-Alive format 'hex'"},
		{"keep-alive cstring", 200, hdr("Grip-Keep-Alive", `x\q; format=cstring`), "", "failed to parse Grip-Keep-Alive cstring format"},
		{"keep-alive cstring short hex", 200, hdr("Grip-Keep-Alive", `x\x4; format=cstring`), "", "failed to parse Grip-Keep-Alive cstring format"},
		{"keep-alive timeout", 200, hdr("Grip-Keep-Alive", "x; timeout=-2"), "", "Grip-Keep-Alive timeout has invalid value"},
		{"status code", 200, hdr("Grip-Status", "abc"), "", "Grip-Status contains invalid status code"},
		{"status range", 200, hdr("Grip-Status", "1000 Big"), "", "Grip-Status contains invalid status code"},
		{"link without brackets", 200, hdr("Grip-Link", "/next; rel=next"), "", "failed to parse Grip-Link value"},
		{"empty link", 200, hdr("Grip-Link", "<>; rel=next"), "", "failed to parse Grip-Link value"},
		{"link timeout", 200, hdr("Grip-Link", "</next>; rel=next; timeout=-1"), "", "Grip-Link timeout has invalid value"},
		{"link timeout empty", 200, hdr("Grip-Link", "</next>; rel=next; timeout="), "", "failed to parse Grip-Link timeout value"},
		{"keep-alive timeout empty", 200, hdr("Grip-Keep-Alive", "x; timeout="), "", "failed to parse Grip-Keep-Alive timeout value"},
		{"keep-alive mode checked before timeout", 200, hdr("Grip-Keep-Alive", "x; timeout=z; mode=q"), "", "no such Grip-Keep-Alive mode 'q'"},
		{"keep-alive timeout checked before format", 200, hdr("Grip-Keep-Alive", "x; timeout=z; format=q"), "", "failed to parse Grip-Keep-Alive timeout value"},
		{"instruct not 200", 404, hdr("Content-Type", ContentType), `{}`, "response code for application/grip-instruct content must be 200"},
		{"instruct not JSON", 200, hdr("Content-Type", ContentType), `{`, "failed to parse application/grip-instruct content as JSON"},
		{"instruct not object", 200, hdr("Content-Type", ContentType), `[]`, "instruct must be an object"},
		{"instruct hold type", 200, hdr("Content-Type", ContentType), `{"hold": 1}`, "instruct contains 'hold' with wrong type"},
		{"instruct mode", 200, hdr("Content-Type", ContentType), `{"hold": {"mode": "x", "channels": []}}`, "hold 'mode' must be set to either 'response' or 'stream'"},
		{"instruct channels", 200, hdr("Content-Type", ContentType), `{"hold": {}}`, "hold does not contain 'channels'"},
		{"instruct channel name", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [{}]}}`, "channel does not contain 'name'"},
		{"instruct channels type", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": {}}}`, "hold contains 'channels' with wrong type"},
		{"instruct channel type", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [1]}}`, "channel is not an object"},
		{"instruct filters", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [{"name": "a", "filters": [1]}]}}`, "filters contains value with wrong type"},
		{"instruct timeout", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [], "timeout": -1}}`, "hold contains 'timeout' with invalid value"},
		{"instruct keep-alive content", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [], "keep-alive": {"content": 1}}}`, "keep-alive contains 'content' with wrong type"},
		{"instruct keep-alive timeout", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [], "keep-alive": {"content": "x", "timeout": "5"}}}`, "keep-alive contains 'timeout' with wrong type"},
		{"instruct meta", 200, hdr("Content-Type", ContentType), `{"hold": {"channels": [], "meta": {"u": 1}}}`, "'meta' contains 'u' with wrong type"},
		{"instruct response type, no message", 200, hdr("Content-Type", ContentType), `{"response": 1}`, ""},
		{"instruct code", 200, hdr("Content-Type", ContentType), `{"response": {"code": 1000}}`, "response contains 'code' with invalid value"},
		{"instruct headers", 200, hdr("Content-Type", ContentType), `{"response": {"headers": 3}}`, "response contains 'headers' with wrong type"},
		{"instruct header value", 200, hdr("Content-Type", ContentType), `{"response": {"headers": {"A": 1}}}`, "headers contains 'A' with wrong type"},
		{"instruct header element", 200, hdr("Content-Type", ContentType), `{"response": {"headers": [1]}}`, "headers contains element with wrong type"},
		{"instruct header pair", 200, hdr("Content-Type", ContentType), `{"response": {"headers": [["A"]]}}`, "headers contains list with wrong number of elements"},
		{"instruct header name", 200, hdr("Content-Type", ContentType), `{"response": {"headers": [[1, "v"]]}}`, "header contains name element with wrong type"},
		{"instruct header value element", 200, hdr("Content-Type", ContentType), `{"response": {"headers": [["A", 1]]}}`, "header contains value element with wrong type"},
		{"instruct body", 200, hdr("Content-Type", ContentType), `{"response": {"body": 1}}`, "response contains 'body' with wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.status, tt.h, []byte(tt.body))
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			if ge.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", ge.Reason, tt.reason)
			}
		})
	}
}

func TestDecodeBase64Lenient(t *testing.T) {
	for in, want := range map[string]string{"aGk=": "hi", "aGk": "hi", "a G\nk": "hi", "aGkx=ignored": "hi1", "aGkxM": "hi1", "": "", "!!": ""} {
		if got := string(DecodeBase64Lenient(in)); got != want {
			t.Errorf("DecodeBase64Lenient(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	// [T:K] exact 502 body with debug on: Content-Length 92.
	_, err := Parse(200, hdr("Grip-Hold", "bogus"), nil)
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatal(err)
	}
	want := "Failed to parse accept instructions: Grip-Hold must be set to either 'response' or 'stream'\n"
	if got := ge.DebugBody(); got != want || len(got) != 92 {
		t.Errorf("DebugBody = %q (%d bytes)", got, len(got))
	}
	if ErrorStatus != 502 || ClientBody != "Error while proxying to origin.\n" {
		t.Error("client 502 changed")
	}
}

func TestInstructJSON(t *testing.T) {
	// [T:H]: the client sees only the JSON response headers, whatever the
	// origin sent beside them.
	body := `{"hold": {"mode": "response", "channels": [{"name": "ins", "prev-id": "p", "filters": ["skip-self"]}],
		"timeout": 3, "keep-alive": {"content-bin": "Og==", "timeout": 7}, "meta": {"user": "bob"}},
		"response": {"code": 201, "headers": [["Content-Type", "text/plain"], ["X-Two", "1"], ["X-Two", "2"]], "body": "timed out\n"}}`
	in, err := Parse(200, hdr("Content-Type", ContentType, "Server", "BaseHTTP", "Grip-Hold", "stream",
		"Grip-Channel", "from-header", "Grip-Status", "299 Custom"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := &Instruction{
		Hold: HoldResponse,
		// JSON channels add to the headers' ones.
		Channels:   []Channel{{Name: "from-header"}, {Name: "ins", PrevID: "p", Filters: []string{"skip-self"}}},
		Timeout:    MinTimeout,
		StatusCode: 299, Reason: "Custom",
		KeepAlive: &KeepAlive{Data: []byte(":"), Timeout: 7 * time.Second, Mode: KeepAliveIdle},
		Meta:      map[string]string{"user": "bob"},
		Response: &Response{Code: 201, Reason: "Created",
			Header: http.Header{"Content-Type": {"text/plain"}, "X-Two": {"1", "2"}}, Body: []byte("timed out\n")},
	}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", in, want)
	}
	cr := in.ClientResponse(200, hdr("Server", "BaseHTTP"), []byte(body))
	if !reflect.DeepEqual(cr, want.Response) {
		t.Errorf("ClientResponse = %+v", cr)
	}

	// No "response": empty body, no headers, status from Grip-Status; an
	// empty keep-alive is none.
	in, err = Parse(200, hdr("Content-Type", ContentType, "Grip-Status", "299"),
		[]byte(`{"hold": {"channels": [{"name": "a"}], "keep-alive": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cr = in.ClientResponse(200, nil, nil)
	if cr.Code != 299 || cr.Reason != "" || len(cr.Header) != 0 || len(cr.Body) != 0 || in.KeepAlive != nil {
		t.Errorf("empty instruct response = %+v, keep-alive %+v", cr, in.KeepAlive)
	}
	// A JSON reason replaces Grip-Status's; body-bin wins over body and is
	// decoded leniently like Qt does.
	in, err = Parse(200, hdr("Content-Type", ContentType, "Grip-Status", "299 X"),
		[]byte(`{"response": {"reason": "Y", "body": "no", "body-bin": "aGk"}}`))
	if err != nil || in.Response.Code != 299 || in.Response.Reason != "Y" || string(in.Response.Body) != "hi" {
		t.Errorf("response = %+v, %v", in.Response, err)
	}
}

func TestClientResponse(t *testing.T) {
	origin := hdr("Server", "BaseHTTP/0.6 Python/3.11.2", "Date", "Mon, 23 Nov 2026 23:53:36 GMT",
		"Content-Type", "text/plain", "Content-Length", "7", "Grip-Hold", "stream", "Grip-Channel", "st",
		"Grip-Status", "299 Custom Reason", "X-A", "a", "X-B", "b", "X-C", "c")

	// [T:I]: status replaced, Grip-* and Content-Length gone, rest kept.
	in, err := Parse(200, origin, nil)
	if err != nil {
		t.Fatal(err)
	}
	cr := in.ClientResponse(200, origin, []byte("status\n"))
	wantH := hdr("Server", "BaseHTTP/0.6 Python/3.11.2", "Date", "Mon, 23 Nov 2026 23:53:36 GMT",
		"Content-Type", "text/plain", "X-A", "a", "X-B", "b", "X-C", "c")
	if cr.Code != 299 || cr.Reason != "Custom Reason" || !reflect.DeepEqual(cr.Header, wantH) || string(cr.Body) != "status\n" {
		t.Errorf("ClientResponse = %+v", cr)
	}
	if origin.Get("Grip-Hold") == "" {
		t.Error("ClientResponse modified the origin header")
	}

	// [T:N]: only the exposed headers reach the client.
	exposed := origin.Clone()
	exposed.Del("Grip-Status")
	exposed.Set("Grip-Expose-Headers", "content-type, X-A, X-C")
	in, err = Parse(200, exposed, nil)
	if err != nil {
		t.Fatal(err)
	}
	cr = in.ClientResponse(200, exposed, nil)
	if want := hdr("Content-Type", "text/plain", "X-A", "a", "X-C", "c"); !reflect.DeepEqual(cr.Header, want) || cr.Code != 200 {
		t.Errorf("exposed = %+v", cr)
	}
}

func TestParseEntry(t *testing.T) {
	e := ParseEntry(` </a;b> ; rel = "ne\"xt;" ; flag ; timeout=5 `)
	want := Entry{First: "</a", Params: []Param{{"b>", ""}, {"rel", `ne"xt;`}, {"flag", ""}, {"timeout", "5"}}}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("ParseEntry = %#v", e)
	}
	if got := ParseList([]string{`a; x="1,2", b`, "c"}); len(got) != 3 || got[0].Params[0].Value != "1,2" {
		t.Errorf("ParseList = %#v", got)
	}
}

func FuzzParseHeaders(f *testing.F) {
	seeds := [][2]string{
		{"Grip-Channel", "a, b; prev-id=1; filter=skip-self"},
		{"Grip-Keep-Alive", `\n; format=cstring; timeout=2; mode=interval`},
		{"Grip-Keep-Alive", "OlwKCg==; format=base64"},
		{"Grip-Link", "</x?y>; rel=next; timeout=5"},
		{"Grip-Status", "299 Custom Reason"},
		{"Grip-Set-Meta", `user="a\"b"`},
		{"Grip-Hold", "response"},
		{"Grip-Timeout", "-1"},
		{"Grip-Expose-Headers", "A, B"},
		{"Grip-Last", "a; last-id=1"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		h := http.Header{name: {value}, "Grip-Channel": {value}, "Grip-Keep-Alive": {value}}
		in, err := Parse(200, h, nil)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if in.Timeout < MinTimeout {
			t.Fatalf("timeout %v below minimum", in.Timeout)
		}
		if in.KeepAlive != nil && in.KeepAlive.Timeout < MinKeepAliveTimeout {
			t.Fatalf("keep-alive %+v", in.KeepAlive)
		}
		for _, c := range in.Channels {
			if c.Name == "" {
				t.Fatal("empty channel name accepted")
			}
		}
		_ = in.ClientResponse(200, h, nil)
	})
}

func FuzzParseInstructJSON(f *testing.F) {
	f.Add(`{"hold": {"mode": "stream", "channels": [{"name": "a", "prev-id": "1", "filters": ["x"]}], "keep-alive": {"content": ":\n\n", "timeout": 20}}, "response": {"headers": {"A": "b"}, "body": "x"}}`)
	f.Add(`{"response": {"code": 299, "reason": "R", "headers": [["A", "1"]], "body-bin": "AAE="}}`)
	f.Add(`{"hold": {"channels": [], "timeout": 1e3, "meta": {"u": "v"}}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		in, err := Parse(200, hdr("Content-Type", ContentType), []byte(body))
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if in.Response == nil || in.Response.Header == nil {
			t.Fatal("instruct without a client response")
		}
		if in.Hold != HoldNone && in.Timeout < MinTimeout {
			t.Fatalf("timeout %v", in.Timeout)
		}
	})
}
