// Command limitcheck measures how closely a rate limit shared by several gateway nodes
// holds (bench/redis-limit.sh, docs/benchmarks.md). It sends GET requests at a fixed,
// open-loop rate split evenly across the nodes, counts 200s, 429s and anything else, and
// compares the 200s with what GCRA allows over the time the load ran:
//
//	expected = limit × D / window + burst
//
// where D runs from the first to the last request actually sent. That holds when the
// offered rate exceeds the limit and the bucket is full when the load starts: a warm-up
// (-warmup) opens the connections, then limitcheck waits burst × window / limit (and half
// a second) for the bucket to refill before the measured run.
//
//	limitcheck [flags] URL...                 the load; JSON summary on stdout, a line on stderr
//	limitcheck -origin 127.0.0.1:0 [-addr-file F]
//	                                          a tiny origin: 200 "hello\n" for every request
//	limitcheck report [-meta F] [-docs F] RESULT.json...
//	                                          the markdown section of docs/benchmarks.md
//
// The load exits 1 when the run is invalid (a response other than 200 or 429, a transport
// error, an offered rate not above the limit): such counts say nothing about the limiter.
// A result outside -max-error is a FAIL, which is a result, not an error: it exits 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/benchcli"
	"github.com/gatehouse-dev/gatehouse/bench/internal/cpuuse"
	"github.com/gatehouse-dev/gatehouse/bench/internal/loadgen"
)

func main() { benchcli.Main("limitcheck", realMain) }

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return report(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("limitcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  limitcheck [flags] URL...         send the load to these nodes (proxy base URLs)
  limitcheck -origin ADDR [-addr-file F]
  limitcheck report [-meta F] [-docs F] RESULT.json...

Flags:
`)
		fs.PrintDefaults()
	}
	cfg := Config{Header: http.Header{}}
	var probe cpuuse.Probe
	fs.Float64Var(&cfg.Rate, "rate", 5000, "total requests per second, split evenly across the nodes")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long to send")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "send this long first, uncounted, then wait for the bucket to refill (0: no warm-up)")
	fs.IntVar(&cfg.Connections, "connections", 32, "keep-alive connections (and senders) per node")
	fs.Func("header", `a request header "Name: value" (repeatable)`, loadgen.HeaderFlag(cfg.Header))
	fs.Int64Var(&cfg.Limit, "limit", 2000, "the rate-limit policy's limit (for the expected count)")
	fs.DurationVar(&cfg.Window, "window", time.Second, "the policy's window")
	fs.Int64Var(&cfg.Burst, "burst", 0, "the policy's burst; 0 means the limit, as the policy's default")
	fs.Float64Var(&cfg.MaxError, "max-error", 2, "PASS when |allowed - expected| is within this percentage of expected")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout (a timeout is a transport error)")
	fs.Func("pid", "label=PID: report this process's CPU use over the run (repeatable; Linux)", probe.AddPID)
	fs.StringVar(&probe.RedisURL, "redis", "", "report this Redis's CPU use over the run (INFO cpu), redis://host:port")
	cpu := fs.Bool("cpu", false, "report where the machine's CPU went over the run (/proc/stat; implied by -pid and -redis)")
	out := fs.String("out", "", "also write the JSON summary to this file")
	fs.StringVar(&cfg.Trace, "trace", "", "write every request (node, due, sent, latency, status) to this CSV file")
	origin := fs.String("origin", "", "serve as the origin on this address (such as 127.0.0.1:0) instead of sending load")
	addrFile := fs.String("addr-file", "", "with -origin: write the bound host:port to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *origin != "" {
		if fs.NArg() > 0 {
			return errors.New("-origin takes no URLs")
		}
		return loadgen.ServeHello(ctx, "limitcheck", *origin, *addrFile, stderr)
	}
	cfg.URLs = fs.Args()
	if err := cfg.Check(); err != nil {
		fs.Usage()
		return err
	}
	cfg.Settle = cfg.RefillTime() + 500*time.Millisecond
	if *cpu || len(probe.PIDs) > 0 || probe.RedisURL != "" {
		cfg.CPU = &probe
	}
	fmt.Fprintf(stderr, "limitcheck: %.0f req/s across %d node(s), %d connections each: %s warm-up, %s pause, %s measured\n",
		cfg.Rate, len(cfg.URLs), cfg.Connections, cfg.Warmup, cfg.Settle, cfg.Duration)
	s, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := stdout.Write(b); err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(stderr, s.Line())
	if !s.Valid {
		return fmt.Errorf("invalid run: %s", strings.Join(s.Invalid, "; "))
	}
	return nil
}

// Check validates the configuration and normalizes the URLs (a bare base URL gets "/").
func (c *Config) Check() error {
	if len(c.URLs) == 0 {
		return errors.New("no URLs: give the nodes' proxy base URLs")
	}
	for i, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("not an http(s) URL: %q", raw)
		}
		if u.Path == "" {
			u.Path = "/"
		}
		c.URLs[i] = u.String()
	}
	switch {
	case !(c.Rate > 0) || c.Rate > 1e6:
		return fmt.Errorf("-rate: want 0 < rate ≤ 1e6, got %v", c.Rate)
	case c.Duration <= 0:
		return errors.New("-duration: must be positive")
	case c.Connections < 1 || c.Connections > 10000:
		return fmt.Errorf("-connections: want 1 to 10000, got %d", c.Connections)
	case c.Limit <= 0 || c.Window <= 0 || c.Burst < 0:
		return errors.New("-limit and -window must be positive, -burst not negative")
	case !(c.MaxError > 0):
		return errors.New("-max-error: must be positive")
	case c.Timeout <= 0:
		return errors.New("-timeout: must be positive")
	case c.Warmup < 0:
		return errors.New("-warmup: must not be negative")
	}
	if n := c.Rate * c.Duration.Seconds(); n < 2 || n > 1e8 {
		return fmt.Errorf("rate × duration is %.0f requests; want 2 to 1e8", n)
	}
	return nil
}

// RefillTime is how long an emptied bucket takes to be full again: burst × window / limit.
func (c *Config) RefillTime() time.Duration {
	burst := c.Burst
	if burst == 0 {
		burst = c.Limit
	}
	return time.Duration(float64(c.Window) * float64(burst) / float64(c.Limit))
}
