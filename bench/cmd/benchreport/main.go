// Command benchreport is the Go half of the gateway benchmark (bench/run.sh): it picks free
// loopback ports, and turns the raw results of a run (wrk output and CPU ticks read from
// /proc) into the markdown table of docs/benchmarks.md, with ratios to nginx and the
// PASS/FAIL lines of the figure.
//
//	benchreport freeport N           print N free 127.0.0.1 ports, one a line
//	benchreport report -dir D [-docs F]
//
// report exits 1 when a measured target had errors (non-2xx responses, socket errors):
// such numbers are not results, and the document is left alone. A FAIL against the figure
// is a result, not an error: it exits 0.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	if err := realMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func realMain(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: benchreport freeport N | report -dir DIR [-docs FILE]")
	}
	switch args[0] {
	case "freeport":
		n := 1
		if len(args) > 1 {
			var err error
			if n, err = strconv.Atoi(args[1]); err != nil || n < 1 || n > 100 {
				return fmt.Errorf("freeport: bad count %q", args[1])
			}
		}
		return freePorts(stdout, n)
	case "report":
		return report(args[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// freePorts asks the kernel for n distinct free ports on 127.0.0.1. The listeners are held
// until all n are chosen, so the ports differ; another process may still take one before
// the server binds it, which run.sh notices when the server fails to start.
func freePorts(w io.Writer, n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Fprintln(w, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

func report(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the run directory (results.tsv, meta.env, wrk outputs)")
	docs := fs.String("docs", "", "write the section between the markers of this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("report: -dir is required")
	}
	r, err := loadRun(*dir)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md)
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("\n\n!!! ERRORS DURING THE RUN: these numbers are not valid results !!!\n%w", err)
	}
	fmt.Fprintln(stdout)
	for _, c := range r.Checks() {
		fmt.Fprintf(stdout, "%s  %s\n", c.Status, c.Text)
	}
	if *docs != "" {
		if err := updateDoc(*docs, md.String()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote the results into %s\n", *docs)
	}
	return nil
}
