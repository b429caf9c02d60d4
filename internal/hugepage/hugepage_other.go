//go:build !linux

package hugepage

import "errors"

func reserve(int64) string { return "off (Linux only)" }

func advise(bool) bool { return false }

// Fallbacks is Linux's count of huge page faults that fell back.
func Fallbacks() (int64, error) { return 0, errors.ErrUnsupported }
