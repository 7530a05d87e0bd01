package cli

import (
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

func appResource() *resource[*gatehouse.App] {
	return &resource[*gatehouse.App]{
		kind: "app", arg: "NAME",
		id:       func(a *gatehouse.App) string { return a.Name },
		revision: func(a *gatehouse.App) int64 { return a.Revision },
		columns: []column[*gatehouse.App]{
			{"NAME", func(a *gatehouse.App) string { return a.Name }},
			{"DEVELOPER", func(a *gatehouse.App) string { return a.Developer }},
			{"DESCRIPTION", func(a *gatehouse.App) string { return a.Description }},
			{"CREATED", func(a *gatehouse.App) string { return formatTime(a.CreatedAt) }},
		},
		get:    (*client.Client).App,
		create: (*client.Client).CreateApp,
		update: (*client.Client).UpdateApp,
		delete: (*client.Client).DeleteApp,
	}
}

func newAppCmd(e *env) *cobra.Command {
	r := appResource()
	var dev string
	list := listCmd(e, r, listing[*gatehouse.App, gatehouse.AppFilter]{
		page: (*client.Client).Apps,
		all:  (*client.Client).AllApps,
		filter: func(o gatehouse.ListOptions) gatehouse.AppFilter {
			return gatehouse.AppFilter{ListOptions: o, Developer: dev}
		},
	})
	list.Flags().StringVar(&dev, "developer", "", "only apps of the developer with this email")

	cmd := &cobra.Command{
		Use:     "app",
		Aliases: []string{"apps"},
		Short:   "Manage apps: the client programs that hold keys and subscriptions",
	}
	cmd.AddCommand(list, getCmd(e, r), newAppCreateCmd(e), deleteCmd(e, r))
	return cmd
}

func newAppCreateCmd(e *env) *cobra.Command {
	var a gatehouse.App
	cmd := &cobra.Command{
		Use:   "create NAME --developer EMAIL [--description TEXT]",
		Short: "Create an app owned by a developer",
		Args:  args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := require(cmd.Flags(), "developer"); err != nil {
				return err
			}
			a.Name = args[0]
			out, err := e.client().CreateApp(cmd.Context(), &a)
			if err != nil {
				return err
			}
			return e.printDone(out, "created app %s for developer %s", out.Name, out.Developer)
		},
	}
	cmd.Flags().StringVar(&a.Developer, "developer", "", "email of the developer who owns the app (required)")
	cmd.Flags().StringVar(&a.Description, "description", "", "what the app is for")
	return cmd
}
