package tracer

import (
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// callers is runtime.Callers(skip, pcs) as if called in its caller's place
// (skip ≥ 1: 1 is callers' caller), for stacks of up to 64 frames: the
// program counters of the goroutine's logical frames, inlined calls included,
// wrappers left out.
//
// Where frame pointers can be trusted (amd64, checked when the package
// starts), it follows them instead of unwinding with the runtime's tables: a
// load and a table lookup per frame, against about 60 ns a frame for
// runtime.Callers on a busy VM. What a return address stands for in
// runtime.Callers' terms is learnt from runtime.Callers itself, the first
// time the address is seen, so both give the same counters.
//
//go:noinline
func callers(skip int, pcs []uintptr) int {
	if !fpUnwind {
		return runtime.Callers(skip+1, pcs)
	}
	n, known, slow := fpCallers(framePointer(), skip, pcs)
	if known {
		return n
	}
	if slow {
		return runtime.Callers(skip+1, pcs)
	}
	var rets, logical [64]uintptr
	nr := fpReturns(framePointer(), rets[:])
	nl := runtime.Callers(2, logical[:]) // from callers' caller, as the walk
	stacksLearnt.Add(1)
	learnFrames(rets[:nr], logical[:nl], nl < len(logical) && nr < len(rets))
	return copy(pcs, logical[min(skip-1, nl):nl])
}

// stacksLearnt counts the stacks callers learnt from (the tests read it).
var stacksLearnt atomic.Int64

// fpUnwind is set at init when the frame-pointer walk is available, not
// turned off (stackwalkEnv), and agrees with runtime.Callers (fpCheck).
var fpUnwind bool

// stackwalkEnv names the environment variable that turns the frame-pointer
// walk off: PGXPERF_STACKWALK=runtime makes callers use runtime.Callers
// (see "Call stacks" in the package documentation). It is read once, when
// the package starts.
const stackwalkEnv = "PGXPERF_STACKWALK"

func init() {
	fpUnwind = fpEnabled(fpAvailable, os.Getenv(stackwalkEnv))
	if fpUnwind {
		learned := fpCheck(3)            // the first call learns the frame layout
		fpUnwind = learned && fpCheck(3) // the second walks with it
	}
}

// fpEnabled says whether to walk frame pointers where available, given the
// value of PGXPERF_STACKWALK: "runtime" turns it off; anything else (empty,
// "fp") leaves it on.
func fpEnabled(available bool, env string) bool {
	return available && env != "runtime"
}

// fpCheck compares callers with runtime.Callers a few frames down from here.
//
//go:noinline
func fpCheck(depth int) bool {
	if depth > 0 {
		return fpCheck(depth - 1)
	}
	var fp, rt [64]uintptr
	n := callers(1, fp[:])
	m := runtime.Callers(1, rt[:])
	// The first frames are two different calls in fpCheck.
	return n == m && n >= 2 && funcEntry(fp[0]) == funcEntry(rt[0]) && slices.Equal(fp[1:n], rt[1:m])
}

// funcEntry returns the entry of the (outermost, physical) function holding
// a return address, or 0 when it is not Go code.
func funcEntry(pc uintptr) uintptr {
	if f := runtime.FuncForPC(pc - 1); f != nil {
		return f.Entry()
	}
	return 0
}

// physFrame is what a return address on the stack stands for.
type physFrame struct {
	ret     uintptr
	logical []uintptr // its logical frames, innermost first, as runtime.Callers lists them
	stop    bool      // not Go code: the walk ends here
	slow    bool      // not learnt reliably: stacks through it use runtime.Callers
}

// physFront is a direct-mapped cache in front of physFrames: a frame costs
// one atomic load once its return address is known.
var (
	physFront  [4096]atomic.Pointer[physFrame]
	physFrames sync.Map // uintptr → *physFrame
)

func lookupFrame(ret uintptr) *physFrame {
	slot := &physFront[(ret*0x9E3779B97F4A7C15)>>(64-12)]
	if f := slot.Load(); f != nil && f.ret == ret {
		return f
	}
	v, ok := physFrames.Load(ret)
	if !ok {
		return nil
	}
	f := v.(*physFrame)
	slot.Store(f)
	return f
}

// fpCallers is callers from known return addresses only; known is false
// when the walk meets one it has not learnt, or one marked slow (slow).
//
// Each frame keeps its caller's frame pointer at fp and the return address
// into its caller right above. The walk stops at the end of the chain, at a
// return address that is not Go code (the C frames of a cgo callback need not
// keep frame pointers), and at a frame pointer that does not go up the stack.
func fpCallers(fp unsafe.Pointer, skip int, pcs []uintptr) (n int, known, slow bool) {
	skip-- // the walk starts at callers' caller, skip 1
	for fp != nil && n < len(pcs) {
		f := lookupFrame(*(*uintptr)(unsafe.Add(fp, unsafe.Sizeof(uintptr(0)))))
		if f == nil || f.slow {
			return 0, false, f != nil
		}
		if f.stop {
			break
		}
		for _, pc := range f.logical {
			if skip > 0 {
				skip--
			} else if n < len(pcs) {
				pcs[n] = pc
				n++
			}
		}
		next := *(*unsafe.Pointer)(fp)
		if uintptr(next) <= uintptr(fp) {
			break
		}
		fp = next
	}
	return n, true, false
}

// fpReturns lists the return addresses up the frame-pointer chain, ending
// with the first one that is not Go code, if any.
func fpReturns(fp unsafe.Pointer, rets []uintptr) int {
	n := 0
	for fp != nil && n < len(rets) {
		ret := *(*uintptr)(unsafe.Add(fp, unsafe.Sizeof(uintptr(0))))
		rets[n] = ret
		n++
		if funcEntry(ret) == 0 {
			break
		}
		next := *(*unsafe.Pointer)(fp)
		if uintptr(next) <= uintptr(fp) {
			break
		}
		fp = next
	}
	return n
}

// learnFrames matches the return addresses of one stack with the logical
// frames runtime.Callers gave for it (complete: both lists go to the end of
// the stack). A return address stands for the run of logical frames in its
// function (its inlined calls), which starts with the address itself unless
// runtime.Callers left it out (a wrapper), and ends before the next return
// address. A stack whose frames do not come out the same from what was learnt
// marks them slow, and learning stops at a frame marked slow.
func learnFrames(rets, logical []uintptr, complete bool) {
	var learnt []*physFrame
	j := 0
	for i, ret := range rets {
		if v, ok := physFrames.Load(ret); ok && v.(*physFrame).slow {
			break // what follows it cannot be matched reliably either
		}
		f := &physFrame{ret: ret}
		entry := funcEntry(ret)
		if entry == 0 {
			f.stop = true
		} else {
			start := j
			for j < len(logical) && funcEntry(logical[j]) == entry && (j == start || i+1 == len(rets) || logical[j] != rets[i+1]) {
				j++
			}
			if (j == len(logical) || i+1 == len(rets)) && !complete {
				break // its run may go on past the buffers
			}
			f.logical = slices.Clone(logical[start:j])
		}
		if v, loaded := physFrames.LoadOrStore(ret, f); !loaded {
			learnt = append(learnt, f)
		} else {
			f = v.(*physFrame)
		}
		if f.stop {
			break
		}
	}
	// Check: the frames learnt (and known before) must give back runtime.Callers'
	// list: all of it when both walks went to the end of the stack.
	var got []uintptr
	whole := complete
	for _, ret := range rets {
		f := lookupFrame(ret)
		if f == nil || f.slow {
			whole = false
			break
		}
		if f.stop {
			break
		}
		got = append(got, f.logical...)
	}
	if len(got) > len(logical) || !slices.Equal(got, logical[:len(got)]) || (whole && len(got) != len(logical)) {
		for _, f := range learnt {
			physFrames.Store(f.ret, &physFrame{ret: f.ret, slow: true})
			physFront[(f.ret*0x9E3779B97F4A7C15)>>(64-12)].Store(nil)
		}
	}
}
