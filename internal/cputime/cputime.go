// Package cputime reads the CPU time the running process has used, user
// and system together: what the benchmarks (bench, and the Go benchmarks
// that report cpu-ns/op) set beside wall time, since on a shared machine
// the two differ.
package cputime

import (
	"syscall"
	"time"
)

// Self is the CPU time the process has used so far, or 0 when the system
// does not say.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
