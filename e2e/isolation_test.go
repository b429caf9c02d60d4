package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/internal/hugepage"
)

// memoryBombs are jobs that try to take the mediator down by memory, each
// in one of the ways a job can allocate (issue 11). Sizes are far over the
// 128 MB budget the test project gives them.
var memoryBombs = map[string]string{
	"array-buffer":  `new ArrayBuffer(1e12); return s;`,
	"typed-array":   `s.a = new Float64Array(2e9); return s;`,
	"string-repeat": `s.x = 'x'.repeat(2 ** 28); return s;`,
	"array-fill":    `s.a = Array(5e7).fill(1.5); return s;`,
	"json-parse":    `s.v = JSON.parse('[' + '"abcdefgh",'.repeat(2e7) + '1]'); return s;`,
	"string-flood":  `const keep = []; for (let i = 0; ; i++) keep.push('x'.repeat(8 << 20) + i);`,
	"object-flood":  `const keep = []; for (let i = 0; ; i++) keep.push({ i, name: 'n' + i, tags: [i, i + 1] });`,
	"promise-chain": `const keep = []; const step = i => { keep.push({ i, pad: 'p' + i }); return Promise.resolve(i + 1).then(step); }; return step(0);`,
}

func bombProject(t *testing.T) string {
	dir := t.TempDir()
	var p, o strings.Builder
	p.WriteString("name: bombs\nworkflows:\n")
	o.WriteString("workflows:\n")
	wf := func(key, body string) {
		fmt.Fprintf(&p, `  %[1]s:
    name: %[1]s
    jobs:
      run:
        name: run
        adaptor: '@openfn/language-common@3'
        body: |
          %[2]s
    triggers:
      webhook: {type: webhook, enabled: true}
    edges:
      webhook->run: {source_trigger: webhook, target_job: run, condition_type: always, enabled: true}
`, key, body)
	}
	wf("normal", `fn(s => ({ ...s, data: { ok: true, n: s.data.n } }));`)
	for name, bomb := range memoryBombs {
		wf(name, `fn(s => { console.log('about to allocate'); return s; }); fn(s => { `+bomb+` });`)
		fmt.Fprintf(&o, "  %s:\n    memory_limit: 128mb\n", name)
	}
	for name, body := range map[string]string{"project.yaml": p.String(), "jobmediator.yaml": o.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestMemoryBombsFailAlone fires every bomb while normal requests keep
// coming: each bomb gets a 5xx naming the limit and a run in history with
// its logs so far; the mediator stays up and every normal request gets 200.
func TestMemoryBombsFailAlone(t *testing.T) {
	const token = "bomb-token"
	// 4 GiB of address space per process: a worker maps about 1.9 GB at rest.
	p := startCapped(t, 4<<20, map[string]string{"JM_PROJECT": bombProject(t), "JM_API_TOKEN": token, "LOG_LEVEL": "info"})
	client := &http.Client{Timeout: 120 * time.Second}
	post := func(path, body string) (int, string) {
		resp, err := client.Post(p.URL()+path, "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var failures []string
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body := post("/normal", fmt.Sprintf(`{"n":%d}`, i))
				mu.Lock()
				statuses[code]++
				if code != 200 || body != fmt.Sprintf(`{"ok":true,"n":%d}`, i) {
					failures = append(failures, fmt.Sprintf("%d %s", code, body))
				}
				mu.Unlock()
			}
		}(c)
	}

	names := make([]string, 0, len(memoryBombs))
	for name := range memoryBombs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		start := time.Now()
		code, body := post("/"+name, `{}`)
		var ans struct {
			RunID string `json:"run_id"`
			Error struct{ Name, Message string }
		}
		_ = json.Unmarshal([]byte(body), &ans)
		if code < 500 || ans.Error.Name != "MemoryLimitError" || ans.Error.Message != "run used more than 128 MB; raise `memory_limit` for this workflow" {
			t.Errorf("%s: %d %s", name, code, body)
			continue
		}
		t.Logf("%s: %d %s after %v", name, code, ans.Error.Name, time.Since(start).Round(time.Millisecond))
		// The run is in history, failed, with what it logged before it blew.
		req, _ := http.NewRequest("GET", p.URL()+"/api/runs/"+ans.RunID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		var hist struct {
			Run struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"run"`
			Logs []struct{ Message string } `json:"logs"`
		}
		waitFor(t, name+" in run history", 10*time.Second, func() bool {
			resp, err := client.Do(req)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&hist) == nil
		})
		if hist.Run.Status == "success" || !strings.Contains(hist.Run.Error, "MemoryLimitError") && !strings.Contains(hist.Run.Error, "run used more than 128 MB") {
			t.Errorf("%s: history says %+v", name, hist.Run)
		}
		if len(hist.Logs) == 0 || !strings.Contains(hist.Logs[0].Message, "about to allocate") {
			t.Errorf("%s: logs so far not in history: %+v", name, hist.Logs)
		}
	}
	close(stop)
	wg.Wait()

	select {
	case err := <-p.done:
		t.Fatalf("the mediator exited: %v", err)
	default:
	}
	if code, body := post("/normal", `{"n":-1}`); code != 200 {
		t.Fatalf("after the bombs: %d %s", code, body)
	}
	t.Logf("normal requests meanwhile: %v", statuses)
	if len(failures) > 0 || statuses[200] == 0 {
		t.Fatalf("normal requests: %v; failures: %v", statuses, failures)
	}
}

// TestWorkerCommandIsForTheDaemon: `jobmediator worker` typed by a person
// (no pipes on fds 3 and 4) says what it is for instead of failing oddly.
func TestWorkerCommandIsForTheDaemon(t *testing.T) {
	out, err := exec.Command(binary, "worker").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "started by `jobmediator serve` only") {
		t.Fatalf("jobmediator worker: %v\n%s", err, out)
	}
}

// TestWorkerHeapOnHugePages: a worker's heap is on transparent huge pages
// while it runs a job (internal/hugepage), on a kernel that gives them only
// to memory that asks (THP "madvise"). The job builds 200,000 objects in
// goja and then waits on an upstream that holds its request, so the run
// is caught in the middle: the worker's /proc/PID/smaps shows the advised
// region ("hg") with huge pages in it.
func TestWorkerHeapOnHugePages(t *testing.T) {
	setting, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		t.Fatal("this test reads the kernel's THP setting:", err)
	}
	thp := ""
	if i, j := strings.IndexByte(string(setting), '['), strings.IndexByte(string(setting), ']'); i >= 0 && j > i {
		thp = string(setting)[i+1 : j]
	}
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"held":true}`)
	}))
	defer upstream.Close()
	defer close(release)
	dir := t.TempDir()
	project := fmt.Sprintf(`name: huge
workflows:
  big:
    name: big
    jobs:
      build:
        name: build
        adaptor: '@openfn/language-http@7'
        body: |
          fn(s => { s.keep = []; for (let i = 0; i < 200000; i++) s.keep.push({ i, name: 'n' + i }); return s; });
          get('%s/hold');
          fn(s => ({ data: { n: s.keep.length, held: s.data.held } }));
    triggers:
      webhook: {type: webhook, enabled: true}
    edges:
      webhook->build: {source_trigger: webhook, target_job: build, condition_type: always, enabled: true}
`, upstream.URL)
	if err := os.WriteFile(filepath.Join(dir, "project.yaml"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, map[string]string{"JM_PROJECT": dir, "LOG_LEVEL": "info"})
	want := map[string]string{
		"madvise": `"hugepages":"256 MiB of heap while jobs run (THP: madvise)"`,
		"always":  `"hugepages":"the kernel's own (THP: always)"`,
		"never":   `"hugepages":"off (THP: never)"`,
	}[thp]
	if want == "" || !strings.Contains(p.Logs(), want) {
		t.Fatalf("THP %q: the start log should say %s:\n%s", thp, want, p.Logs())
	}

	before := fallbacks(t)
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Post(p.URL()+"/big", "application/json", strings.NewReader(`{}`))
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	select {
	case <-arrived:
	case a := <-answer:
		t.Fatalf("the run ended before reaching the upstream: %s", a)
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not reach the upstream within 60 s")
	}
	// the run is in the middle of its get: read every worker's mappings
	advisedHuge, advisedAny, hugeKB := 0, 0, int64(0)
	for _, pid := range childPIDs(t, p.cmd.Process.Pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
		if err != nil {
			continue // a worker that just exited
		}
		advised, huge, kb := false, false, int64(0)
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 0:
			case f[0] == "AnonHugePages:" && len(f) > 1:
				kb, _ = strconv.ParseInt(f[1], 10, 64)
				hugeKB += kb
			case f[0] == "VmFlags:" && slices.Contains(f[1:], "hg"):
				advised, huge = true, huge || kb > 0
			}
		}
		if advised {
			advisedAny++
		}
		if huge {
			advisedHuge++
		}
	}
	switch thp {
	case "madvise":
		// one worker runs, so one holds the advice; its heap is huge pages
		// unless the kernel found no free 2 MiB and fell back (and counted it)
		if advisedAny != 1 || advisedHuge != 1 && fallbacks(t) == before {
			t.Errorf("THP madvise: %d workers advised, %d of them holding huge pages; want the one running the job", advisedAny, advisedHuge)
		}
	case "never":
		if hugeKB != 0 {
			t.Errorf("THP never: the workers hold %d kB of huge pages", hugeKB)
		}
	}
	release <- struct{}{}
	if a := <-answer; a != `200 {"n":200000,"held":true}` {
		t.Fatalf("the run's answer: %s", a)
	}
}

// childPIDs lists the processes pid started (the mediator's workers).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	if len(pids) == 0 {
		t.Fatalf("the mediator (pid %d) has no worker processes", pid)
	}
	return pids
}

func fallbacks(t *testing.T) int64 {
	t.Helper()
	n, err := hugepage.Fallbacks()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
