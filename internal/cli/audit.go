package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type auditEntry = *gatehouse.AuditEntry

func newAuditCmd(e *env) *cobra.Command {
	r := &resource[auditEntry]{
		kind: "audit entry", plural: "audit entries",
		columns: []column[auditEntry]{
			{"ID", func(a auditEntry) string { return strconv.FormatInt(a.ID, 10) }},
			{"AT", func(a auditEntry) string { return formatTime(a.At) }},
			{"ACTOR", func(a auditEntry) string { return a.Actor }},
			{"ACTION", func(a auditEntry) string { return a.Action }},
			{"RESOURCE", func(a auditEntry) string { return a.Resource }},
			{"NAME", func(a auditEntry) string { return a.Name }},
			{"REVISION", func(a auditEntry) string { return strconv.FormatInt(a.Revision, 10) }},
		},
	}
	var f gatehouse.AuditFilter
	var since, until string
	cmd := listCmd(e, r, listing[auditEntry, gatehouse.AuditFilter]{
		page: (*client.Client).AuditEntries,
		all:  (*client.Client).AllAuditEntries,
		filter: func(o gatehouse.ListOptions) gatehouse.AuditFilter {
			g := f
			g.ListOptions = o
			return g
		},
	})
	cmd.Use = "audit"
	cmd.Aliases = nil
	cmd.Short = "Show the audit log of changes, newest first"
	cmd.Long = `Show the audit log of changes, newest first. Without --limit every matching entry is
fetched; narrow it with --since.`
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		now := time.Now()
		for _, t := range []struct {
			flag string
			s    string
			to   *time.Time
		}{{"since", since, &f.Since}, {"until", until, &f.Until}} {
			if t.s == "" {
				continue
			}
			v, err := parseTime(t.s, now)
			if err != nil {
				return usagef("--%s: %v", t.flag, err)
			}
			*t.to = v
		}
		return nil
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Resource, "resource", "", "only changes to this kind: api, plan, developer, app, key, subscription, admin_token")
	fl.StringVar(&f.Name, "name", "", "only changes to the resource with this name, email or id")
	fl.StringVar(&f.Actor, "actor", "", "only changes made by this actor")
	fl.StringVar(&since, "since", "", "only changes at or after this time: 2027-01-31, RFC 3339, or a duration ago (-24h)")
	fl.StringVar(&until, "until", "", "only changes before this time (same forms as --since)")
	return cmd
}
