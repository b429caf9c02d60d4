// Command jmsim runs the simulators by hand: for the README's five-minute
// tour and the examples (make example NAME=…), when no real system is at
// hand. Each subcommand serves one simulator until interrupted:
//
//	jmsim openhim --api 127.0.0.1:8080 --router 127.0.0.1:5001
//	jmsim dhis2 --addr 127.0.0.1:4020
//	jmsim --help
//
// It prints the URLs and accounts (never passwords) and exits 0 on SIGINT or
// SIGTERM. The simulators are the same ones the tests use (sim/…).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jobmediator/jobmediator/sim/openhim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr, waitForSignal); err != nil {
		fmt.Fprintln(os.Stderr, "jmsim:", err)
		os.Exit(2)
	}
}

func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	<-ch
}

// simulator is one subcommand.
type simulator struct {
	name, summary string
	run           func(args []string, out, errOut io.Writer, wait func()) error
}

// simulators is a function, not a variable: the run functions refer back
// to it for their help text.
func simulators() []simulator {
	return []simulator{
		{"openhim", "OpenHIM core: API (:8080) and router (:5001), channels, clients, transactions, polling", runOpenHIM},
		{"dhis2", "DHIS2 Web API (:4020): aggregate data, tracker, metadata; demo metadata loaded", runDHIS2},
		{"fhir", "FHIR R4 server (:4030, base /fhir): CRUD, search, transaction bundles", runFHIR},
		{"primero", "Primero v2 API (:4040): cases, referrals, JWT tokens", runPrimero},
		{"oscar", "OSCaR API (:4050): clients, referrals, devise token auth", runOSCaR},
		{"records", "a tiny records API (:4010), the tour's upstream", runRecords},
	}
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: jmsim SIMULATOR [flags]   (jmsim SIMULATOR --help for its flags)\n\nsimulators:\n")
	for _, s := range simulators() {
		fmt.Fprintf(&b, "  %-8s %s\n", s.name, s.summary)
	}
	b.WriteString("\nEach serves until Ctrl-C (SIGINT) or SIGTERM. Example:\n  jmsim openhim --client tour:tour-pass:jobmediator\n")
	return b.String()
}

// run parses args, starts the simulator, reports on out and serves until
// wait returns. --help anywhere prints help and returns nil (exit 0).
func run(args []string, out, errOut io.Writer, wait func()) error {
	if len(args) == 0 {
		return errors.New(usage())
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, usage())
		return nil
	}
	for _, s := range simulators() {
		if s.name == args[0] {
			err := s.run(args[1:], out, errOut, wait)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return fmt.Errorf("unknown simulator %q\n%s", args[0], usage())
}

// newFlags is a flag set for one simulator: parse errors go to errOut,
// --help (the simulator's summary and flags) to out.
func newFlags(name string, out, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("jmsim "+name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		for _, s := range simulators() {
			if s.name == name {
				fmt.Fprintf(out, "jmsim %s: %s\n\nflags:\n", name, s.summary)
			}
		}
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(errOut)
	}
	return fs
}

// parse parses args and refuses stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see %s --help)", fs.Arg(0), fs.Name())
	}
	return nil
}

// clientFlags collects repeated --client values.
type clientFlags []openhim.Client

func (c *clientFlags) String() string { return fmt.Sprintf("%d clients", len(*c)) }

func (c *clientFlags) Set(v string) error {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return errors.New("want ID:PASSWORD[:ROLE,ROLE]")
	}
	cl := openhim.Client{ClientID: parts[0], Name: parts[0], Password: parts[1]}
	if len(parts) == 3 && parts[2] != "" {
		cl.Roles = strings.Split(parts[2], ",")
	}
	*c = append(*c, cl)
	return nil
}

// runOpenHIM serves the OpenHIM core simulator.
func runOpenHIM(args []string, out, errOut io.Writer, wait func()) error {
	fs := newFlags("openhim", out, errOut)
	api := fs.String("api", "127.0.0.1:8080", "API listen address (plain HTTP)")
	router := fs.String("router", "127.0.0.1:5001", "router listen address (plain HTTP)")
	channels := fs.String("channels", "", "JSON file with a channel object or an array of channels to preload")
	tz := fs.String("tz", "UTC", "core time zone (serverTimezone)")
	noPolling := fs.Bool("no-polling", false, "do not run polling schedules")
	var clients clientFlags
	fs.Var(&clients, "client", "router client ID:PASSWORD[:ROLE,ROLE] (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var preload []map[string]any
	if *channels != "" {
		var err error
		if preload, err = readChannels(*channels); err != nil {
			return err
		}
	}
	core := openhim.New(openhim.Options{APIAddr: *api, RouterAddr: *router, TimeZone: *tz, DisablePolling: *noPolling})
	for _, cl := range clients {
		core.AddClient(cl)
	}
	for i, ch := range preload {
		if _, err := core.AddChannel(ch); err != nil {
			return fmt.Errorf("%s: channel %d (%v): %w", *channels, i, ch["name"], err)
		}
	}
	if err := core.Start(); err != nil {
		return err
	}
	defer core.Close()
	fmt.Fprintf(out, "OpenHIM core simulator\n  API:    %s  (user %s, default password)\n  Router: %s\n", core.APIURL(), openhim.RootEmail, core.RouterURL())
	for _, cl := range clients {
		fmt.Fprintf(out, "  client: %s roles %v\n", cl.ClientID, cl.Roles)
	}
	for _, ch := range core.Channels() {
		fmt.Fprintf(out, "  channel: %v %v\n", ch["name"], ch["urlPattern"])
	}
	fmt.Fprintln(out, "Ctrl-C to stop.")
	wait()
	return nil
}

func readChannels(path string) ([]map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw = []byte(strings.TrimPrefix(string(raw), "\ufeff"))
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one map[string]any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("%s: want a channel object or an array of channels: %w", path, err)
	}
	return []map[string]any{one}, nil
}
