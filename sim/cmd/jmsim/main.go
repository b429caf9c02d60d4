// Command jmsim runs a simulator by hand, for the README's five-minute tour
// when no real system is at hand:
//
//	go run ./sim/cmd/jmsim openhim --api 127.0.0.1:8080 --router 127.0.0.1:5001
//
// The OpenHIM simulator starts with the default root user (root@openhim.org
// and OpenHIM's well-known default password), prints its URLs and serves
// until interrupted. GET /transactions?filterRepresentation=full with Basic
// auth is its console.
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

const usage = `usage: jmsim openhim [--api ADDR] [--router ADDR] [--channels FILE] [--client ID:PASSWORD:ROLE]... [--tz ZONE] [--no-polling]
       jmsim records [--addr ADDR]`

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

// run parses args, starts the simulator, reports on out and serves until
// wait returns.
func run(args []string, out, errOut io.Writer, wait func()) error {
	if len(args) > 0 && args[0] == "records" {
		return runRecords(args[1:], out, errOut, wait)
	}
	if len(args) == 0 || args[0] != "openhim" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("jmsim openhim", flag.ContinueOnError)
	fs.SetOutput(errOut)
	api := fs.String("api", "127.0.0.1:8080", "API listen address (plain HTTP)")
	router := fs.String("router", "127.0.0.1:5001", "router listen address (plain HTTP)")
	channels := fs.String("channels", "", "JSON file with a channel object or an array of channels to preload")
	tz := fs.String("tz", "UTC", "core time zone (serverTimezone)")
	noPolling := fs.Bool("no-polling", false, "do not run polling schedules")
	var clients clientFlags
	fs.Var(&clients, "client", "router client ID:PASSWORD[:ROLE,ROLE] (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usage)
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
