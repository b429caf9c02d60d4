package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jobmediator/jobmediator/adaptors"
	_ "github.com/jobmediator/jobmediator/adaptors/all" // register every adaptor
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/internal/hugepage"
	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/workflow"
)

func validateAdaptor(spec string) error {
	_, _, err := adaptors.Resolve(spec)
	return err
}

// run executes a job file or a workflow once, OpenFn-CLI style: the final
// state goes to -o (or stdout), logs to stderr.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := newFlags("run", stdout, stderr)
	var adaptor, statePath, outPath, compat, wfKey, credPath string
	fs.StringVar(&adaptor, "a", "", "adaptor for a .js job, e.g. http@7 or @openfn/language-http@5.0.4 (default common)")
	fs.StringVar(&adaptor, "adaptor", "", "same as -a")
	fs.StringVar(&statePath, "s", "", "input state JSON file ('-' for stdin)")
	fs.StringVar(&statePath, "state", "", "same as -s")
	fs.StringVar(&outPath, "o", "", "write the final state here instead of stdout")
	fs.StringVar(&outPath, "output", "", "same as -o")
	keepConf := fs.Bool("keep-configuration", false, "keep state.configuration (credentials, in clear) in the -o file; by default it is removed, as the OpenFn CLI does")
	fs.StringVar(&compat, "compat", getenv("JM_COMPAT"), "legacy (OpenFn v1) or lightning (default)")
	fs.StringVar(&wfKey, "workflow", "", "workflow key or name to run from a project with several")
	fs.StringVar(&credPath, "credentials", getenv("JM_CREDENTIALS"), "credentials file (YAML or JSON map of key → fields)")
	timeout := fs.Duration("timeout", 300*time.Second, "deadline for the whole run")
	stateLimit := config.FormatByteSize(config.StateLimit(config.DefaultBodySizeLimit))
	if v := getenv("BODY_SIZE_LIMIT"); v != "" {
		if n, err := config.ParseByteSize(v); err == nil {
			stateLimit = config.FormatByteSize(config.StateLimit(n))
		}
	}
	fs.StringVar(&stateLimit, "state-limit", stateLimit, "largest input state and state after each step, e.g. 50mb (default: what serve allows with BODY_SIZE_LIMIT)")
	nowFlag := fs.String("now", "", "fixed clock for the run (RFC 3339), for reproducible outputs: Date, cursor() and date helpers see this time")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "run: want exactly one JOB.js, workflow.json or project.yaml")
		return exitUsage
	}
	path := pos[0]
	cp := config.Compat(strings.ToLower(compat))
	if cp != config.CompatDefault && cp != config.CompatLegacy && cp != config.CompatLightning {
		fmt.Fprintf(stderr, "run: --compat %q: want legacy or lightning\n", compat)
		return exitUsage
	}
	input, err := readState(statePath, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "run:", err)
		return exitUsage
	}
	creds := config.NewCredentials(nil)
	if credPath != "" {
		if creds, err = config.LoadCredentials(credPath); err != nil {
			fmt.Fprintln(stderr, "run:", err)
			return exitUsage
		}
	}
	red := redact.New()
	red.AddValues(creds.SecretValues()...)
	// A state file may carry configuration (as with @openfn/cli); its
	// secrets must not reach the terminal either.
	var st struct {
		Configuration map[string]any `json:"configuration"`
	}
	if json.Unmarshal(input, &st) == nil && st.Configuration != nil {
		red.AddSecretsFrom(st.Configuration)
	}
	rec := recorder.NewRecorder(red)
	req := runtime.RunRequest{
		Compat:     cp,
		Input:      input,
		Credential: creds.Get,
		HTTP:       recorder.NewClient(nil, rec),
		Redactor:   red,
		Log: func(l runtime.LogLine) {
			step := ""
			if l.Step != "" {
				step = "[" + l.Step + "] "
			}
			fmt.Fprintf(stderr, "%s%-5s %s\n", step, strings.ToUpper(l.Level), l.Message)
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	maxState, err := config.ParseByteSize(stateLimit)
	if err != nil {
		fmt.Fprintln(stderr, "run: --state-limit:", err)
		return exitUsage
	}
	opts := runtime.Options{Compat: cp, MaxStateBytes: int(maxState), MaxInputBytes: int(maxState)}
	if *nowFlag != "" {
		fixed, err := time.Parse(time.RFC3339Nano, *nowFlag)
		if err != nil {
			fmt.Fprintf(stderr, "run: --now %q: want an RFC 3339 time such as 2025-03-04T10:20:30Z\n", *nowFlag)
			return exitUsage
		}
		opts.Now = func() time.Time { return fixed }
	}
	hugepage.Reserve(hugepage.Size) // as a worker does
	eng := runtime.New(opts)

	var res *runtime.Result
	var jobs []*config.Job // to point errors at their source
	projectPath := path
	if strings.HasSuffix(strings.ToLower(path), ".js") {
		body, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "run:", err)
			return exitUsage
		}
		if adaptor == "" {
			adaptor = "@openfn/language-common"
		}
		spec := config.ExpandAdaptor(adaptor)
		if err := validateAdaptor(spec); err != nil {
			fmt.Fprintln(stderr, "run: -a:", err)
			return exitUsage
		}
		key := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		job := &config.Job{Key: key, Name: key, Adaptor: spec, Body: string(body), BodyPath: path, Compat: cp}
		jobs = []*config.Job{job}
		res = eng.RunJob(ctx, job, cp, input, req)
	} else {
		p, err := config.LoadProjectWith(path, config.LoadOptions{ValidateAdaptor: validateAdaptor})
		if err != nil {
			fmt.Fprintf(stderr, "run: %s is invalid:\n", path)
			listErrors(stderr, []error{err})
			return exitUsage
		}
		for k, v := range p.InlineCredentials() {
			if _, ok := creds.Get(k); !ok {
				creds = creds.Merge(map[string]map[string]any{k: v})
			}
		}
		req.Credential = creds.Get
		wf, err := pickWorkflow(p, wfKey)
		if err != nil {
			fmt.Fprintln(stderr, "run:", err)
			return exitUsage
		}
		req.Workflow = wf
		jobs, projectPath = wf.Jobs, p.Path
		if req.Compat == config.CompatDefault {
			req.Compat = p.Compat
		}
		res = workflow.NewLocal(eng).Run(ctx, req)
	}
	for _, ex := range rec.Exchanges() {
		status := ex.Error
		if ex.Response != nil {
			status = fmt.Sprint(ex.Response.Status)
		}
		fmt.Fprintf(stderr, "→ %s %s %s\n", ex.Request.Method, ex.Request.URL, status)
	}
	final := res.State != nil
	if !final && res.Reached != nil {
		// No final state (a crash, or a failed legacy run): write the state
		// the failing operation was handed, so the user sees how far the
		// job got, and say that it is not a final state.
		res.State = res.Reached
		fmt.Fprintln(stderr, "no final state: writing the state the failing operation was handed")
	}
	if res.State != nil {
		state := res.State
		if outPath != "" && !*keepConf {
			// The legacy profile keeps configuration in final state; a file
			// outlives the terminal, so credentials do not go into it.
			state = jsonvalue.WithoutKey(state, "configuration")
		}
		if err := writeState(state, outPath, stdout); err != nil {
			fmt.Fprintln(stderr, "run:", err)
			return exitFailed
		}
	}
	if res.Status != runtime.StatusSuccess {
		e := res.Error
		if e == nil {
			e = &runtime.Error{Message: "run failed"}
		}
		where, excerpt := e.Step, ""
		if e.Line > 0 {
			where = fmt.Sprintf("%s:%d", where, e.Line)
			if j := stepJob(jobs, e.Step); j != nil {
				file, line, col, field, src := runtime.Locate(projectPath, j, e.Line, e.Column)
				where = fmt.Sprintf("%s:%d", file, line)
				if col > 0 {
					where = fmt.Sprintf("%s:%d", where, col)
				}
				where += " (" + field + ")"
				excerpt = config.Excerpt(red.String(src), line, col)
			}
		}
		fmt.Fprintf(stderr, "run failed: %s in %s: %s\n%s", e.Name, where, red.String(e.Message), excerpt)
		return exitFailed
	}
	return exitOK
}

