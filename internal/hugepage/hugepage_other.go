//go:build !linux

package hugepage

func reserve(int64) string { return "off (Linux only)" }

func advise(bool) bool { return false }
