package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

// serverStatus is what `gatehouse status` shows.
type serverStatus struct {
	AdminURL string `json:"admin_url"`
	Version  string `json:"version"`
	Revision int64  `json:"revision"`
	Ready    bool   `json:"ready"`
	// NotReady says why the node is not ready, such as an unreachable store.
	NotReady string `json:"not_ready,omitempty"`
}

func newStatusCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the version and readiness of the node behind the admin API",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := e.client()
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			s := serverStatus{AdminURL: c.BaseURL(), Version: st.Version, Revision: st.Revision, Ready: true}
			if err := c.Ready(cmd.Context()); err != nil {
				s.Ready, s.NotReady = false, err.Error()
			}
			return printOne(e, s, []column[serverStatus]{
				{"ADMIN URL", func(s serverStatus) string { return s.AdminURL }},
				{"VERSION", func(s serverStatus) string { return s.Version }},
				{"REVISION", func(s serverStatus) string { return strconv.FormatInt(s.Revision, 10) }},
				{"READY", func(s serverStatus) string {
					if s.Ready {
						return "yes"
					}
					return "no: " + s.NotReady
				}},
			})
		},
	}
}
