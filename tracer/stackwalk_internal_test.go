package tracer

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestStackwalkSetting(t *testing.T) {
	for _, tc := range []struct {
		available bool
		env       string
		want      bool
	}{
		{true, "", true},
		{true, "fp", true},
		{true, "runtime", false},
		{false, "", false},
		{false, "fp", false},
	} {
		if got := fpEnabled(tc.available, tc.env); got != tc.want {
			t.Errorf("fpEnabled(%v, %q) = %v, want %v", tc.available, tc.env, got, tc.want)
		}
	}
}

// Both settings give runtime.Callers' stacks; with the walk off, callers
// learns nothing (it is runtime.Callers).
func TestStackwalkBothSettings(t *testing.T) {
	saved := fpUnwind
	t.Cleanup(func() { fpUnwind = saved })
	for _, on := range []bool{false, saved} {
		fpUnwind = on
		for range 3 {
			learnt := stacksLearnt.Load()
			fp, rt := inlinedOuter()
			sameStack(t, fp, rt)
			if !on && stacksLearnt.Load() != learnt {
				t.Errorf("with the frame-pointer walk off, callers learnt a stack")
			}
		}
		// As a scoped statement captures its callers.
		ss := captureForTest(on)
		if ss == 0 {
			t.Errorf("walk %v: no callers captured", on)
		}
	}
}

//go:noinline
func captureForTest(_ bool) int {
	var pcs [maxCallers]uintptr
	return callers(1, pcs[:])
}

// PGXPERF_STACKWALK=runtime turns the walk off when the package starts: run
// this test binary again with it set.
func TestStackwalkEnvironment(t *testing.T) {
	if os.Getenv(stackwalkEnv) == "runtime" {
		if fpUnwind {
			t.Fatalf("%s=runtime, and the frame-pointer walk is on", stackwalkEnv)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^(TestStackwalkEnvironment|TestCallersMatchesRuntime)$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), stackwalkEnv+"=runtime")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with %s=runtime: %v\n%s", stackwalkEnv, err, out)
	}
	if !strings.Contains(string(out), "frame-pointer walk: false") || !strings.Contains(string(out), "--- PASS: TestStackwalkEnvironment") {
		t.Fatalf("with %s=runtime, unexpected output:\n%s", stackwalkEnv, out)
	}
}

// BenchmarkCallers compares the two settings on a scoped statement's capture
// (maxCallers frames, from a stack of about twenty).
func BenchmarkCallers(b *testing.B) {
	saved := fpUnwind
	b.Cleanup(func() { fpUnwind = saved })
	for _, bc := range []struct {
		name string
		on   bool
	}{{"framepointers", saved}, {"runtime", false}} {
		b.Run(bc.name, func(b *testing.B) {
			fpUnwind = bc.on
			b.ReportAllocs()
			for b.Loop() {
				deepCapture(15)
			}
		})
	}
}

//go:noinline
func deepCapture(n int) int {
	if n == 0 {
		var pcs [maxCallers]uintptr
		return callers(1, pcs[:])
	}
	return deepCapture(n-1) + 1
}
