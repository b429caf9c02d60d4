package cli

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/jobmediator/jobmediator/internal/version"
)

func printVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "jobmediator %s\n", versionString())
	return exitOK
}

func versionString() string { return version.String() }

// healthcheck asks the local daemon's /readyz. It exists for images without
// curl (distroless), as Docker's HEALTHCHECK CMD.
func healthcheck(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := newFlags("healthcheck", stdout, stderr)
	port := 4001
	if p := getenv("SERVER_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(stderr, "healthcheck: SERVER_PORT=%q is not a port number\n", p)
			return exitUsage
		}
		port = n
	}
	fs.IntVar(&port, "port", port, "port the daemon listens on (default $SERVER_PORT or 4001)")
	path := fs.String("path", "/readyz", "endpoint to ask (/readyz or /healthz)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	scheme, client := "http", http.DefaultClient
	if getenv("TLS_CERT_FILE") != "" {
		// The daemon serves HTTPS only. This probe asks our own process on
		// loopback for a status code, so it does not verify the certificate
		// (whose names need not include 127.0.0.1); it sends nothing secret.
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // G402: loopback probe of our own process, sends nothing secret (see above) //nolint:gosec // G402: see above
	}
	url := fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, port, *path)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %s: %v\n", url, err)
		return exitFailed
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s answered %d: %s\n", url, resp.StatusCode, body)
		return exitFailed
	}
	return exitOK
}
