package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type plan = *gatehouse.Plan

func planResource() *resource[plan] {
	return &resource[plan]{
		kind: "plan", arg: "NAME",
		id:       func(p plan) string { return p.Name },
		revision: func(p plan) int64 { return p.Revision },
		columns: []column[plan]{
			{"NAME", func(p plan) string { return p.Name }},
			{"APIS", func(p plan) string { return strings.Join(p.APIs, ",") }},
			{"RATE LIMIT", func(p plan) string {
				if p.RateLimit == nil {
					return ""
				}
				return fmt.Sprintf("%d/%s", p.RateLimit.Limit, p.RateLimit.Window)
			}},
			{"QUOTA", func(p plan) string {
				if p.Quota == nil {
					return ""
				}
				return fmt.Sprintf("%d/%s", p.Quota.Limit, p.Quota.Period)
			}},
			{"APPROVAL", func(p plan) string { return string(p.Approval) }},
		},
		get:    (*client.Client).Plan,
		create: (*client.Client).CreatePlan,
		update: (*client.Client).UpdatePlan,
		delete: (*client.Client).DeletePlan,
	}
}

func newPlanCmd(e *env) *cobra.Command {
	r := planResource()
	var apiName string
	list := listCmd(e, r, listing[plan, gatehouse.PlanFilter]{
		page: (*client.Client).Plans,
		all:  (*client.Client).AllPlans,
		filter: func(o gatehouse.ListOptions) gatehouse.PlanFilter {
			return gatehouse.PlanFilter{ListOptions: o, API: apiName}
		},
	})
	list.Flags().StringVar(&apiName, "api", "", "only plans that offer this API")

	cmd := &cobra.Command{
		Use:     "plan",
		Aliases: []string{"plans"},
		Short:   "Manage plans: which APIs an app gets, how fast and how much",
	}
	cmd.AddCommand(list, getCmd(e, r), createCmd(e, r), updateCmd(e, r), deleteCmd(e, r))
	return cmd
}
