// Package version holds the build's version, set with -ldflags by the
// Makefile and the Dockerfile.
package version

import "runtime/debug"

// Version is the build version ("dev" for plain `go build`).
var Version = "dev"

// String returns Version, or the module version when built with `go install`.
func String() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}
