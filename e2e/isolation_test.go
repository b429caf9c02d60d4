package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
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
	// 4 GiB of address space per process: a worker maps about 1.6 GB at rest.
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
