// Command loadcount checks that Gatehouse's analytics count every request under load
// (bench/analytics-load.sh, docs/benchmarks.md): it sends GET requests to one URL at a
// fixed, open-loop rate over keep-alive connections, counts every request sent and every
// answer by status, then asks the node's query API how many requests the API served
// (GET /v1/analytics/totals?api=NAME over the load's time, widened by a minute each side)
// until that count equals its own count of answers, or a timeout passes.
//
//	loadcount [flags] -admin URL -api NAME URL   the load and the check; JSON on stdout, a line on stderr
//	loadcount origin [-addr 127.0.0.1:0] [-addr-file F]
//	                                             a tiny origin: 200 "hello\n" for every request
//	loadcount report [-meta F] [-docs F] RESULT.json...
//	                                             the markdown section of docs/benchmarks.md
//
// The count the query API must reach is its count over the same range before the load
// (the baseline: normally 0) plus every answer, whatever its status. A request that got no
// answer (a transport error) may or may not have been counted by the gateway: the run
// says so. The load exits 1 when the counts disagree.
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

func main() { benchcli.Main("loadcount", realMain) }

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "origin":
			return origin(ctx, args[1:], stderr)
		case "report":
			return report(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("loadcount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  loadcount [flags] -admin URL -api NAME URL   send the load to URL, then check the node's counts
  loadcount origin [-addr 127.0.0.1:0] [-addr-file F]
  loadcount report [-meta F] [-docs F] RESULT.json...

Flags:
`)
		fs.PrintDefaults()
	}
	cfg := LoadConfig{Header: http.Header{}}
	var probe cpuuse.Probe
	check := Check{Admin: Admin{Client: loadgen.NewClient(4, 10*time.Second)}}
	fs.Float64Var(&cfg.Rate, "rate", 20000, "requests per second, open-loop")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "how long to send")
	fs.IntVar(&cfg.Connections, "connections", 128, "keep-alive connections (and senders)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout (a timeout is a transport error)")
	fs.Func("header", `a request header "Name: value" (repeatable), such as an API key`, loadgen.HeaderFlag(cfg.Header))
	fs.StringVar(&check.Admin.Base, "admin", "", "the node's admin listener, http://host:port")
	fs.StringVar(&check.Admin.Token, "token", "", "an admin token (default: $GATEHOUSE_TOKEN)")
	fs.StringVar(&check.Admin.API, "api", "", "the API's name, the query's api filter")
	fs.DurationVar(&check.Timeout, "poll-timeout", 30*time.Second, "how long to wait for the query API's count to equal the answers")
	fs.DurationVar(&check.Interval, "poll-interval", 100*time.Millisecond, "how often to ask meanwhile")
	fs.DurationVar(&check.Recheck, "recheck", 6*time.Second, "once equal, ask again this much later, after the node flushed its rollups (0: no)")
	label := fs.String("label", "", "the scenario's name, for the report")
	fs.Func("pid", "label=PID: report this process's CPU use over the load (repeatable; Linux)", probe.AddPID)
	out := fs.String("out", "", "also write the JSON result to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one URL, the API's URL on the proxy listener")
	}
	cfg.URL = fs.Arg(0)
	if check.Admin.Token == "" {
		check.Admin.Token = os.Getenv("GATEHOUSE_TOKEN")
	}
	if err := validate(cfg, check); err != nil {
		fs.Usage()
		return err
	}
	if len(probe.PIDs) > 0 {
		check.CPU = &probe
	}
	fmt.Fprintf(stderr, "loadcount: %.0f req/s for %s over %d connections to %s; then the count of API %q on %s\n",
		cfg.Rate, cfg.Duration, cfg.Connections, cfg.URL, check.Admin.API, check.Admin.Base)
	r, err := check.Run(ctx, cfg)
	if err != nil {
		return err
	}
	r.Label = *label
	b, err := json.MarshalIndent(r, "", "  ")
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
	fmt.Fprintln(stderr, r.Line())
	if !r.OK() {
		return fmt.Errorf("counts disagree: %s", strings.Join(r.Problems, "; "))
	}
	return nil
}

func validate(cfg LoadConfig, c Check) error {
	for _, raw := range []string{cfg.URL, c.Admin.Base} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("not an http(s) URL: %q", raw)
		}
	}
	switch {
	case c.Admin.API == "":
		return errors.New("-api: the API's name is needed for the query")
	case c.Admin.Token == "":
		return errors.New("-token or $GATEHOUSE_TOKEN: an admin token is needed for the query")
	case !(cfg.Rate > 0) || cfg.Rate > 1e6:
		return fmt.Errorf("-rate: want 0 < rate ≤ 1e6, got %v", cfg.Rate)
	case cfg.Duration <= 0:
		return errors.New("-duration: must be positive")
	case cfg.Connections < 1 || cfg.Connections > 10000:
		return fmt.Errorf("-connections: want 1 to 10000, got %d", cfg.Connections)
	case cfg.Timeout <= 0 || c.Timeout <= 0 || c.Interval <= 0 || c.Recheck < 0:
		return errors.New("-timeout, -poll-timeout and -poll-interval must be positive, -recheck not negative")
	}
	if n := cfg.Rate * cfg.Duration.Seconds(); n < 1 || n > 1e8 {
		return fmt.Errorf("rate × duration is %.0f requests; want 1 to 1e8", n)
	}
	return nil
}

// origin serves 200 "hello\n" until interrupted.
func origin(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadcount origin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	addrFile := fs.String("addr-file", "", "write the bound host:port to this file once listening")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("origin takes no arguments")
	}
	return loadgen.ServeHello(ctx, "loadcount", *addr, *addrFile, stderr)
}
