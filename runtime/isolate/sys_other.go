//go:build !linux

package isolate

import "syscall"

func statm(string) (vsz, rss int64, ok bool) { return 0, 0, false }

func setAddressSpaceLimit(int64) {}

func workerSysProcAttr() *syscall.SysProcAttr { return nil }
