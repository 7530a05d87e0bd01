// Command rtbench measures SSE fan-out through a GRIP proxy (bench/realtime.sh,
// docs/benchmarks.md): it opens N Server-Sent Events subscribers on one channel, then
// publishes numbered messages to the proxy's Pushpin-compatible publish API and times every
// delivery from the publish to its receipt.
//
//	rtbench [flags]                      the run; JSON summary on stdout, progress on stderr
//	rtbench report [-meta F] [-docs F] RESULT.json...
//	                                     the markdown section of docs/benchmarks.md
//
// The run, in order:
//
//  1. reads the resident memory (VmRSS) of the -pid processes and all their descendants;
//  2. opens -n subscribers (HTTP/1.1 GET -url, -concurrency at a time), each connected once
//     its 200 and the origin's first event have arrived; every failure is counted by cause,
//     and the time to connect them is taken; then the failed ones try again (-retries, a
//     few at a time), so that the fan-out is measured with every subscriber;
//  3. idles -idle, reads the memory again: (after − before) / connected is the memory per
//     held connection;
//  4. the paced phase: -messages messages at -rate per second (0: each as soon as the
//     previous publish has been answered), then waits until every subscriber has every
//     message, or nothing has arrived for -drain;
//  5. the flood phase: -flood more messages, each as soon as the previous publish has been
//     answered, and the same wait: deliveries per second = deliveries / (last receipt −
//     first publish);
//  6. checks every subscriber for lost, duplicated and reordered messages.
//
// Message k is published with id "<run>-k", prev-id "<run>-(k-1)", and the http-stream
// content "data: k <unix ns when sent>\n\n"; a subscriber's latency for it is its receive
// time minus that timestamp (one process, one clock). Only 127.0.0.1 is dialled.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rtbench:", err)
		}
		os.Exit(1)
	}
}

// header is one "Name: value" request header.
type header struct{ name, value string }

func parseHeader(s string) (header, error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name+value, "\r\n") {
		return header{}, fmt.Errorf(`want "Name: value", got %q`, s)
	}
	return header{name, strings.TrimSpace(value)}, nil
}

// Config is one run's parameters.
type Config struct {
	Label            string
	URL              string
	N                int
	Concurrency      int
	Headers          []header
	ConnectTimeout   time.Duration
	Retries          int
	RetryConcurrency int
	PublishURL       string
	PublishHeaders   []header
	Channel          string
	Messages         int
	Rate             float64
	Flood            int
	Duration         time.Duration
	Drain            time.Duration
	Idle             time.Duration
	Hold             time.Duration
	PrevID           bool
	PIDs             []labeledPID
}

