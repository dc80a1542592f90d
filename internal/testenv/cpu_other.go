//go:build !unix

package testenv

import "time"

// ProcessCPU returns 0: the process's CPU time is only read on unix.
func ProcessCPU() time.Duration { return 0 }
