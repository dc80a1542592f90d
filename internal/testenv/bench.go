package testenv

import (
	"testing"
	"time"
)

// ReportCPU reports, as "cpu-ns/op", the process CPU time used since start
// (a ProcessCPU reading) per operation of b. It reports nothing where the
// CPU time cannot be read.
func ReportCPU(b *testing.B, start time.Duration) {
	if end := ProcessCPU(); start > 0 && end > start && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}
