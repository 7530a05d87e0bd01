package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with node settings files",
	}
	cmd.AddCommand(newConfigValidateCmd(e))
	return cmd
}

func newConfigValidateCmd(e *env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a node settings file and report every problem with its position",
		Long: `Check a node settings file (YAML) without starting anything, and report every problem
as file:line:col: field: message. FILE defaults to --config, then GATEHOUSE_CONFIG;
- reads standard input. Environment variables and serve flags are not applied.`,
		Args: optionalArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1:
				file = args[0]
			case file == "":
				file = e.getenv(config.EnvConfig)
			}
			if file == "" {
				return usagef("name the settings file: gatehouse config validate FILE (or --config, or %s)", config.EnvConfig)
			}
			data, err := e.readInput(file)
			if err != nil {
				return err
			}
			_, err = config.Parse(inputName(file), data)
			if err == nil {
				_, err = fmt.Fprintf(e.stdout, "%s: ok\n", inputName(file))
				return err
			}
			// The problems are this command's findings, printed bare like a compiler's so
			// that editors and CI can jump to them.
			if inner, lines := problems(err); inner != nil {
				for _, l := range lines {
					fmt.Fprintln(e.stderr, l)
				}
				return exitStatus(exitError)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&file, config.FlagConfig, "", "the settings file (default $"+config.EnvConfig+")")
	return cmd
}
