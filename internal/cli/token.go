package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type token = *gatehouse.AdminToken

func newTokenCmd(e *env) *cobra.Command {
	r := &resource[token]{
		kind: "admin token", arg: "ID",
		columns: []column[token]{
			{"ID", func(t token) string { return t.ID }},
			{"NAME", func(t token) string { return t.Name }},
			{"ROLE", func(t token) string { return t.Role }},
			{"PREFIX", func(t token) string { return t.Prefix }},
			{"EXPIRES", func(t token) string { return formatTimePtr(t.ExpiresAt) }},
			{"LAST USED", func(t token) string { return formatTimePtr(t.LastUsedAt) }},
		},
		delete: func(c *client.Client, ctx context.Context, id string, _ int64) error {
			return c.DeleteAdminToken(ctx, id)
		},
	}
	list := listCmd(e, r, listing[token, gatehouse.ListOptions]{
		page:   (*client.Client).AdminTokens,
		all:    (*client.Client).AllAdminTokens,
		filter: func(o gatehouse.ListOptions) gatehouse.ListOptions { return o },
	})
	cmd := &cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Manage admin tokens: who may call the admin API",
	}
	cmd.AddCommand(list, newTokenCreateCmd(e), deleteCmd(e, r))
	return cmd
}

func newTokenCreateCmd(e *env) *cobra.Command {
	var req client.AdminTokenRequest
	var expiresIn gatehouse.Duration
	var expiresAt string
	cmd := &cobra.Command{
		Use:   "create --name NAME --role admin|editor|viewer [--expires-in 720h | --expires-at TIME]",
		Short: "Create an admin token and show its secret, once",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := require(cmd.Flags(), "name", "role"); err != nil {
				return err
			}
			switch {
			case expiresAt != "" && expiresIn != 0:
				return usagef("give --expires-in or --expires-at, not both")
			case expiresAt != "":
				t, err := parseTime(expiresAt, time.Now())
				if err != nil {
					return usagef("--expires-at: %v", err)
				}
				req.ExpiresAt = &t
			case expiresIn != 0:
				t := time.Now().Add(expiresIn.D()).UTC().Truncate(time.Second)
				req.ExpiresAt = &t
			}
			t, err := e.client().CreateAdminToken(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("creating admin token %s: %w", req.Name, err)
			}
			if e.output != "table" {
				fmt.Fprintln(e.stderr, `note: "token" is the secret; it is shown only this once`)
				return e.printData(t)
			}
			fmt.Fprintf(e.stdout, "created admin token %s (%s, role %s, expires %s)\n\n    %s\n\n",
				t.ID, t.Name, t.Role, formatTimePtr(t.ExpiresAt), t.Secret)
			fmt.Fprintf(e.stdout, "This is the only time the token is shown: store it now. Use it with --token or %s.\n", envToken)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "a label for the token, such as who or what uses it (required)")
	cmd.Flags().StringVar(&req.Role, "role", "", "admin (every call), editor (all but admin credentials) or viewer (GET only) (required)")
	cmd.Flags().Var(durationFlag{&expiresIn}, "expires-in", "expire the token this long after creation (720h); default never")
	cmd.Flags().StringVar(&expiresAt, "expires-at", "", "expire the token at this time (2027-01-31 or RFC 3339)")
	return cmd
}
