package cli

import (
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type developer = *gatehouse.Developer

func developerResource() *resource[developer] {
	return &resource[developer]{
		kind: "developer", arg: "EMAIL",
		id:       func(d developer) string { return d.Email },
		revision: func(d developer) int64 { return d.Revision },
		columns: []column[developer]{
			{"EMAIL", func(d developer) string { return d.Email }},
			{"NAME", func(d developer) string { return d.Name }},
			{"STATUS", func(d developer) string { return d.Status }},
			{"CREATED", func(d developer) string { return formatTime(d.CreatedAt) }},
		},
		get:    (*client.Client).Developer,
		create: (*client.Client).CreateDeveloper,
		update: (*client.Client).UpdateDeveloper,
		delete: (*client.Client).DeleteDeveloper,
	}
}

func newDeveloperCmd(e *env) *cobra.Command {
	r := developerResource()
	var status string
	list := listCmd(e, r, listing[developer, gatehouse.DeveloperFilter]{
		page: (*client.Client).Developers,
		all:  (*client.Client).AllDevelopers,
		filter: func(o gatehouse.ListOptions) gatehouse.DeveloperFilter {
			return gatehouse.DeveloperFilter{ListOptions: o, Status: status}
		},
	})
	list.Flags().StringVar(&status, "status", "", "only developers with this status: active, pending or blocked")

	cmd := &cobra.Command{
		Use:     "developer",
		Aliases: []string{"developers", "dev"},
		Short:   "Manage developers: the people who own apps",
	}
	cmd.AddCommand(list, getCmd(e, r), newDeveloperCreateCmd(e), deleteCmd(e, r), newResetLinkCmd(e))
	return cmd
}

func newDeveloperCreateCmd(e *env) *cobra.Command {
	var d gatehouse.Developer
	cmd := &cobra.Command{
		Use:   "create --email EMAIL [--name NAME]",
		Short: "Create a developer",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := require(cmd.Flags(), "email"); err != nil {
				return err
			}
			out, err := e.client().CreateDeveloper(cmd.Context(), &d)
			if err != nil {
				return err
			}
			return e.printDone(out, "created developer %s", out.Email)
		},
	}
	cmd.Flags().StringVar(&d.Email, "email", "", "email address, the developer's identity (required)")
	cmd.Flags().StringVar(&d.Name, "name", "", "full name")
	return cmd
}
