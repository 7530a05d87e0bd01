// Package cli is the `gatehouse` command: `serve` runs a node, and every other command is a
// thin client of the admin API (internal/client), in the manner of Tailscale's CLI over its
// LocalAPI. Main builds a fresh command tree per call and takes its environment as
// arguments, so tests run it in-process and in parallel.
package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/yamlpos"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2 // also `diff --exit-code` when there are changes, as diff(1) does
)

// Environment variables read for the global flags; a flag given on the command line wins.
const (
	envAdminURL = "GATEHOUSE_ADMIN_URL"
	envToken    = "GATEHOUSE_TOKEN"
)

// env is everything one invocation works with. It replaces package-level state.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// Global flags, resolved against the environment before any command runs.
	adminURL string
	token    string
	output   string
}

// Main runs the gatehouse command with args (without the program name) and returns the
// process exit code: 0 on success, 1 on error, 2 on a usage error.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintln(stderr, "error: interrupted")
		return exitError
	}
	return e.report(cmd, err)
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "Gatehouse API management: run a node, or manage one through its admin API",
		Long: `Gatehouse is an API management system in one binary.

'gatehouse serve' runs a node. Every other command talks to a running node's admin API,
at --admin-url (env GATEHOUSE_ADMIN_URL, default ` + client.DefaultBaseURL + `) with --token
(env GATEHOUSE_TOKEN).`,
		SilenceErrors: true, // Main renders errors once, with fields and exit codes
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return e.resolveGlobals(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.adminURL, "admin-url", client.DefaultBaseURL, "admin API base URL (env "+envAdminURL+")")
	pf.StringVar(&e.token, "token", "", "admin API token (env "+envToken+")")
	pf.StringVarP(&e.output, "output", "o", "table", "output format: table, json or yaml")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		newServeCmd(e),
		newConfigCmd(e),
		newVersionCmd(e),
		newStatusCmd(e),
		newExportCmd(e),
		newDiffCmd(e),
		newApplyCmd(e),
		newAPICmd(e),
		newPlanCmd(e),
		newDeveloperCmd(e),
		newAppCmd(e),
		newKeyCmd(e),
		newSubscriptionCmd(e),
		newTokenCmd(e),
		newUserCmd(e),
		newAuditCmd(e),
		newPublishCmd(e),
	)
	makeGroup(root)
	return root
}

// resolveGlobals applies the environment to global flags not given on the command line and
// checks them.
func (e *env) resolveGlobals(cmd *cobra.Command) error {
	flags := cmd.Root().PersistentFlags()
	if v := e.getenv(envAdminURL); v != "" && !flags.Changed("admin-url") {
		e.adminURL = v
	}
	if v := e.getenv(envToken); v != "" && !flags.Changed("token") {
		e.token = v
	}
	switch e.output {
	case "table", "json", "yaml":
	default:
		return usagef("--output must be table, json or yaml, not %q", e.output)
	}
	return nil
}

// client returns a client of the admin API the global flags point at.
func (e *env) client() *client.Client { return client.New(e.adminURL, e.token, nil) }

// usageError is a mistake in how a command was invoked; it exits 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitStatus ends a command with a code and no message (diff --exit-code).
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// report prints err to stderr and returns the exit code for it.
func (e *env) report(cmd *cobra.Command, err error) int {
	if s, ok := errors.AsType[exitStatus](err); ok {
		return int(s)
	}
	if ue, ok := errors.AsType[usageError](err); ok {
		fmt.Fprintf(e.stderr, "error: %v\n", ue.error)
		if cmd != nil {
			fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	if inner, lines := problems(err); inner != nil {
		// The CLI's wrapping names what was checked; the problems follow, one per line.
		head := strings.TrimSuffix(strings.TrimSuffix(err.Error(), inner.Error()), ": ")
		fmt.Fprintf(e.stderr, "error: %s\n", cmp.Or(head, "invalid input"))
		for _, l := range lines {
			fmt.Fprintf(e.stderr, "  %s\n", l)
		}
		return exitError
	}
	ge, ok := errors.AsType[*gatehouse.Error](err)
	if !ok {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitError
	}
	// Keep the context the CLI wrapped around the API's error, but print that error's
	// field problems one per line rather than joined.
	head := err.Error()
	if strings.HasSuffix(head, ge.Error()) {
		head = strings.TrimSuffix(head, ge.Error()) + describe(ge)
	}
	fmt.Fprintf(e.stderr, "error: %s\n", head)
	for _, f := range ge.Fields {
		fmt.Fprintf(e.stderr, "  %s: %s\n", f.Field, f.Message)
	}
	if ge.Code == gatehouse.EUnauthorized && e.token == "" {
		fmt.Fprintf(e.stderr, "  hint: pass --token or set %s ('gatehouse serve' prints an admin token on first start)\n", envToken)
	}
	return exitError
}

// problems finds a list of positioned problems (in node settings or a declarative
// document: config.Error and declarative.Error are both yamlpos.Error) in err's chain and
// returns it with one line per problem.
func problems(err error) (error, []string) {
	pe, ok := errors.AsType[*yamlpos.Error](err)
	if !ok {
		return nil, nil
	}
	var lines []string
	for _, p := range pe.Problems {
		lines = append(lines, p.String())
	}
	return pe, lines
}

// describe returns a *gatehouse.Error's message without its fields, and its cause (if any)
// in brackets.
func describe(ge *gatehouse.Error) string {
	msg := ge.Message
	if msg == "" {
		msg = ge.Code
	}
	if ge.Err != nil {
		msg += " (" + ge.Err.Error() + ")"
	}
	return msg
}

// makeGroup makes every command with subcommands reject unknown subcommands as usage
// errors (cobra would print help and succeed) and name its commands when given none. Bare
// `gatehouse` prints its help, as a first step for someone new.
func makeGroup(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		makeGroup(c)
	}
	if !cmd.HasSubCommands() || cmd.RunE != nil {
		return
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			if !cmd.HasParent() {
				return cmd.Help()
			}
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			return usagef("%s needs a command: %s", cmd.CommandPath(), strings.Join(names, ", "))
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageError{errors.New(msg)}
	}
}

// article returns "a kind" or "an kind" for help texts.
func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// verbing turns a command's verb into the form error messages use: "publishing api x".
func verbing(verb string) string { return strings.TrimSuffix(verb, "e") + "ing" }

// args checks that a command got exactly the named positional arguments.
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef("missing %s", strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usagef("unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// optionalArg accepts zero or one positional argument.
func optionalArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef("unexpected argument %q", args[1])
	}
	return nil
}

// require returns a usage error naming the flags of fs that were not given.
func require(fs *pflag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if !fs.Changed(n) {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usagef("missing required flag %s", strings.Join(missing, ", "))
	}
	return nil
}
