package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func newServeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run a Gatehouse node: gateway, admin API and dashboard, portal",
		Long: `Run a Gatehouse node until interrupted.

Settings come from defaults, then the YAML file named by --config (or GATEHOUSE_CONFIG),
then GATEHOUSE_* environment variables, then flags. With --demo the node is seeded with a
demo upstream, APIs, plans, a developer and a key, and prints what to try.`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), e.getenv, os.ReadFile)
			if err != nil {
				return fmt.Errorf("invalid node settings: %w", err)
			}
			logger := config.Logger(cfg.Log, e.stderr)
			return app.Run(cmd.Context(), cfg, app.Env{
				Stdout:  e.stdout,
				Stderr:  e.stderr,
				Getenv:  e.getenv,
				Logger:  logger,
				Version: buildinfo.Version(),
			})
		},
	}
	config.BindFlags(cmd.Flags())
	return cmd
}
