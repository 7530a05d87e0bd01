// Package benchcli is what the bench tools' commands share: the main function, and the
// arguments of their `report` subcommand (run facts, the document to write, result files).
package benchcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/bench/internal/docsection"
)

// Main runs a command until it returns or is interrupted (SIGINT, SIGTERM: ctx ends), and
// exits 1 after printing its error, prefixed with name; -h prints only the usage.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, name+":", err)
		}
		os.Exit(1)
	}
}

// Report is a `report` subcommand's arguments: the run's facts (-meta, key=value lines),
// the document to write the section into (-docs, "" for none), and the runs, each result
// file decoded as JSON.
type Report[T any] struct {
	Meta map[string]string
	Docs string
	Runs []*T
}

// ParseReport parses `report [-meta F] [-docs F] RESULT.json...`; metaHelp says what
// writes the -meta file.
func ParseReport[T any](args []string, stderr io.Writer, metaHelp string) (*Report[T], error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	meta := fs.String("meta", "", "key=value lines about the run: "+metaHelp)
	docs := fs.String("docs", "", "write the section between the markers of this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() == 0 {
		return nil, errors.New("report: no result files")
	}
	r := &Report[T]{Docs: *docs, Meta: map[string]string{}}
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r.Runs = append(r.Runs, v)
	}
	if *meta != "" {
		m, err := docsection.ReadMeta(*meta)
		if err != nil {
			return nil, err
		}
		r.Meta = m
	}
	return r, nil
}
