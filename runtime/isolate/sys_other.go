//go:build !linux

package isolate

import (
	"errors"
	"os"
	"syscall"
)

// Without a side pipe, log and exchange frames go on the main pipe.
func sidePipe() (*sideReader, *os.File, int, error) {
	return nil, nil, 0, errors.New("no side pipe on this system")
}

func (s *sideReader) read(buf []byte) []byte { return buf }

func (s *sideReader) close() {}

func setAddressSpaceLimit(int64) {}

func workerSysProcAttr() *syscall.SysProcAttr { return nil }

func batchScheduling() {}

// WorkerPipe opens a pipe the mediator handed a worker on fd; false when fd
// is not a pipe.
func WorkerPipe(fd uintptr, name string) (*os.File, bool) {
	f := os.NewFile(fd, name)
	fi, err := f.Stat()
	return f, err == nil && fi.Mode()&os.ModeNamedPipe != 0
}
