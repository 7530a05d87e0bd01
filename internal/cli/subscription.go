package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type subscription = *gatehouse.Subscription

func subscriptionResource() *resource[subscription] {
	return &resource[subscription]{
		kind: "subscription", arg: "ID",
		id:       func(s subscription) string { return s.ID },
		revision: func(s subscription) int64 { return s.Revision },
		columns: []column[subscription]{
			{"ID", func(s subscription) string { return s.ID }},
			{"APP", func(s subscription) string { return s.App }},
			{"PLAN", func(s subscription) string { return s.Plan }},
			{"STATUS", func(s subscription) string { return string(s.Status) }},
			{"CREATED", func(s subscription) string { return formatTime(s.CreatedAt) }},
		},
		get:    (*client.Client).Subscription,
		create: (*client.Client).CreateSubscription,
		// Only a subscription's status can change; app and plan are its identity.
		update: func(c *client.Client, ctx context.Context, s subscription, ifRevision int64) (subscription, error) {
			return c.UpdateSubscription(ctx, s.ID, s.Status, ifRevision)
		},
		delete: (*client.Client).DeleteSubscription,
		// Documents name a subscription by app and plan; the server by its id.
		adopt: func(desired, current subscription) subscription {
			s := *desired
			s.ID = current.ID
			return &s
		},
	}
}

func newSubscriptionCmd(e *env) *cobra.Command {
	r := subscriptionResource()
	var f gatehouse.SubscriptionFilter
	list := listCmd(e, r, listing[subscription, gatehouse.SubscriptionFilter]{
		page: (*client.Client).Subscriptions,
		all:  (*client.Client).AllSubscriptions,
		filter: func(o gatehouse.ListOptions) gatehouse.SubscriptionFilter {
			g := f
			g.ListOptions = o
			return g
		},
	})
	list.Flags().StringVar(&f.App, "app", "", "only subscriptions of this app")
	list.Flags().StringVar(&f.Plan, "plan", "", "only subscriptions to this plan")
	list.Flags().StringVar((*string)(&f.Status), "status", "", "only subscriptions with this status: pending, active, rejected or revoked")

	cmd := &cobra.Command{
		Use:     "subscription",
		Aliases: []string{"subscriptions", "sub"},
		Short:   "Manage subscriptions: which apps may use which plans",
	}
	cmd.AddCommand(list, getCmd(e, r), newSubscriptionCreateCmd(e),
		subscriptionStatusCmd(e, "approve", gatehouse.SubActive, "Approve a pending subscription (or reactivate one)"),
		subscriptionStatusCmd(e, "reject", gatehouse.SubRejected, "Reject a pending subscription"),
		subscriptionStatusCmd(e, "revoke", gatehouse.SubRevoked, "Revoke a subscription: the app loses access to the plan's APIs"),
		deleteCmd(e, r),
	)
	return cmd
}

func newSubscriptionCreateCmd(e *env) *cobra.Command {
	var s gatehouse.Subscription
	cmd := &cobra.Command{
		Use:   "create --app APP --plan PLAN",
		Short: "Subscribe an app to a plan (pending if the plan needs approval)",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := require(cmd.Flags(), "app", "plan"); err != nil {
				return err
			}
			out, err := e.client().CreateSubscription(cmd.Context(), &s)
			if err != nil {
				return fmt.Errorf("subscribing app %s to plan %s: %w", s.App, s.Plan, err)
			}
			return e.printDone(out, "created subscription %s: app %s to plan %s (%s)", out.ID, out.App, out.Plan, out.Status)
		},
	}
	cmd.Flags().StringVar(&s.App, "app", "", "the app that subscribes (required)")
	cmd.Flags().StringVar(&s.Plan, "plan", "", "the plan it subscribes to (required)")
	return cmd
}

func subscriptionStatusCmd(e *env, verb string, status gatehouse.SubscriptionStatus, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.client().UpdateSubscription(cmd.Context(), args[0], status, 0)
			if err != nil {
				return fmt.Errorf("%s subscription %s: %w", verbing(verb), args[0], err)
			}
			return e.printDone(s, "subscription %s (app %s, plan %s) is now %s", s.ID, s.App, s.Plan, s.Status)
		},
	}
}
