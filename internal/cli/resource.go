package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// resource describes one kind of resource to the generic command builders below. The
// calls are method expressions of *client.Client, such as (*client.Client).API, so each
// kind's file only lists what differs.
type resource[T any] struct {
	kind     string // as in messages: "api"
	plural   string // "apis"; kind + "s" when empty
	arg      string // the positional argument that names one: "NAME", "EMAIL", "ID"
	id       func(T) string
	revision func(T) int64
	columns  []column[T]

	get    func(*client.Client, context.Context, string) (T, error)
	create func(*client.Client, context.Context, T) (T, error)
	update func(*client.Client, context.Context, T, int64) (T, error)
	delete func(*client.Client, context.Context, string, int64) error

	// adopt, when set, gives a desired value the server identity of the current one, for
	// kinds that declarative documents name by something else than their id.
	adopt func(desired, current T) T
}

func (r *resource[T]) kinds() string {
	if r.plural != "" {
		return r.plural
	}
	return r.kind + "s"
}

// listing is how to list a kind: one page, or all pages, for a filter made from the
// paging options (and whatever flags the filter function captured).
type listing[T, F any] struct {
	page   func(*client.Client, context.Context, F) (gatehouse.Page[T], error)
	all    func(*client.Client, context.Context, F) ([]T, error)
	filter func(gatehouse.ListOptions) F
}

// listCmd lists every resource of a kind, or one page of them with --limit.
func listCmd[T, F any](e *env, r *resource[T], l listing[T, F]) *cobra.Command {
	var o gatehouse.ListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List " + r.kinds(),
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := e.client()
			if o.Limit == 0 {
				items, err := l.all(c, cmd.Context(), l.filter(o))
				if err != nil {
					return fmt.Errorf("listing %s: %w", r.kinds(), err)
				}
				return printList(e, items, r.columns)
			}
			page, err := l.page(c, cmd.Context(), l.filter(o))
			if err != nil {
				return fmt.Errorf("listing %s: %w", r.kinds(), err)
			}
			if err := printList(e, page.Items, r.columns); err != nil {
				return err
			}
			if page.Next != "" {
				fmt.Fprintf(e.stderr, "more %s: add --after %s\n", r.kinds(), page.Next)
			}
			return nil
		},
	}
	addPaging(cmd, &o)
	return cmd
}

// addPaging defines --limit and --after. Without --limit, lists fetch every page.
func addPaging(cmd *cobra.Command, o *gatehouse.ListOptions) {
	cmd.Flags().IntVar(&o.Limit, "limit", 0, fmt.Sprintf("fetch one page of at most this many (1-%d) instead of all", gatehouse.MaxPageSize))
	cmd.Flags().StringVar(&o.After, "after", "", "start after this cursor (printed by a list with --limit)")
}

// getCmd shows one resource.
func getCmd[T any](e *env, r *resource[T]) *cobra.Command {
	return &cobra.Command{
		Use:   "get " + r.arg,
		Short: "Show one " + r.kind + " (-o yaml for every field)",
		Args:  args(r.arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := r.get(e.client(), cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printOne(e, v, r.columns)
		},
	}
}

// deleteCmd deletes one resource.
func deleteCmd[T any](e *env, r *resource[T]) *cobra.Command {
	return &cobra.Command{
		Use:     "delete " + r.arg,
		Aliases: []string{"rm"},
		Short:   "Delete " + article(r.kind),
		Args:    args(r.arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.delete(e.client(), cmd.Context(), args[0], 0); err != nil {
				return err
			}
			return e.printDone(nil, "deleted %s %s", r.kind, args[0])
		},
	}
}

// createCmd creates a resource from a YAML or JSON file.
func createCmd[T any](e *env, r *resource[T]) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create " + article(r.kind) + " from a YAML or JSON file",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := readResource[T](e, cmd, file)
			if err != nil {
				return err
			}
			out, err := r.create(e.client(), cmd.Context(), v)
			if err != nil {
				return err
			}
			return e.printDone(out, "created %s %s (revision %d)", r.kind, r.id(out), r.revision(out))
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the "+r.kind+" as YAML or JSON; - reads standard input (required)")
	return cmd
}

// updateCmd replaces a resource with the content of a file. A revision in the file (as
// `get -o yaml` writes) is sent as If-Match, so an edit made from a stale copy fails
// instead of undoing someone else's change.
func updateCmd[T any](e *env, r *resource[T]) *cobra.Command {
	var file string
	var force bool
	cmd := &cobra.Command{
		Use:   "update -f FILE",
		Short: "Replace " + article(r.kind) + " with the content of a YAML or JSON file",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := readResource[T](e, cmd, file)
			if err != nil {
				return err
			}
			if r.id(v) == "" {
				return fmt.Errorf("%s does not name the %s to update", inputName(file), r.kind)
			}
			rev := r.revision(v)
			if force {
				rev = 0
			}
			out, err := r.update(e.client(), cmd.Context(), v, rev)
			if gatehouse.ErrorCode(err) == gatehouse.EPreconditionFailed {
				return fmt.Errorf("%s %s changed since revision %d in %s; get it again, or use --force: %w",
					r.kind, r.id(v), rev, inputName(file), err)
			}
			if err != nil {
				return err
			}
			return e.printDone(out, "updated %s %s (revision %d)", r.kind, r.id(out), r.revision(out))
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the "+r.kind+" as YAML or JSON; - reads standard input (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace even if the "+r.kind+" changed since the revision in the file")
	return cmd
}

// readResource reads one resource of type T from the -f input, which cmd requires.
func readResource[T any](e *env, cmd *cobra.Command, file string) (T, error) {
	var v T
	if err := require(cmd.Flags(), "file"); err != nil {
		return v, err
	}
	data, err := e.readInput(file)
	if err != nil {
		return v, err
	}
	err = decodeResource(file, data, &v)
	return v, err
}
