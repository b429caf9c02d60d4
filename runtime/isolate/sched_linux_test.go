package isolate

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/jobmediator/jobmediator/runtime"
)

// Every thread of a worker, including those its runtime starts for a run,
// is under SCHED_BATCH (no wake-up preemption between workers); this
// process, the mediator, is not.
func TestWorkersRunUnderBatchScheduling(t *testing.T) {
	p := newPool(t, Options{Warm: 1, Size: 1})
	if r := p.Run(context.Background(), runtime.RunRequest{Workflow: workflow("ok", `fn(s => s)`, 0), Input: json.RawMessage(`{}`)}); r.Status != runtime.StatusSuccess {
		t.Fatal(r.Status, r.Error)
	}
	policy := func(tid int) uintptr {
		r, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
		if errno != 0 {
			t.Fatal(errno)
		}
		return r
	}
	if policy(os.Getpid()) == schedBatch {
		t.Fatal("the mediator itself runs under SCHED_BATCH")
	}
	for _, pid := range p.pids() {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil || len(tasks) < 2 {
			t.Fatalf("threads of worker %d: %v %v", pid, tasks, err)
		}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			if got := policy(tid); got != schedBatch {
				t.Errorf("worker %d thread %d: policy %d, want SCHED_BATCH", pid, tid, got)
			}
		}
	}
}
