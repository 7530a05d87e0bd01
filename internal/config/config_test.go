package config

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// files returns a readFile over m that fails like os.ReadFile for missing names.
func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDefault(t *testing.T) {
	got := Default()
	want := Config{
		ProxyAddr:         ":8000",
		AdminAddr:         "127.0.0.1:8001",
		PortalAddr:        ":8002",
		DataDir:           "./gatehouse-data",
		Store:             "sqlite:./gatehouse-data/gatehouse.db",
		Log:               Log{Level: "info", Format: "text"},
		ShutdownTimeout:   gatehouse.Duration(30 * time.Second),
		ReadHeaderTimeout: gatehouse.Duration(10 * time.Second),
		IdleTimeout:       gatehouse.Duration(2 * time.Minute),
		MaxHeaderBytes:    1 << 20,
		AdminMaxBody:      8 << 20,
		ProxyTLSAddr:      ":8443",
		H2C:               true,
		ProxyServer:       "gatehouse",
		MaxConnections:    16384,
		ProxyMaxBody:      1 << 30,
		Demo:              Demo{UpstreamAddr: "127.0.0.1:8009"},
		Redis:             Redis{Prefix: "gatehouse:"},
		Limits:            Limits{Backend: "memory", Fallback: "local"},
		Quota:             Quota{Backend: "store", FlushInterval: gatehouse.Duration(time.Second)},
		Cache:             Cache{Backend: "memory", MaxBytes: 64 << 20},
		GCPercent:         400,
		Realtime:          Realtime{SigKey: "changeme", SigIssuer: "gatehouse", Broker: "memory", NATSPrefix: "gatehouse.rt"},
		Analytics: Analytics{Enabled: true, QueueSize: 65536, FlushInterval: gatehouse.Duration(5 * time.Second),
			MinuteRetention: gatehouse.Duration(48 * time.Hour), HourRetention: gatehouse.Duration(90 * 24 * time.Hour),
			DayRetention: gatehouse.Duration(730 * 24 * time.Hour), RequestRetention: gatehouse.Duration(7 * 24 * time.Hour), Alerts: true, Compactor: true},
		Tracing: Tracing{SamplePercent: 100},
		Portal:  Portal{Name: "Gatehouse developer portal", SignUp: true, Approval: "auto"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	// Loading nothing gives the defaults, and they pass every check.
	c, err := Load(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Load with no sources (-want +got):\n%s", diff)
	}
}

func TestLoadPrecedence(t *testing.T) {
	const file = `
proxy_addr: ":9000"
admin_addr: "127.0.0.1:9001"
data_dir: /var/lib/gatehouse
log:
  level: debug
shutdown_timeout: 1m
`
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		files map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name:  "file from flag",
			args:  []string{"--config", "a.yaml"},
			env:   map[string]string{"GATEHOUSE_CONFIG": "b.yaml"},
			files: map[string]string{"a.yaml": file, "b.yaml": "proxy_addr: \":1\"\n"},
			check: func(t *testing.T, c Config) {
				if c.ProxyAddr != ":9000" || c.Log.Level != "debug" || c.Log.Format != "text" {
					t.Errorf("file not applied over defaults: %+v", c)
				}
				if c.ShutdownTimeout.D() != time.Minute {
					t.Errorf("shutdown_timeout = %v", c.ShutdownTimeout)
				}
				if c.Store != "sqlite:/var/lib/gatehouse/gatehouse.db" {
					t.Errorf("store does not follow data_dir: %q", c.Store)
				}
			},
		},
		{
			name:  "file from env",
			env:   map[string]string{"GATEHOUSE_CONFIG": "b.yaml"},
			files: map[string]string{"b.yaml": file},
			check: func(t *testing.T, c Config) {
				if c.ProxyAddr != ":9000" {
					t.Errorf("GATEHOUSE_CONFIG file not read: %+v", c)
				}
			},
		},
		{
			name: "env over file, flags over env",
			args: []string{"--config", "a.yaml", "--log-level", "warn", "--demo", "--shutdown-timeout", "5s"},
			env: map[string]string{
				"GATEHOUSE_PROXY_ADDR":         ":7000",
				"GATEHOUSE_LOG_LEVEL":          "error",
				"GATEHOUSE_LOG_FORMAT":         "json",
				"GATEHOUSE_DEMO_UPSTREAM_ADDR": "127.0.0.1:7009",
				"GATEHOUSE_ADMIN_MAX_BODY":     "16MiB",
				"GATEHOUSE_MAX_HEADER_BYTES":   "65536",
				"GATEHOUSE_IDLE_TIMEOUT":       "0s",
			},
			files: map[string]string{"a.yaml": file},
			check: func(t *testing.T, c Config) {
				want := Config{
					ProxyAddr:         ":7000",
					AdminAddr:         "127.0.0.1:9001",
					PortalAddr:        ":8002",
					DataDir:           "/var/lib/gatehouse",
					Store:             "sqlite:/var/lib/gatehouse/gatehouse.db",
					Log:               Log{Level: "warn", Format: "json"},
					ShutdownTimeout:   gatehouse.Duration(5 * time.Second),
					ReadHeaderTimeout: gatehouse.Duration(10 * time.Second),
					MaxHeaderBytes:    65536,
					AdminMaxBody:      16 << 20,
					ProxyTLSAddr:      ":8443",
					H2C:               true,
					ProxyServer:       "gatehouse",
					MaxConnections:    16384,
					ProxyMaxBody:      1 << 30,
					Demo:              Demo{Enabled: true, UpstreamAddr: "127.0.0.1:7009"},
					Redis:             Redis{Prefix: "gatehouse:"},
					Limits:            Limits{Backend: "memory", Fallback: "local"},
					Quota:             Quota{Backend: "store", FlushInterval: gatehouse.Duration(time.Second)},
					Cache:             Cache{Backend: "memory", MaxBytes: 64 << 20},
					GCPercent:         400,
					Realtime:          Realtime{SigKey: "changeme", SigIssuer: "gatehouse", Broker: "memory", NATSPrefix: "gatehouse.rt"},
					Analytics: Analytics{Enabled: true, QueueSize: 65536, FlushInterval: gatehouse.Duration(5 * time.Second),
						MinuteRetention: gatehouse.Duration(48 * time.Hour), HourRetention: gatehouse.Duration(90 * 24 * time.Hour),
						DayRetention: gatehouse.Duration(730 * 24 * time.Hour), RequestRetention: gatehouse.Duration(7 * 24 * time.Hour), Alerts: true, Compactor: true},
					Tracing: Tracing{SamplePercent: 100},
					Portal:  Portal{Name: "Gatehouse developer portal", SignUp: true, Approval: "auto"},
				}
				if diff := cmp.Diff(want, c); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "store follows a data dir from a flag",
			args: []string{"--data-dir", "/srv/gh/"},
			check: func(t *testing.T, c Config) {
				if c.Store != "sqlite:/srv/gh/gatehouse.db" {
					t.Errorf("store = %q", c.Store)
				}
			},
		},
		{
			name: "an explicit store wins over the data dir",
			args: []string{"--data-dir", "/srv/gh"},
			env:  map[string]string{"GATEHOUSE_STORE": "postgres://gh@db/gatehouse"},
			check: func(t *testing.T, c Config) {
				if c.Store != "postgres://gh@db/gatehouse" {
					t.Errorf("store = %q", c.Store)
				}
			},
		},
		{
			name: "unchanged flags do not override",
			args: []string{},
			env:  map[string]string{"GATEHOUSE_PROXY_ADDR": ":7000"},
			check: func(t *testing.T, c Config) {
				if c.ProxyAddr != ":7000" {
					t.Errorf("proxy_addr = %q: a flag default overrode the environment", c.ProxyAddr)
				}
			},
		},
		{
			name: "demo switched off by flag",
			args: []string{"--demo=false"},
			env:  map[string]string{"GATEHOUSE_DEMO_ENABLED": "true"},
			check: func(t *testing.T, c Config) {
				if c.Demo.Enabled {
					t.Error("demo still enabled")
				}
			},
		},
		{
			name:  "empty file is the defaults",
			args:  []string{"--config", "empty.yaml"},
			files: map[string]string{"empty.yaml": "# nothing here\n"},
			check: func(t *testing.T, c Config) {
				if diff := cmp.Diff(Default(), c); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), env(tt.env), files(tt.files))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		files map[string]string
		want  string // the whole error text
	}{
		{
			name: "env and flag values name their source",
			args: []string{"--log-level", "chatty", "--proxy-addr", "8000", "--shutdown-timeout", "soon"},
			env:  map[string]string{"GATEHOUSE_LOG_FORMAT": "yaml", "GATEHOUSE_ADMIN_MAX_BODY": "-1", "GATEHOUSE_DEMO_ENABLED": "maybe"},
			want: `env GATEHOUSE_LOG_FORMAT: log.format: "yaml" is not one of text, json
env GATEHOUSE_ADMIN_MAX_BODY: admin_max_body: want a size in bytes such as 8388608 or "8MiB", got "-1"
env GATEHOUSE_DEMO_ENABLED: demo.enabled: want true or false, got "maybe"
flag --proxy-addr: proxy_addr: "8000": must be host:port with a numeric port, such as ":8000" or "127.0.0.1:8001"
flag --log-level: log.level: "chatty" is not one of debug, info, warn, error
flag --shutdown-timeout: shutdown_timeout: bad duration "soon": want a value such as "30s" or "1m30s"`,
		},
		{
			name:  "a bad file value is reported even when overridden",
			args:  []string{"--config", "c.yaml", "--log-level", "debug"},
			files: map[string]string{"c.yaml": "log:\n  level: loud\n"},
			want:  `c.yaml:2:10: log.level: "loud" is not one of debug, info, warn, error`,
		},
		{
			name:  "file, then env, then flags",
			args:  []string{"--config", "c.yaml", "--store", "sqlite:"},
			env:   map[string]string{"GATEHOUSE_PORTAL_ADDR": "[::1]:http"},
			files: map[string]string{"c.yaml": "proxy_adr: \":1\"\n"},
			want: `c.yaml:1:1: proxy_adr: unknown setting; did you mean "proxy_addr"?
env GATEHOUSE_PORTAL_ADDR: portal_addr: "[::1]:http": port "http" is not a number from 0 to 65535
flag --store: store: sqlite needs a path, as in "sqlite:./gatehouse-data/gatehouse.db"`,
		},
		{
			name: "listeners on one port",
			env:  map[string]string{"GATEHOUSE_PORTAL_ADDR": "0.0.0.0:8000"},
			args: []string{"--demo", "--demo-upstream-addr", "127.0.0.1:8001"},
			want: `env GATEHOUSE_PORTAL_ADDR: portal_addr: uses the same port as proxy_addr (":8000")
flag --demo-upstream-addr: demo.upstream_addr: uses the same port as admin_addr ("127.0.0.1:8001")`,
		},
		{
			name: "the moved listener is blamed, not the default",
			args: []string{"--proxy-addr", ":8002"},
			want: `flag --proxy-addr: proxy_addr: uses the same port as portal_addr (":8002")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), env(tt.env), files(tt.files))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load = %+v, %v; want a *Error", c, err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if c != (Config{}) {
				t.Errorf("Load returned a config with its error: %+v", c)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(flags(t, "--config", "nope.yaml"), nil, files(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
	_, err = Load(nil, env(map[string]string{"GATEHOUSE_CONFIG": "x.yaml"}), nil)
	if err == nil {
		t.Error("no error without a file reader")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string // want: error text, "" for success
	}{
		{name: "empty", in: ""},
		{name: "comments only", in: "# settings\n"},
		{name: "explicit empty document", in: "---\n"},
		{name: "null values keep defaults", in: "proxy_addr:\nlog:\n"},
		{name: "anchors", in: "x_defaults: &d {level: debug}\n", want: `f.yaml:1:1: x_defaults: unknown setting`},
		{name: "alias value", in: "log: &l {level: debug}\ndemo: {upstream_addr: \"127.0.0.1:1\"}\n"},
		{name: "json file", in: `{"proxy_addr": ":1", "log": {"format": "json"}}`},
		{name: "ipv6 and names", in: "proxy_addr: \"[::]:80\"\nadmin_addr: \"localhost:0\"\nportal_addr: \"portal.internal:8443\"\n"},
		{name: "sizes", in: "admin_max_body: 4MB\nmax_header_bytes: 64 KiB\n"},
		{name: "top level list", in: "- a\n- b\n", want: `f.yaml:1:1: want a mapping of settings at the top level, got a list`},
		{name: "top level scalar", in: "hello\n", want: `f.yaml:1:1: want a mapping of settings at the top level, got the string "hello"`},
		{name: "two documents", in: "proxy_addr: \":1\"\n---\nproxy_addr: \":2\"\n", want: `f.yaml:2:1: a second YAML document: a config file holds exactly one`},
		{name: "syntax error", in: "proxy_addr: [\n", want: `f.yaml:2: invalid YAML: did not find expected node content`},
		{name: "tab indent", in: "\tproxy_addr: x\n", want: `f.yaml:1: invalid YAML: found character that cannot start any token`},
		{name: "non-string key", in: "[a]: 1\n", want: `f.yaml:1:1: keys must be plain names, got a list`},
		{name: "merge key", in: "<<: {proxy_addr: \":1\"}\n", want: `f.yaml:1:1: merge keys (<<) are not supported in node settings`},
		{name: "nested wrong type", in: "log:\n  level: [debug]\n", want: `f.yaml:2:10: log.level: want a string, got a list`},
		{name: "bool wants bool", in: "demo:\n  enabled: {}\n", want: `f.yaml:2:12: demo.enabled: want true or false, got a mapping`},
		{name: "flattened key", in: "demo_upstream_addr: \":1\"\n", want: `f.yaml:1:1: demo_upstream_addr: unknown setting; did you mean "demo.upstream_addr"?`},
		{name: "flag spelling", in: "log-level: debug\n", want: `f.yaml:1:1: log-level: unknown setting; did you mean "log.level"?`},
		{name: "bad host", in: "proxy_addr: \"bad_host!:80\"\n", want: `f.yaml:1:13: proxy_addr: "bad_host!:80": host "bad_host!" is neither an IP address nor a host name`},
		{name: "store secret not echoed", in: "store: \"postgres://u:secret@%zz/db\"\n", want: `f.yaml:1:8: store: is not a valid postgres:// URL`},
		{name: "size out of range", in: "admin_max_body: 2GiB\n", want: `f.yaml:1:17: admin_max_body: must be between 1KiB and 1GiB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Parse(%q):\n got: %s\nwant: %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestParseGolden checks the exact messages for a file with one of each mistake.
func TestParseGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatal("no testdata", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := "ok\n"
			if _, err := Parse(path, data); err != nil {
				got = err.Error() + "\n"
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestBindFlags(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs)
	for _, name := range []string{"config", "proxy-addr", "admin-addr", "portal-addr", "data-dir", "store",
		"log-level", "log-format", "shutdown-timeout", "demo", "demo-upstream-addr", "addr-file"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s not defined", name)
		}
	}
	if got := fs.Lookup("shutdown-timeout").DefValue; got != "30s" {
		t.Errorf("--shutdown-timeout default shown as %q", got)
	}
	if got := fs.Lookup("demo").NoOptDefVal; got != "true" {
		t.Errorf("--demo is not a bare boolean flag (NoOptDefVal %q)", got)
	}
}

// TestSettingsMatchStruct holds the settings table to Config's yaml tags: every leaf has
// exactly one setting with the same path, so nothing is left undecodable.
func TestSettingsMatchStruct(t *testing.T) {
	var leaves []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := prefix + f.Tag.Get("yaml")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[gatehouse.Duration]() {
				walk(f.Type, key+".")
				continue
			}
			leaves = append(leaves, key)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	var keys []string
	for _, s := range settings() {
		keys = append(keys, s.key)
		var c Config
		if reflect.ValueOf(s.ptr(&c)).Kind() != reflect.Pointer {
			t.Errorf("%s: ptr does not return a pointer", s.key)
		}
	}
	if diff := cmp.Diff(leaves, keys); diff != "" {
		t.Errorf("settings table and Config differ (-struct +table):\n%s", diff)
	}
}

// TestDocsListEverySetting keeps docs/configuration.md complete.
func TestDocsListEverySetting(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, example) {
		t.Error("docs/configuration.md does not show testdata/example.yaml")
	}
	for _, s := range settings() {
		for _, want := range []string{"`" + s.key + "`", "`" + s.env() + "`"} {
			if !bytes.Contains(doc, []byte(want)) {
				t.Errorf("docs/configuration.md does not mention %s", want)
			}
		}
		if s.flag != "" && !bytes.Contains(doc, []byte("`--"+s.flag+"`")) {
			t.Errorf("docs/configuration.md does not mention `--%s`", s.flag)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Store = "postgres://gh:hunter2@db:5432/gatehouse?sslmode=disable"
	r := c.Redacted()
	if strings.Contains(r.Store, "hunter2") || !strings.Contains(r.Store, "db:5432") {
		t.Errorf("Redacted store = %q", r.Store)
	}
	if c.Store != "postgres://gh:hunter2@db:5432/gatehouse?sslmode=disable" {
		t.Error("Redacted changed its receiver")
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		log        Log
		want, skip string
	}{
		{Log{Level: "info", Format: "json"}, `"msg":"shown"`, "hidden"},
		{Log{Level: "debug", Format: "text"}, `msg=hidden`, ""},
		{Log{Level: "error", Format: "text"}, ``, "shown"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l := Logger(tt.log, &buf)
		l.Debug("hidden")
		l.Info("shown")
		out := buf.String()
		if !strings.Contains(out, tt.want) || tt.skip != "" && strings.Contains(out, tt.skip) {
			t.Errorf("Logger(%+v) wrote %q", tt.log, out)
		}
	}
}