type labeledPID struct {
	Label string
	PID   int
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return report(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("rtbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  rtbench [flags]                          subscribe, publish, measure; JSON on stdout
  rtbench report [-meta F] [-docs F] RESULT.json...

Flags:
`)
		fs.PrintDefaults()
	}
	var cfg Config
	var out string
	fs.StringVar(&cfg.Label, "label", "target", "the system's name in the summary")
	fs.StringVar(&cfg.URL, "url", "", "SSE URL the subscribers GET (http://127.0.0.1:PORT/...)")
	fs.IntVar(&cfg.N, "n", 10000, "subscribers")
	fs.IntVar(&cfg.Concurrency, "concurrency", 10000, "connection attempts in flight at once")
	fs.Func("header", `a subscriber request header "Name: value" (repeatable)`, func(s string) error {
		h, err := parseHeader(s)
		cfg.Headers = append(cfg.Headers, h)
		return err
	})
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "a subscriber not connected within this is a failure")
	fs.IntVar(&cfg.Retries, "retries", 5, "subscribers that failed to connect try again up to this many times, after the first attempt's figures are taken")
	fs.IntVar(&cfg.RetryConcurrency, "retry-concurrency", 100, "connection attempts in flight at once on a retry")
	fs.StringVar(&cfg.PublishURL, "publish", "", "publish endpoint, Pushpin's POST /publish/ (http://127.0.0.1:PORT/publish/)")
	fs.Func("publish-header", `a publish request header "Name: value" (repeatable), e.g. "Authorization: Bearer T"`, func(s string) error {
		h, err := parseHeader(s)
		cfg.PublishHeaders = append(cfg.PublishHeaders, h)
		return err
	})
	fs.StringVar(&cfg.Channel, "channel", "bench", "channel to publish to (the origin's Grip-Channel)")
	fs.IntVar(&cfg.Messages, "messages", 200, "messages of the paced phase")
	fs.Float64Var(&cfg.Rate, "rate", 1, "messages per second of the paced phase (0: as fast as the publish endpoint answers)")
	fs.IntVar(&cfg.Flood, "flood", 0, "messages of the flood phase, each published as soon as the previous publish is answered (0: no flood phase)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "cap on the publishing phases, from the first publish to the end of the last wait")
	fs.DurationVar(&cfg.Drain, "drain", 15*time.Second, "after a phase's last publish, stop waiting once no message has arrived for this long")
	fs.DurationVar(&cfg.Idle, "idle", 3*time.Second, "idle time between the last connection and the second memory reading")
	fs.DurationVar(&cfg.Hold, "hold", 0, "after the second memory reading, stay connected and idle this long before publishing (time to take a heap profile)")
	fs.BoolVar(&cfg.PrevID, "prev-id", true, "give every message but the first the previous one's id as prev-id")
	fs.Func("pid", "LABEL=PID of a server process; its and its descendants' memory and CPU are read (repeatable)", func(s string) error {
		label, p, ok := strings.Cut(s, "=")
		pid, err := strconv.Atoi(p)
		if !ok || label == "" || err != nil || pid <= 0 {
			return fmt.Errorf("want LABEL=PID, got %q", s)
		}
		cfg.PIDs = append(cfg.PIDs, labeledPID{label, pid})
		return nil
	})
	fs.StringVar(&out, "out", "", "also write the JSON summary to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	s, err := run(ctx, &cfg, stderr)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
	}
	_, err = stdout.Write(b)
	return err
}

func (c *Config) validate() error {
	for _, u := range []struct{ flag, v string }{{"-url", c.URL}, {"-publish", c.PublishURL}} {
		if u.v == "" {
			return fmt.Errorf("%s is required", u.flag)
		}
		pu, err := url.Parse(u.v)
		if err != nil || pu.Scheme != "http" {
			return fmt.Errorf("%s %q: want an http:// URL", u.flag, u.v)
		}
		if host := pu.Hostname(); host != "127.0.0.1" {
			return fmt.Errorf("%s %q: only 127.0.0.1 is dialled", u.flag, u.v)
		}
		if pu.Port() == "" {
			return fmt.Errorf("%s %q: the port is required", u.flag, u.v)
		}
	}
	switch {
	case c.N < 1:
		return errors.New("-n must be at least 1")
	case c.Concurrency < 1 || c.RetryConcurrency < 1:
		return errors.New("-concurrency and -retry-concurrency must be at least 1")
	case c.Retries < 0:
		return errors.New("-retries must not be negative")
	case c.Messages < 0 || c.Flood < 0 || c.Messages+c.Flood < 1:
		return errors.New("-messages and -flood: at least one message in all")
	case c.Rate < 0:
		return errors.New("-rate must not be negative")
	case c.Duration <= 0 || c.Drain <= 0 || c.ConnectTimeout <= 0 || c.Idle < 0 || c.Hold < 0:
		return errors.New("-duration, -drain and -connect-timeout must be positive")
	case c.Channel == "":
		return errors.New("-channel must not be empty")
	}
	return nil
}

// addrOf is the host:port of an http:// URL.
func addrOf(raw string) string {
	u, _ := url.Parse(raw)
	return net.JoinHostPort(u.Hostname(), u.Port())
}
