package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/daemon"
	"github.com/jobmediator/jobmediator/runtime"
)

// settings reads env, then flags (flags win), and reports every problem.
func settings(name string, args []string, stdout, stderr io.Writer, getenv func(string) string) (config.Settings, []error, *flag.FlagSet, error) {
	s, envErrs := config.SettingsFromEnv(getenv)
	fs := newFlags(name, stdout, stderr)
	s.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return s, envErrs, fs, err
	}
	if fs.NArg() > 0 {
		return s, envErrs, fs, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return s, envErrs, fs, nil
}

// validSettings is settings for a command that cannot run on invalid
// ones (serve, notify-test; check lists them instead): when ok is false the
// command returns code (0 after --help, 2 after a usage or settings error,
// which it has printed).
func validSettings(name string, args []string, stdout, stderr io.Writer, getenv func(string) string) (s config.Settings, code int, ok bool) {
	s, envErrs, _, err := settings(name, args, stdout, stderr, getenv)
	switch {
	case err == flag.ErrHelp:
		return s, exitOK, false
	case err != nil:
		fmt.Fprintln(stderr, err)
		return s, exitUsage, false
	case len(envErrs) > 0:
		fmt.Fprintf(stderr, "jobmediator %s: invalid settings:\n", name)
		listErrors(stderr, envErrs)
		return s, exitUsage, false
	}
	return s, exitOK, true
}

func serve(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	s, code, ok := validSettings("serve", args, stdout, stderr, getenv)
	if !ok {
		return code
	}
	d, err := daemon.New(s, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "jobmediator serve: refusing to start:")
		listErrors(stderr, []error{err})
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "jobmediator serve:", err)
		return exitFailed
	}
	return exitOK
}

// check validates settings, project, options and credentials, and compiles
// every job, printing every problem with file, line, field and fix.
func check(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	s, envErrs, _, err := settings("check", args, stdout, stderr, getenv)
	if err == flag.ErrHelp {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if s.ProjectPath == "" {
		fmt.Fprintln(stderr, "check: no project: pass --project PATH or set JM_PROJECT")
		return exitUsage
	}
	res := config.Check(s, envErrs, validateAdaptor)
	if res.Project != nil {
		// Every stage in one pass: the jobs are compiled even when the
		// settings, options or project have problems, so one run of check
		// lists everything to fix. A job whose adaptor the loader already
		// refused is not reported a second time.
		loaderFound := len(res.Errors) > 0
		for _, ve := range runtime.New(runtime.Options{Compat: s.Compat}).CheckProject(res.Project, s.Compat) {
			if loaderFound && ve.Fix == runtime.FixAdaptor {
				continue
			}
			res.Errors = append(res.Errors, ve)
		}
	}
	if err := res.Write(stdout); err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return exitFailed
	}
	if !res.OK() {
		return exitFailed
	}
	return exitOK
}

// notifyTest sends a test notification to every sink and lists the
// outcomes.
func notifyTest(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	s, code, ok := validSettings("notify-test", args, stdout, stderr, getenv)
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, err := daemon.NotifyTest(ctx, s)
	if err != nil {
		fmt.Fprintln(stderr, "jobmediator notify-test:", err)
		return exitUsage
	}
	code = exitOK
	for _, r := range results {
		scope := "all workflows"
		if len(r.Workflows) > 0 {
			scope = "workflows " + strings.Join(r.Workflows, ", ")
		}
		if r.Error != "" {
			fmt.Fprintf(stdout, "FAILED  %s %s (%s): %s\n", r.Kind, r.Target, scope, r.Error)
			code = exitFailed
			continue
		}
		fmt.Fprintf(stdout, "sent    %s %s (%s)\n", r.Kind, r.Target, scope)
	}
	return code
}
