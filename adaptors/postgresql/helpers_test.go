package postgresql_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/postgresql"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
)

// The development machine's PostgreSQL (trust auth). The password is sent
// but not checked: it exists so tests can prove it never leaks.
const (
	pgHost     = "127.0.0.1"
	pgPort     = 5432
	pgDatabase = "test"
	pgUser     = "postgres"
	pgPassword = "pg-Secret-Tr0ub4dor-93"
)

// schema is this test binary's own schema, dropped at the end.
var schema string

func TestMain(m *testing.M) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema = "jm_pg_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := pgx.Connect(ctx, dsn())
	cancel()
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			fmt.Fprintf(os.Stderr, "postgresql tests need PostgreSQL at %s:%d (database %s): %v\n", pgHost, pgPort, pgDatabase, err)
		}
		fmt.Fprintln(os.Stderr, "connecting to the test database:", err)
		os.Exit(1)
	}
	_, err = conn.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating schema:", err)
		os.Exit(1)
	}
	code := m.Run()
	_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	_ = conn.Close(context.Background())
	os.Exit(code)
}

func dsn() string {
	return fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable", pgHost, pgPort, pgDatabase, pgUser)
}

// db runs test-side SQL (setup and assertions) outside the adaptor.
func db(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func mustExec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t testing.TB, c *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

var tableSeq int

// table returns a fresh schema-qualified table name.
func table(prefix string) string {
	tableSeq++
	return fmt.Sprintf("%s.%s_%d", schema, prefix, tableSeq)
}

func conf() map[string]any {
	return map[string]any{"host": pgHost, "port": pgPort, "database": pgDatabase, "user": pgUser, "password": pgPassword}
}

type runOut struct {
	res   *runtime.Result
	state map[string]any
	ex    []recorder.Exchange
	props map[string]string
	logs  string
}

type runOpt struct {
	adaptor     string
	compat      config.Compat
	input       string
	conf        map[string]any
	stepTimeout time.Duration
}

// run executes one job with the real runtime.
func run(t testing.TB, body string, o runOpt) runOut {
	t.Helper()
	if o.adaptor == "" {
		o.adaptor = "@openfn/language-postgresql@8.1.2"
	}
	if o.compat == "" {
		o.compat = config.CompatLightning
	}
	if o.input == "" {
		o.input = `{}`
	}
	if o.conf == nil {
		o.conf = conf()
	}
	red := redact.New()
	rec := recorder.NewRecorder(red)
	e := runtime.New(runtime.Options{StepTimeout: o.stepTimeout})
	job := &config.Job{Key: "step", Adaptor: o.adaptor, Body: body, Credential: "db"}
	res := e.RunJob(context.Background(), job, o.compat, []byte(o.input), runtime.RunRequest{
		HTTP: recorder.NewClient(nil, rec), Redactor: red,
		Credential: func(k string) (map[string]any, bool) { return o.conf, k == "db" },
	})
	var st map[string]any
	if res.State != nil {
		if err := json.Unmarshal(res.State, &st); err != nil {
			t.Fatalf("state is not JSON: %v: %s", err, res.State)
		}
	}
	var logs strings.Builder
	for _, l := range res.Logs {
		logs.WriteString(l.Level + " " + l.Message + "\n")
	}
	return runOut{res, st, rec.Exchanges(), rec.Properties(), logs.String()}
}

func mustSucceed(t testing.TB, out runOut) {
	t.Helper()
	if out.res.Status != runtime.StatusSuccess {
		t.Log(out.logs)
		t.Fatalf("status %s: %+v", out.res.Status, out.res.Error)
	}
}

func mustFail(t testing.TB, out runOut) *runtime.Error {
	t.Helper()
	if out.res.Status == runtime.StatusSuccess || out.res.Error == nil {
		t.Fatalf("run succeeded, want a failure; state %v", out.state)
	}
	return out.res.Error
}

// get walks decoded JSON: get(v, "result", "rows", "0", "id").
func get(v any, path ...string) any {
	for _, p := range path {
		switch t := v.(type) {
		case map[string]any:
			v = t[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// noSecret fails if the password appears in anything a run leaves behind.
func noSecret(t testing.TB, out runOut) {
	t.Helper()
	b, _ := json.Marshal(out.ex)
	e, _ := json.Marshal(out.res.Error)
	p, _ := json.Marshal(out.props)
	for what, s := range map[string]string{"exchanges": string(b), "error": string(e), "logs": out.logs, "properties": string(p)} {
		if strings.Contains(s, pgPassword) {
			t.Errorf("password leaked into %s: %s", what, s)
		}
	}
}

// freePort is a local port with nothing listening.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return p
}