// stepJob finds the job of a step id ("key", or "key-1" when a step ran
// twice).
func stepJob(jobs []*config.Job, step string) *config.Job {
	for _, j := range jobs {
		if j.Key == step {
			return j
		}
	}
	for _, j := range jobs {
		if rest, ok := strings.CutPrefix(step, j.Key+"-"); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return j
		}
	}
	return nil
}

func pickWorkflow(p *config.Project, name string) (*config.Workflow, error) {
	if name != "" {
		if wf := p.Workflow(name); wf != nil {
			return wf, nil
		}
		return nil, fmt.Errorf("no workflow %q in %s", name, p.Path)
	}
	if len(p.Workflows) == 1 {
		return p.Workflows[0], nil
	}
	var keys []string
	for _, wf := range p.Workflows {
		keys = append(keys, wf.Key)
	}
	return nil, fmt.Errorf("%s has %d workflows: choose one with --workflow (%s)", p.Path, len(keys), strings.Join(keys, ", "))
}

// readState reads the input state; no file means {} (what @openfn/cli does).
func readState(path string, stdin io.Reader) (json.RawMessage, error) {
	if path == "" {
		return json.RawMessage(`{}`), nil
	}
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %v", err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON: %v", path, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("state file %s must hold a JSON object, e.g. {\"data\": {}}", path)
	}
	return b, nil
}

func writeState(state json.RawMessage, path string, stdout io.Writer) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, state, "", "  "); err != nil {
		buf.Reset()
		buf.Write(state)
	}
	buf.WriteByte('\n')
	if path == "" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
