package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jobmediator/jobmediator/sim/dhis2"
	"github.com/jobmediator/jobmediator/sim/fhir"
	"github.com/jobmediator/jobmediator/sim/oscar"
	"github.com/jobmediator/jobmediator/sim/primero"
)

// pairFlags collects repeated NAME:PASSWORD values (a password may contain
// ':').
type pairFlags [][2]string

func (p *pairFlags) String() string { return fmt.Sprintf("%d accounts", len(*p)) }

func (p *pairFlags) Set(v string) error {
	name, pass, ok := strings.Cut(v, ":")
	if !ok || name == "" || pass == "" {
		return errors.New("want NAME:PASSWORD")
	}
	*p = append(*p, [2]string{name, pass})
	return nil
}

// listFlags collects repeated values.
type listFlags []string

func (l *listFlags) String() string { return strings.Join(*l, ",") }

func (l *listFlags) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// readSeed reads a JSON array of objects (or one object) from path.
func readSeed(path string) ([]map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one map[string]any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object or an array of objects: %w", path, err)
	}
	return []map[string]any{one}, nil
}

// serve prints the banner, waits and closes.
func serve(out io.Writer, banner string, accounts []string, closeFn func(), wait func()) {
	defer closeFn()
	fmt.Fprintln(out, banner)
	for _, a := range accounts {
		fmt.Fprintf(out, "  %s\n", a)
	}
	fmt.Fprintln(out, "Ctrl-C to stop.")
	wait()
}

func runDHIS2(args []string, out, errOut io.Writer, wait func()) error {
	fs := newFlags("dhis2", out, errOut)
	addr := fs.String("addr", "127.0.0.1:4020", "listen address")
	version := fs.String("version", "2.40", "simulated DHIS2 version, 2.36 … 2.42 (optional patch)")
	noMeta := fs.Bool("no-demo-metadata", false, "start without the demo metadata (Sierra Leone org units, data elements, programs)")
	metaFile := fs.String("metadata", "", "JSON file of metadata to add (organisationUnits, dataElements, dataSets, … as in /api/metadata)")
	var users pairFlags
	fs.Var(&users, "user", "Basic-auth account USERNAME:PASSWORD (repeatable; default admin:district)")
	var tokens listFlags
	fs.Var(&tokens, "token", "personal access token accepted as 'ApiToken <token>' (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	o := dhis2.Options{Addr: *addr, Version: *version, Tokens: tokens}
	for _, u := range users {
		o.Users = append(o.Users, dhis2.User{Username: u[0], Password: u[1]})
	}
	var extra dhis2.Metadata
	if *metaFile != "" {
		raw, err := os.ReadFile(*metaFile)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &extra); err != nil {
			return fmt.Errorf("%s: want DHIS2 metadata JSON: %w", *metaFile, err)
		}
	}
	s := dhis2.New(o)
	if !*noMeta {
		s.LoadDefaultMetadata()
	}
	s.SeedMetadata(extra)
	if err := s.Start(); err != nil {
		return err
	}
	accounts := []string{}
	if len(o.Users) == 0 {
		accounts = append(accounts, "user: admin (password district, DHIS2's demo default)")
	}
	for _, u := range users {
		accounts = append(accounts, "user: "+u[0])
	}
	if len(tokens) > 0 {
		accounts = append(accounts, fmt.Sprintf("%d personal access token(s)", len(tokens)))
	}
	serve(out, fmt.Sprintf("DHIS2 %s simulator\n  API: %s/api", *version, s.URL()), accounts, s.Close, wait)
	return nil
}

