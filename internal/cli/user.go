package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// Admin users sign in to the dashboard with a password; tokens are for programs.

type adminUser = *client.AdminUser

var userColumns = []column[adminUser]{
	{"NAME", func(u adminUser) string { return u.Name }},
	{"ROLE", func(u adminUser) string { return u.Role }},
	{"CREATED", func(u adminUser) string { return formatTime(u.CreatedAt) }},
	{"UPDATED", func(u adminUser) string { return formatTime(u.UpdatedAt) }},
}

func newUserCmd(e *env) *cobra.Command {
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the dashboard's users",
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			us, err := e.client().AdminUsers(cmd.Context())
			if err != nil {
				return err
			}
			if e.output != "table" {
				return e.printData(us)
			}
			return printList(e, us, userColumns)
		},
	}
	var req client.AdminUserRequest
	create := &cobra.Command{
		Use:   "create --name NAME --role admin|editor|viewer --password-stdin",
		Short: "Create a dashboard user; the password is read from stdin (one line)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := require(cmd.Flags(), "name", "role", "password-stdin"); err != nil {
				return err
			}
			pw, err := e.readPassword()
			if err != nil {
				return err
			}
			req.Password = pw
			u, err := e.client().CreateAdminUser(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("creating admin user %s: %w", req.Name, err)
			}
			return e.printDone(u, "created admin user %s (%s): they sign in at the dashboard, /ui/ on the admin listener", u.Name, u.Role)
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "the name to sign in with (required)")
	create.Flags().StringVar(&req.Role, "role", "", "admin, editor (all but admin credentials) or viewer (read only) (required)")
	create.Flags().Bool("password-stdin", false, "read the password from stdin (required: passwords never go on the command line)")

	var upd client.AdminUserRequest
	var newPassword bool
	set := &cobra.Command{
		Use:   "set NAME [--role ROLE] [--password-stdin]",
		Short: "Change a dashboard user's role or password (their sessions end)",
		Args:  args("NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if upd.Role == "" && !newPassword {
				return usagef("give --role, --password-stdin or both")
			}
			if newPassword {
				pw, err := e.readPassword()
				if err != nil {
					return err
				}
				upd.Password = pw
			}
			u, err := e.client().UpdateAdminUser(cmd.Context(), a[0], upd)
			if err != nil {
				return fmt.Errorf("changing admin user %s: %w", a[0], err)
			}
			return e.printDone(u, "changed admin user %s (%s); their dashboard sessions ended", u.Name, u.Role)
		},
	}
	set.Flags().StringVar(&upd.Role, "role", "", "the new role: admin, editor or viewer")
	set.Flags().BoolVar(&newPassword, "password-stdin", false, "read a new password from stdin")

	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a dashboard user (their sessions end at once)",
		Args:    args("NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := e.client().DeleteAdminUser(cmd.Context(), a[0]); err != nil {
				return fmt.Errorf("deleting admin user %s: %w", a[0], err)
			}
			return e.printDone(nil, "deleted admin user %s", a[0])
		},
	}
	cmd := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Manage the dashboard's users (people; admin tokens are for programs)",
	}
	cmd.AddCommand(list, create, set, del)
	return cmd
}

// readPassword reads one line from stdin, without its line end.
func (e *env) readPassword() (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil {
			return "", usagef("no password on stdin: pipe it in, e.g. printf '%%s\\n' \"$PASSWORD\" | gatehouse user create ...")
		}
		return "", usagef("the password on stdin is empty")
	}
	return line, nil
}

func newResetLinkCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "reset-link EMAIL",
		Short: "Make a single-use portal password reset link for a developer (valid for an hour)",
		Args:  args("EMAIL"),
		RunE: func(cmd *cobra.Command, a []string) error {
			l, err := e.client().ResetLink(cmd.Context(), a[0])
			if err != nil {
				return fmt.Errorf("making a reset link for %s: %w", a[0], err)
			}
			if e.output != "table" {
				return e.printData(l)
			}
			fmt.Fprintf(e.stdout, "reset link for %s (works once, until %s):\n\n    %s\n\nSend it to the developer; it is not shown again.\n",
				a[0], formatTime(l.ExpiresAt), l.URL)
			return nil
		},
	}
}
