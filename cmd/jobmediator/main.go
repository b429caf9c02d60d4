// Command jobmediator is Job Mediator: an OpenHIM mediator that runs
// OpenFn-compatible workflows. See `jobmediator help`.
package main

import (
	"os"

	"github.com/jobmediator/jobmediator/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