func runFHIR(args []string, out, errOut io.Writer, wait func()) error {
	fs := newFlags("fhir", out, errOut)
	addr := fs.String("addr", "127.0.0.1:4030", "listen address")
	base := fs.String("base", "/fhir", "path of the FHIR base")
	seed := fs.String("seed", "", "JSON file: a resource or a collection/searchset Bundle to preload")
	var users pairFlags
	fs.Var(&users, "user", "Basic-auth account USERNAME:PASSWORD (repeatable)")
	var tokens listFlags
	fs.Var(&tokens, "token", "bearer token (repeatable); without --user or --token no auth is required")
	if err := parse(fs, args); err != nil {
		return err
	}
	o := fhir.Options{Addr: *addr, BaseURL: *base, BearerTokens: tokens}
	for _, u := range users {
		o.Users = append(o.Users, fhir.User{Username: u[0], Password: u[1]})
	}
	s := fhir.New(o)
	if *seed != "" {
		raw, err := os.ReadFile(*seed)
		if err != nil {
			return err
		}
		if err := s.Seed(raw); err != nil {
			return fmt.Errorf("%s: %w", *seed, err)
		}
	}
	if err := s.Start(); err != nil {
		return err
	}
	var accounts []string
	for _, u := range users {
		accounts = append(accounts, "user: "+u[0])
	}
	if len(tokens) > 0 {
		accounts = append(accounts, fmt.Sprintf("%d bearer token(s)", len(tokens)))
	}
	if len(accounts) == 0 {
		accounts = append(accounts, "no authentication")
	}
	serve(out, "FHIR R4 simulator\n  base: "+s.URL(), accounts, s.Close, wait)
	return nil
}

func runPrimero(args []string, out, errOut io.Writer, wait func()) error {
	fs := newFlags("primero", out, errOut)
	addr := fs.String("addr", "127.0.0.1:4040", "listen address")
	seed := fs.String("seed", "", "JSON file: a case or an array of cases to preload (as existing records)")
	var users pairFlags
	fs.Var(&users, "user", "API account USERNAME:PASSWORD (repeatable; default openfn:openfn-password)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var cases []map[string]any
	if *seed != "" {
		var err error
		if cases, err = readSeed(*seed); err != nil {
			return err
		}
	}
	o := primero.Options{Addr: *addr}
	for _, u := range users {
		o.Users = append(o.Users, primero.User{Username: u[0], Password: u[1]})
	}
	s := primero.New(o)
	for _, c := range cases {
		s.SeedCase(c)
	}
	if err := s.Start(); err != nil {
		return err
	}
	accounts := []string{fmt.Sprintf("%d case(s) preloaded", len(cases))}
	if len(users) == 0 {
		accounts = append(accounts, "user: openfn (password openfn-password)")
	}
	for _, u := range users {
		accounts = append(accounts, "user: "+u[0])
	}
	serve(out, "Primero v2 simulator\n  url: "+s.URL()+"  (API under /api/v2)", accounts, s.Close, wait)
	return nil
}

func runOSCaR(args []string, out, errOut io.Writer, wait func()) error {
	fs := newFlags("oscar", out, errOut)
	addr := fs.String("addr", "127.0.0.1:4050", "listen address")
	seed := fs.String("seed", "", "JSON file: a client or an array of clients to preload")
	var users pairFlags
	fs.Var(&users, "user", "API account EMAIL:PASSWORD (repeatable; default openfn@oscar.org:oscar-password)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var clients []map[string]any
	if *seed != "" {
		var err error
		if clients, err = readSeed(*seed); err != nil {
			return err
		}
	}
	o := oscar.Options{Addr: *addr}
	for _, u := range users {
		o.Users = append(o.Users, oscar.User{Email: u[0], Password: u[1]})
	}
	s := oscar.New(o)
	for _, c := range clients {
		s.SeedClient(c)
	}
	if err := s.Start(); err != nil {
		return err
	}
	accounts := []string{fmt.Sprintf("%d client(s) preloaded", len(clients))}
	if len(users) == 0 {
		accounts = append(accounts, "user: openfn@oscar.org (password oscar-password)")
	}
	for _, u := range users {
		accounts = append(accounts, "user: "+u[0])
	}
	serve(out, "OSCaR simulator\n  baseUrl: "+s.URL(), accounts, s.Close, wait)
	return nil
}
