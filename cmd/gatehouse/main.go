// Command gatehouse is Gatehouse in one binary: `gatehouse serve` runs a node, and every
// other command manages one through its admin API. All of it lives in internal/cli; main
// only hands over the process's arguments, environment and streams.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
)

func main() {
	// A first SIGINT or SIGTERM cancels ctx: serve drains in-flight requests and client
	// commands stop. Once it has, the default handling is back, so that a second signal
	// ends a drain that takes too long.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
