// Package buildinfo says which build of Gatehouse is running, from what the Go toolchain
// records in every binary (runtime/debug.ReadBuildInfo), so releases need no -ldflags.
package buildinfo

import (
	"runtime/debug"
)

// Version returns the module version of a binary built with `go install ...@version`, else
// the VCS revision it was built from (12 characters, "-dirty" if the tree had changes),
// else "devel".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return version(bi)
}

func version(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
