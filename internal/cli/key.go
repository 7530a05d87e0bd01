package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

type key = *gatehouse.Key

func keyColumns(now time.Time) []column[key] {
	return []column[key]{
		{"ID", func(k key) string { return k.ID }},
		{"NAME", func(k key) string { return k.Name }},
		{"PREFIX", func(k key) string { return k.Prefix }},
		{"APP", func(k key) string { return k.App }},
		{"STATUS", func(k key) string { return k.Status(now) }},
		{"EXPIRES", func(k key) string { return formatTimePtr(k.ExpiresAt) }},
		{"LAST USED", func(k key) string { return formatTimePtr(k.LastUsedAt) }},
	}
}

// Keys belong to an app, so every key command takes --app; it is a flag rather than an
// argument so that `key revoke --app shop ID` reads the same as the other verbs.
func newKeyCmd(e *env) *cobra.Command {
	var appName string
	r := &resource[key]{kind: "key", arg: "ID", columns: keyColumns(time.Now())}
	list := listCmd(e, r, listing[key, gatehouse.KeyFilter]{
		page: (*client.Client).Keys,
		all:  (*client.Client).AllKeys,
		filter: func(o gatehouse.ListOptions) gatehouse.KeyFilter {
			return gatehouse.KeyFilter{ListOptions: o, App: appName}
		},
	})
	needApp := func(cmd *cobra.Command, _ []string) error { return require(cmd.Flags(), "app") }
	list.PreRunE = needApp

	get := &cobra.Command{
		Use:   "get --app APP ID",
		Short: "Show one key (never its secret)",
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := e.client().Key(cmd.Context(), appName, args[0])
			if err != nil {
				return err
			}
			return printOne(e, k, r.columns)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke --app APP ID",
		Short: "Revoke a key: it stops working at once but stays listed",
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := e.client().RevokeKey(cmd.Context(), appName, args[0])
			if err != nil {
				return fmt.Errorf("revoking key %s: %w", args[0], err)
			}
			return e.printDone(k, "revoked key %s of app %s", k.ID, k.App)
		},
	}
	var overlap gatehouse.Duration
	rotate := &cobra.Command{
		Use:   "rotate --app APP ID [--overlap 24h]",
		Short: "Replace a key with a new one; the old one keeps working for --overlap",
		Args:  args("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := e.client().RotateKey(cmd.Context(), appName, args[0], overlap)
			if err != nil {
				return fmt.Errorf("rotating key %s: %w", args[0], err)
			}
			if e.output != "table" {
				fmt.Fprintln(e.stderr, `note: "key" is the new secret; it is shown only this once`)
				return e.printData(k)
			}
			ends := "now"
			if overlap > 0 {
				ends = "in " + overlap.String()
			}
			fmt.Fprintf(e.stdout, "rotated key %s of app %s: the old key stops working %s; the new key is %s\n\n    %s\n\n",
				args[0], k.App, ends, k.ID, k.Secret)
			fmt.Fprintln(e.stdout, "This is the only time the new key is shown: store it now.")
			return nil
		},
	}
	rotate.Flags().Var(durationFlag{&overlap}, "overlap", "how long the old key keeps working beside the new one (24h); default 0: it stops at once")
	del := &cobra.Command{
		Use:     "delete --app APP ID",
		Aliases: []string{"rm"},
		Short:   "Delete a key",
		Args:    args("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.client().DeleteKey(cmd.Context(), appName, args[0]); err != nil {
				return fmt.Errorf("deleting key %s: %w", args[0], err)
			}
			return e.printDone(nil, "deleted key %s of app %s", args[0], appName)
		},
	}
	for _, c := range []*cobra.Command{get, revoke, rotate, del} {
		c.PreRunE = needApp
	}

	cmd := &cobra.Command{
		Use:     "key",
		Aliases: []string{"keys"},
		Short:   "Manage the API keys of apps",
	}
	cmd.PersistentFlags().StringVar(&appName, "app", "", "the app the keys belong to (required)")
	cmd.AddCommand(list, get, newKeyCreateCmd(e, &appName), revoke, rotate, del)
	return cmd
}

func newKeyCreateCmd(e *env, appName *string) *cobra.Command {
	var req client.KeyRequest
	var expiresAt string
	cmd := &cobra.Command{
		Use:   "create --app APP [--name NAME] [--expires-in 720h | --expires-at TIME]",
		Short: "Create a key and show its secret, once",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := require(cmd.Flags(), "app"); err != nil {
				return err
			}
			if expiresAt != "" {
				if req.ExpiresIn != 0 {
					return usagef("give --expires-in or --expires-at, not both")
				}
				t, err := parseTime(expiresAt, time.Now())
				if err != nil {
					return usagef("--expires-at: %v", err)
				}
				req.ExpiresAt = &t
			}
			k, err := e.client().CreateKey(cmd.Context(), *appName, req)
			if err != nil {
				return fmt.Errorf("creating a key for app %s: %w", *appName, err)
			}
			if e.output != "table" {
				fmt.Fprintln(e.stderr, `note: "key" is the secret; it is shown only this once`)
				return e.printData(k)
			}
			fmt.Fprintf(e.stdout, "created key %s for app %s (prefix %s, expires %s)\n\n    %s\n\n",
				k.ID, k.App, k.Prefix, formatTimePtr(k.ExpiresAt), k.Secret)
			fmt.Fprintln(e.stdout, "This is the only time the key is shown: store it now. Gatehouse keeps only a hash of it.")
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "a label for the key, such as where it is used")
	cmd.Flags().Var(durationFlag{&req.ExpiresIn}, "expires-in", "expire the key this long after creation (720h); default never")
	cmd.Flags().StringVar(&expiresAt, "expires-at", "", "expire the key at this time (2027-01-31 or RFC 3339)")
	return cmd
}

// durationFlag is a pflag.Value for a gatehouse.Duration.
type durationFlag struct{ d *gatehouse.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}
func (f durationFlag) Set(s string) error { return f.d.UnmarshalText([]byte(s)) }
func (f durationFlag) Type() string       { return "duration" }
