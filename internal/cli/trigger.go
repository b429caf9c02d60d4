package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// trigger asks the running daemon to run a workflow now, with its store and
// cursors (unlike `run`, which is a one-off local run). --cursor replaces
// the stored cursor (a success then advances it from there); --state is the
// seeds' "initialState" pattern: one run from that state, cursor untouched.
func trigger(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := newFlags("trigger", stdout, stderr)
	port := 4001
	if p := getenv("SERVER_PORT"); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	fs.IntVar(&port, "port", port, "port of the running daemon (default $SERVER_PORT or 4001)")
	host := fs.String("host", "127.0.0.1", "host of the running daemon")
	// Not the flag's default: --help prints defaults, and this is a secret.
	token := fs.String("token", "", "API token (default $JM_API_TOKEN)")
	cursorFile := fs.String("cursor", "", "JSON file: replace the workflow's cursor with this state before running")
	stateFile := fs.String("state", "", "JSON file: run once from this state, leaving the cursor alone")
	timeout := fs.Duration("timeout", 310*time.Second, "how long to wait for the run")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "trigger: want exactly one workflow key")
		return exitUsage
	}
	if *cursorFile != "" && *stateFile != "" {
		fmt.Fprintln(stderr, "trigger: --cursor and --state exclude each other")
		return exitUsage
	}
	if *token == "" {
		*token = getenv("JM_API_TOKEN")
	}
	if *token == "" {
		fmt.Fprintln(stderr, "trigger: no API token: set JM_API_TOKEN (the daemon's /api is disabled without one)")
		return exitUsage
	}
	body := map[string]json.RawMessage{}
	for field, path := range map[string]string{"cursor": *cursorFile, "state": *stateFile} {
		if path == "" {
			continue
		}
		b, err := readState(path, nil)
		if err != nil {
			fmt.Fprintln(stderr, "trigger:", err)
			return exitUsage
		}
		body[field] = b
	}
	payload, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	u := fmt.Sprintf("http://%s:%d/api/workflows/%s/run", *host, port, url.PathEscape(pos[0]))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "trigger: %s: %v (is `jobmediator serve` running?)\n", u, err)
		return exitFailed
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = append(pretty.Bytes(), '\n')
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "trigger: %s answered %d\n%s", u, resp.StatusCode, out)
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized {
			return exitUsage
		}
		return exitFailed
	}
	_, _ = stdout.Write(out) // the terminal; nothing to report to
	var r struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(out, &r)
	if r.Status != "" && r.Status != "success" {
		return exitFailed
	}
	return exitOK
}
