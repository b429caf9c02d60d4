package bench

import (
	"os/exec"
	"testing"
	"time"
)

// TestCPUTimeCountsChildren: the CPU a live child burns shows in its
// parent's tree total (the mediator's job workers are its children). The
// parent shell only waits; its child counts to 400,000 (a few hundred ms
// of CPU) and then sleeps, still alive.
func TestCPUTimeCountsChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sh -c 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; sleep 3' & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	own, ok := readStat(cmd.Process.Pid)
	if !ok {
		t.Fatal("/proc/<pid>/stat unreadable: the routed bench needs Linux")
	}
	var grew time.Duration
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		tree, _ := cpuTime(cmd.Process.Pid)
		parent, _ := readStat(cmd.Process.Pid)
		if grew = tree - time.Duration(parent.ticks)*clockTick; grew >= 100*time.Millisecond {
			if parent.ticks-own.ticks > 5 {
				t.Errorf("the waiting parent itself used %d ticks", parent.ticks-own.ticks)
			}
			return
		}
	}
	t.Fatalf("the tree's CPU beyond the parent's own grew by %v while its child counted to 400,000", grew)
}
