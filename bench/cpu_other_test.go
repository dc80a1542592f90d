//go:build !unix

package bench_test

import "time"

// processCPU is not available here: the cpu-ns/op metric is not reported.
func processCPU() (time.Duration, bool) { return 0, false }
