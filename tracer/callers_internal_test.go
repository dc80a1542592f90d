package tracer

import (
	"os"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// bothCallers captures the stack with callers and with runtime.Callers.
//
//go:noinline
func bothCallers() (fp, rt []uintptr) {
	fp, rt = make([]uintptr, 64), make([]uintptr, 64)
	fp = fp[:callers(1, fp)]
	rt = rt[:runtime.Callers(1, rt)]
	return fp, rt
}

// sameStack fails t unless the two captures list the same frames: the first
// ones are two calls in bothCallers, the others are the same return addresses.
func sameStack(t *testing.T, fp, rt []uintptr) {
	t.Helper()
	if len(fp) < 2 || len(fp) != len(rt) || funcEntry(fp[0]) != funcEntry(rt[0]) || !slices.Equal(fp[1:], rt[1:]) {
		t.Errorf("frame-pointer walk:\n%s\nruntime.Callers:\n%s", frameList(fp), frameList(rt))
	}
}

func frameList(pcs []uintptr) string {
	s := ""
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		s += "  " + f.Function + "\n"
		if !more {
			return s
		}
	}
}

func inlinedOuter() ([]uintptr, []uintptr) { return inlinedInner() }
func inlinedInner() ([]uintptr, []uintptr) { return bothCallers() }

type byValue struct{}

func (byValue) Capture() ([]uintptr, []uintptr) { return bothCallers() }

type capturer interface{ Capture() ([]uintptr, []uintptr) }

func generic[T any](v T) ([]uintptr, []uintptr) { return bothCallers() }

//go:noinline
func recurse(n int, pad [64]byte) ([]uintptr, []uintptr) {
	if n == 0 {
		return bothCallers()
	}
	return recurse(n-1, pad)
}

// TestCallersMatchesRuntime pins callers to runtime.Callers on the shapes of
// stack the frame-pointer walk must expand: inlined calls, closures, method
// and go-statement wrappers, generics, deep and freshly grown stacks.
func TestCallersMatchesRuntime(t *testing.T) {
	if fpEnabled(fpAvailable, os.Getenv(stackwalkEnv)) && !fpUnwind {
		t.Error("the frame-pointer walk disagreed with runtime.Callers at init")
	}
	t.Logf("frame-pointer walk: %v", fpUnwind)
	cases := map[string]func() ([]uintptr, []uintptr){
		"direct":  bothCallers,
		"inlined": inlinedOuter,
		//nolint:gocritic // unlambda: the closure's own frame is what this case is about
		"closure": func() ([]uintptr, []uintptr) { return func() ([]uintptr, []uintptr) { return bothCallers() }() },
		"interface wrapper": func() ([]uintptr, []uintptr) {
			var c capturer = &byValue{}
			return c.Capture()
		},
		"method value": func() ([]uintptr, []uintptr) {
			f := byValue{}.Capture
			return f()
		},
		"generic": func() ([]uintptr, []uintptr) { return generic(1) },
		"deep":    func() ([]uintptr, []uintptr) { return recurse(200, [64]byte{}) },
		"deferred": func() (fp, rt []uintptr) {
			defer func() { fp, rt = bothCallers() }()
			return nil, nil
		},
	}
	for name, capture := range cases {
		t.Run(name, func(t *testing.T) {
			// The first capture learns the frames; the next ones walk them.
			for i := range 3 {
				learnt := stacksLearnt.Load()
				fp, rt := capture()
				sameStack(t, fp, rt)
				var wg sync.WaitGroup
				wg.Go(func() { fp, rt = capture() }) // a new goroutine: small stack, grown on the way
				wg.Wait()
				sameStack(t, fp, rt)
				if i > 0 && fpUnwind && stacksLearnt.Load() != learnt {
					t.Errorf("capture %d did not walk the frame pointers", i+1)
				}
			}
		})
	}
}

//go:noinline
func neverOnAStack() {}

//go:noinline
func neverOnAStackEither() {}

// A return address whose frames cannot be matched with runtime.Callers' is
// marked slow, and a walk through it falls back to runtime.Callers.
func TestLearnFramesMarksMismatchSlow(t *testing.T) {
	// Function entries plus one: never return addresses on a real stack.
	a := reflect.ValueOf(neverOnAStack).Pointer() + 1
	b := reflect.ValueOf(neverOnAStackEither).Pointer() + 1
	learnFrames([]uintptr{a}, []uintptr{a, b}, true) // b has no frame pointer behind it
	f := lookupFrame(a)
	if f == nil || !f.slow {
		t.Fatalf("frame %+v, want it marked slow", f)
	}
}
