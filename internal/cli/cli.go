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

// command is one sub-command's help: what it does, how to call it, examples.
type command struct {
	name, summary, usage, description, examples string
}

// commands is the help of every sub-command, in the order `jobmediator
// --help` lists them.
var commands = []command{
	{name: "serve", summary: "run the daemon: serve workflows to OpenHIM, run cron triggers and queued work",
		usage: "jobmediator serve [--project PATH] [--credentials FILE] [flags]",
		description: `Loads the project, registers with OpenHIM core when a core URL is set, and serves
every workflow until SIGINT or SIGTERM (then drains in-flight runs). Every setting is
a flag and an environment variable; flags win (README, "Settings").`,
		examples: `  jobmediator serve --project examples/hello-upstream --credentials creds.yaml
  OPENHIM_URL=https://openhim-core:8080 JM_PROJECT=/project jobmediator serve`},
	{name: "run", summary: "run a job file or a workflow once, locally, like the OpenFn CLI",
		usage: `jobmediator run JOB.js [-a ADAPTOR[@VERSION]] [-s state.json] [-o out.json] [--compat legacy|lightning]
       jobmediator run workflow.json|project.yaml [--workflow NAME] [--credentials FILE] [-s state.json] [-o out.json]`,
		description: `Runs once without a daemon or store: the final state goes to -o (or stdout), logs and
every outbound call to stderr. Exit 0 on success, 1 when the job fails, 2 on bad usage.`,
		examples: `  jobmediator run job.js -a http@7 -s state.json
  jobmediator run examples/fhir-to-dhis2/project.yaml --credentials creds.yaml -s state.json -o out.json`},
	{name: "check", summary: "validate settings, project, options and credentials; list every error",
		usage: "jobmediator check --project PATH [--credentials FILE] [--options FILE] [flags]",
		description: `Loads everything serve would load and compiles every job, then prints each problem as
file:line: field: message (fix: …). Exit 0 when clean, 1 when there are errors.`,
		examples: `  jobmediator check --project examples/cambodia-referrals --credentials creds.yaml
  JM_PROJECT=/project JM_CREDENTIALS=/run/secrets/creds.yaml jobmediator check`},
	{name: "trigger", summary: "run a workflow now in the running daemon (needs JM_API_TOKEN)",
		usage: "jobmediator trigger WORKFLOW [--cursor FILE | --state FILE] [--host HOST] [--port PORT]",
		description: `Asks the running daemon (POST /api/workflows/WORKFLOW/run) to run a workflow with its
store and cursors, waits for the outcome and prints it. --cursor replaces the stored
cursor first; --state runs once from that state and leaves the cursor alone.`,
		examples: `  JM_API_TOKEN=… jobmediator trigger dhis2-to-fhir
  JM_API_TOKEN=… jobmediator trigger dhis2-to-fhir --cursor cursor.json`},
	{name: "notify-test", summary: "send a test notification to every configured sink",
		usage: "jobmediator notify-test [--project PATH] [--credentials FILE] [flags]",
		description: `Reads the notification settings (JM_NOTIFY_WEBHOOK_URL, JM_SMTP_URL, …) and the project's
jobmediator.yaml notify: entries, sends one test message to each webhook and mail sink, and
prints how each went. It does not start the daemon (the store may be in use). Exit 0 when
every sink took the message, 1 otherwise.`,
		examples: `  JM_SMTP_URL=smtp://alerts:…@mail.example.org:587 JM_NOTIFY_EMAIL_FROM=jm@example.org \
    JM_NOTIFY_EMAIL_TO=ops@example.org jobmediator notify-test --project /project`},
	{name: "notify-test", summary: "send a test message to every configured notification sink",
		usage: "jobmediator notify-test [--project PATH] [flags]",
		description: `Builds the notification sinks exactly as serve would (JM_NOTIFY_*, JM_SMTP_* and the
workflows' notify: options), sends each one a test message and reports per sink whether it
arrived; the daemon is not started. Exit 0 when every sink accepted it, 1 otherwise
(docs/security.md, "Test notification").`,
		examples: `  JM_NOTIFY_WEBHOOK_URL=https://alerts.example.org/hook jobmediator notify-test --project /project`},
	{name: "version", summary: "print the version",
		usage: "jobmediator version",
		description: `Prints the binary's version (git describe at build time; "dev" for go run). The
version registered with OpenHIM core differs on purpose: core only accepts a semver-greater
version, so a revision of the registration is folded into the patch number (README,
"Two versions, on purpose").`,
		examples: `  jobmediator version`},
	{name: "healthcheck", summary: "exit 0 when the local /readyz answers 200 (Docker HEALTHCHECK)",
		usage:       "jobmediator healthcheck [--port PORT] [--path /readyz|/healthz] [--timeout 3s]",
		description: `For images without curl: asks the daemon on 127.0.0.1 and exits 0 on 200, 1 otherwise.`,
		examples:    `  HEALTHCHECK CMD ["/jobmediator", "healthcheck"]`},
}

func usage() string {
	var b strings.Builder
	b.WriteString("Job Mediator — an OpenHIM mediator that runs OpenFn workflows.\n\nUsage: jobmediator COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run 'jobmediator COMMAND --help' for a command's description, flags and examples.
Settings come from flags, then environment variables, then defaults (see README,
"Configuration").
`)
	return b.String()
}

// newFlags is the flag set of a sub-command: parse errors go to stderr;
// --help prints the command's description, usage, flags and examples to
// stdout (and the command then exits 0).
func newFlags(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { commandHelp(fs, name, stdout) }
	return fs
}

func commandHelp(fs *flag.FlagSet, name string, w io.Writer) {
	for _, c := range commands {
		if c.name != name {
			continue
		}
		fmt.Fprintf(w, "jobmediator %s: %s\n\n%s\n\nUsage:\n  %s\n", c.name, c.summary, c.description, c.usage)
		if fs != nil {
			hasFlags := false
			fs.VisitAll(func(*flag.Flag) { hasFlags = true })
			if hasFlags {
				fmt.Fprintln(w, "\nFlags:")
				out := fs.Output()
				fs.SetOutput(w)
				fs.PrintDefaults()
				fs.SetOutput(out)
			}
		}
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.examples)
	}
}

// wantsHelp reports whether args ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stdout, stderr, getenv)
	case "run":
		return run(rest, stdin, stdout, stderr, getenv)
	case "check":
		return check(rest, stdout, stderr, getenv)
	case "trigger":
		return trigger(rest, stdout, stderr, getenv)
	case "notify-test":
		return notifyTest(rest, stdout, stderr, getenv)
	case "version", "--version", "-v":
		if cmd == "version" && wantsHelp(rest) {
			commandHelp(nil, "version", stdout)
			return exitOK
		}
		return printVersion(stdout)
	case "healthcheck":
		return healthcheck(rest, stdout, stderr, getenv)
	case "worker": // internal: started by serve, one per run in flight
		return worker(stderr, getenv)
	case "help", "-h", "--help":
		if len(rest) == 1 {
			for _, c := range commands {
				if c.name == rest[0] {
					return Main([]string{rest[0], "--help"}, stdin, stdout, stderr, getenv)
				}
			}
		}
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	fmt.Fprintf(stderr, "jobmediator: unknown command %q\n\n%s", cmd, usage())
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
