package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/declarative"
)

// Declarative publishing: a document (internal/declarative) says what should exist; diff
// compares it with what the server holds, apply makes the server match through the same
// admin API calls as the other commands, and export writes the server's state as a
// document (so applying an export changes nothing).

func newExportCmd(e *env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export [-f FILE]",
		Short: "Write the APIs, plans, developers, apps and subscriptions on the server as a document",
		Long: `Write every API, plan, developer, app and subscription on the server as one YAML
document, to standard output or to FILE. Keys and admin tokens are not exported: their
secrets cannot be read back. 'gatehouse apply -f FILE' with the result changes nothing.`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			current, err := fetchState(cmd.Context(), e.client())
			if err != nil {
				return err
			}
			b, err := declarative.Encode(current)
			if err != nil {
				return fmt.Errorf("encoding the document: %w", err)
			}
			if file == "" || file == "-" {
				_, err = e.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(file, b, 0o644); err != nil {
				return fmt.Errorf("writing the document: %w", err)
			}
			fmt.Fprintf(e.stderr, "exported %d apis, %d plans, %d developers, %d apps and %d subscriptions to %s\n",
				len(current.APIs), len(current.Plans), len(current.Developers), len(current.Apps), len(current.Subscriptions), file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "write the document to this file instead of standard output")
	return cmd
}

func newDiffCmd(e *env) *cobra.Command {
	var file string
	var prune, exitCode bool
	cmd := &cobra.Command{
		Use:   "diff -f FILE [--prune] [--exit-code]",
		Short: "Show what apply would change on the server",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			changes, err := e.showPlan(cmd, e.client(), file, prune)
			if err != nil || len(changes) == 0 {
				return err
			}
			if exitCode {
				return exitStatus(exitUsage)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the desired state as a YAML document; - reads standard input (required)")
	cmd.Flags().BoolVar(&prune, "prune", false, "also show deletions of what the server has and the document lacks")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit with status 2 when there are changes (for CI)")
	return cmd
}

func newApplyCmd(e *env) *cobra.Command {
	var file string
	var prune, dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune]",
		Short: "Make the server match a document: create and update (and with --prune delete)",
		Long: `Make the server match a document. apply prints the plan (as diff does), then makes each
change in order through the admin API: creates, updates guarded by the revision it read
(so a concurrent edit fails rather than being overwritten), and with --prune deletes of
what the document lacks. It stops at the first error and says what was applied; running
it again computes a fresh plan and carries on.`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := e.client()
			changes, err := e.showPlan(cmd, c, file, prune)
			if err != nil || len(changes) == 0 {
				return err
			}
			if dryRun {
				fmt.Fprintf(e.stdout, "dry run: %s not applied\n", count(len(changes), "change"))
				return nil
			}
			fmt.Fprintln(e.stdout)
			for i, ch := range changes {
				if err := applyChange(cmd.Context(), c, ch); err != nil {
					return fmt.Errorf("apply stopped at change %d of %d (%s %s %s); %d applied, %d not: %w",
						i+1, len(changes), ch.Op, ch.Kind, ch.Key, i, len(changes)-i, err)
				}
				fmt.Fprintf(e.stdout, "✓ %s %s %s\n", pastTense(ch.Op), ch.Kind, ch.Key)
			}
			fmt.Fprintf(e.stdout, "applied %s\n", count(len(changes), "change"))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the desired state as a YAML document; - reads standard input (required)")
	cmd.Flags().BoolVar(&prune, "prune", false, "also delete what the server has and the document lacks")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	return cmd
}

// showPlan prints the plan for the document in the -f input, which cmd requires, and
// returns its changes; with none, it says so and returns none.
func (e *env) showPlan(cmd *cobra.Command, c *client.Client, file string, prune bool) ([]declarative.Change, error) {
	if err := require(cmd.Flags(), "file"); err != nil {
		return nil, err
	}
	changes, err := e.plan(cmd.Context(), c, file, prune)
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no changes")
		return nil, err
	}
	declarative.FormatChanges(e.stdout, changes)
	return changes, nil
}

// plan reads the document in file and returns the changes that would make the server
// match it, after checking that everything it refers to exists in it or on the server.
func (e *env) plan(ctx context.Context, c *client.Client, file string, prune bool) ([]declarative.Change, error) {
	data, err := e.readInput(file)
	if err != nil {
		return nil, err
	}
	desired, err := declarative.Parse(inputName(file), data)
	if err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	current, err := fetchState(ctx, c)
	if err != nil {
		return nil, err
	}
	// Under --prune, whatever the document does not name is about to be deleted, so the
	// document may refer only to itself.
	existing := current
	if prune {
		existing = nil
	}
	if err := desired.CheckRefs(existing); err != nil {
		return nil, fmt.Errorf("the document refers to what neither it nor the server has: %w", err)
	}
	return declarative.Diff(desired, current, prune), nil
}

// fetchState reads every resource a document can declare from the server, all pages.
func fetchState(ctx context.Context, c *client.Client) (*declarative.Document, error) {
	var d declarative.Document
	var err error
	if d.APIs, err = c.AllAPIs(ctx, gatehouse.APIFilter{}); err != nil {
		return nil, fmt.Errorf("fetching apis: %w", err)
	}
	if d.Plans, err = c.AllPlans(ctx, gatehouse.PlanFilter{}); err != nil {
		return nil, fmt.Errorf("fetching plans: %w", err)
	}
	if d.Developers, err = c.AllDevelopers(ctx, gatehouse.DeveloperFilter{}); err != nil {
		return nil, fmt.Errorf("fetching developers: %w", err)
	}
	if d.Apps, err = c.AllApps(ctx, gatehouse.AppFilter{}); err != nil {
		return nil, fmt.Errorf("fetching apps: %w", err)
	}
	if d.Subscriptions, err = c.AllSubscriptions(ctx, gatehouse.SubscriptionFilter{}); err != nil {
		return nil, fmt.Errorf("fetching subscriptions: %w", err)
	}
	return &d, nil
}

// applier makes one change of its kind through the client.
type applier interface {
	apply(ctx context.Context, c *client.Client, ch declarative.Change) error
}

// applyChange makes one change with the calls of its kind's resource spec.
func applyChange(ctx context.Context, c *client.Client, ch declarative.Change) error {
	kinds := map[string]applier{
		gatehouse.KindAPI:          apiResource(),
		gatehouse.KindPlan:         planResource(),
		gatehouse.KindDeveloper:    developerResource(),
		gatehouse.KindApp:          appResource(),
		gatehouse.KindSubscription: subscriptionResource(),
	}
	a, ok := kinds[ch.Kind]
	if !ok {
		return fmt.Errorf("cannot apply changes to a %q", ch.Kind)
	}
	return a.apply(ctx, c, ch)
}

// apply makes ch: a create posts the desired value; an update and a delete carry the
// revision of the value diff compared against as If-Match, so that anything changed on
// the server since the plan was made fails the change instead of being overwritten.
func (r *resource[T]) apply(ctx context.Context, c *client.Client, ch declarative.Change) error {
	desired, _ := ch.Desired.(T)
	current, _ := ch.Current.(T)
	var err error
	switch ch.Op {
	case declarative.OpCreate:
		_, err = r.create(c, ctx, desired)
	case declarative.OpUpdate:
		if r.adopt != nil {
			desired = r.adopt(desired, current)
		}
		_, err = r.update(c, ctx, desired, r.revision(current))
	case declarative.OpDelete:
		err = r.delete(c, ctx, r.id(current), r.revision(current))
	default:
		err = fmt.Errorf("unknown change %q", ch.Op)
	}
	return err
}

func pastTense(op string) string {
	if op == "" {
		return op
	}
	if op[len(op)-1] == 'e' {
		return op + "d"
	}
	return op + "ed"
}

// count formats "1 change", "2 changes".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
