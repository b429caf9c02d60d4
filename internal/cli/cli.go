// Package cli implements the jobmediator command line: serve, run, check,
// version and healthcheck. It parses arguments and wires packages together;
// the behaviour lives in those packages.
package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes shared by every sub-command, as the OpenFn CLI uses them.
const (
	exitOK     = 0
	exitFailed = 1 // the job or workflow failed, or the check found errors
	exitUsage  = 2 // bad usage or configuration
)

const usage = `Job Mediator — an OpenHIM mediator that runs OpenFn workflows.

Usage:
  jobmediator serve [--project PATH] [--credentials PATH] [flags]   run the daemon
  jobmediator run JOB.js [-a ADAPTOR[@VERSION]] [-s state.json] [-o out.json] [--compat legacy|lightning]
  jobmediator run workflow.json|project.yaml [--workflow NAME] [-s state.json] [-o out.json]
  jobmediator check [--project PATH]       validate settings and project, list every error
  jobmediator trigger WORKFLOW [--cursor FILE | --state FILE]   run a workflow now in the running daemon (needs JM_API_TOKEN)
  jobmediator version                      print the version
  jobmediator healthcheck                  exit 0 when the local /readyz answers 200 (Docker HEALTHCHECK)

Run 'jobmediator COMMAND -h' for a command's flags. Settings come from flags,
then environment variables, then defaults (see README, "Configuration").
`

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stderr, getenv)
	case "run":
		return run(rest, stdin, stdout, stderr, getenv)
	case "check":
		return check(rest, stdout, stderr, getenv)
	case "trigger":
		return trigger(rest, stdout, stderr, getenv)
	case "version", "--version", "-v":
		return printVersion(stdout)
	case "healthcheck":
		return healthcheck(rest, stderr, getenv)
	case "worker": // internal: started by serve, one per run in flight
		return worker(stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "jobmediator: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("run job.js -a http" as well as "run -a http job.js"), which
// the flag package alone does not allow.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// listErrors prints errors one per line.
func listErrors(w io.Writer, errs []error) {
	for _, e := range errs {
		for _, line := range strings.Split(e.Error(), "\n") {
			if line != "" {
				fmt.Fprintln(w, line)
			}
		}
	}
}
