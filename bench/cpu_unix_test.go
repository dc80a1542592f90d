//go:build unix

package bench_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used.
// Per operation it is a steadier measure than wall time on a shared machine:
// time spent descheduled while other processes run is not counted.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
