package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
)

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this gatehouse binary",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
			}{buildinfo.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH}
			if e.output != "table" {
				return e.printData(v)
			}
			_, err := fmt.Fprintf(e.stdout, "gatehouse %s (%s %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
			return err
		},
	}
}
