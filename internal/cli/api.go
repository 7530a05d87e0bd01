package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type api = *gatehouse.API

func apiResource() *resource[api] {
	return &resource[api]{
		kind: "api", arg: "NAME",
		id:       func(a api) string { return a.Name },
		revision: func(a api) int64 { return a.Revision },
		columns: []column[api]{
			{"NAME", func(a api) string { return a.Name }},
			{"VERSION", func(a api) string { return a.Version }},
			{"STATE", func(a api) string { return string(a.State) }},
			{"PATH", func(a api) string { return a.Path }},
			{"HOSTS", func(a api) string { return strings.Join(a.Hosts, ",") }},
			{"TARGETS", func(a api) string {
				urls := make([]string, len(a.Upstream.Targets))
				for i, t := range a.Upstream.Targets {
					urls[i] = t.URL
				}
				return strings.Join(urls, ",")
			}},
		},
		get:    (*client.Client).API,
		create: (*client.Client).CreateAPI,
		update: (*client.Client).UpdateAPI,
		delete: (*client.Client).DeleteAPI,
	}
}

func newAPICmd(e *env) *cobra.Command {
	r := apiResource()
	var state, tag string
	list := listCmd(e, r, listing[api, gatehouse.APIFilter]{
		page: (*client.Client).APIs,
		all:  (*client.Client).AllAPIs,
		filter: func(o gatehouse.ListOptions) gatehouse.APIFilter {
			return gatehouse.APIFilter{ListOptions: o, State: gatehouse.APIState(state), Tag: tag}
		},
	})
	list.Flags().StringVar(&state, "state", "", "only APIs in this state: draft, published, deprecated or retired")
	list.Flags().StringVar(&tag, "tag", "", "only APIs with this tag")

	cmd := &cobra.Command{
		Use:     "api",
		Aliases: []string{"apis"},
		Short:   "Manage APIs: what the gateway serves and where it proxies to",
	}
	cmd.AddCommand(list, getCmd(e, r), createCmd(e, r), updateCmd(e, r), deleteCmd(e, r),
		apiStateCmd(e, "publish", gatehouse.StatePublished, "Publish an API: the gateway starts serving it"),
		apiStateCmd(e, "deprecate", gatehouse.StateDeprecated, "Deprecate an API: still served, with Deprecation and Sunset headers"),
		apiStateCmd(e, "retire", gatehouse.StateRetired, "Retire an API: the gateway answers 410 Gone"),
	)
	return cmd
}

// apiStateCmd moves an API through its lifecycle with a merge patch of its state, so
// nothing else about the API can be overwritten by a stale copy.
func apiStateCmd(e *env, verb string, state gatehouse.APIState, short string) *cobra.Command {
	var sunset string
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			patch := map[string]any{"state": state}
			if sunset != "" {
				t, err := parseTime(sunset, time.Now())
				if err != nil {
					return usagef("--sunset: %v", err)
				}
				patch["sunset"] = t
			}
			a, err := e.client().PatchAPI(cmd.Context(), args[0], patch, 0)
			if err != nil {
				return fmt.Errorf("%s api %s: %w", verbing(verb), args[0], err)
			}
			return e.printDone(a, "api %s is now %s (revision %d)", a.Name, a.State, a.Revision)
		},
	}
	if state == gatehouse.StateDeprecated {
		cmd.Flags().StringVar(&sunset, "sunset", "", "announced end of the API: a date (2027-01-31), an RFC 3339 time, or a duration from now (2160h)")
	}
	return cmd
}
