package n1detect

import (
	"bytes"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pgxperf/pgxperf/internal/callsite"
	"github.com/pgxperf/pgxperf/tracer"
)

// frame is what the detector knows about one program counter.
type frame struct {
	app   bool // application code: the first such frame is the call site
	site  tracer.CallSite
	start int // the line where its function starts, 0 when unknown (funcStart)
}

// frames caches the verdict per program counter: classifying a counter
// resolves its symbol and may read its file's first lines, once.
var frames sync.Map // uintptr → frame

// generated caches, per file, whether it carries Go's "Code generated … DO
// NOT EDIT." marker (sqlc, protoc …): its frames are never the call site.
var generated sync.Map // string → bool

// frameFront is a direct-mapped cache in front of frames: a statement's
// dozen counters are classified with an atomic load each.
var frameFront [4096]atomic.Pointer[frameEntry]

type frameEntry struct {
	pc uintptr
	fr frame
}

func classify(pc uintptr) frame {
	slot := &frameFront[(pc*0x9E3779B97F4A7C15)>>(64-12)]
	if e := slot.Load(); e != nil && e.pc == pc {
		return e.fr
	}
	fr := classifySlow(pc)
	slot.Store(&frameEntry{pc: pc, fr: fr})
	return fr
}

func classifySlow(pc uintptr) frame {
	if v, ok := frames.Load(pc); ok {
		return v.(frame)
	}
	fs := runtime.CallersFrames([]uintptr{pc})
	f, _ := fs.Next()
	fr := frame{site: tracer.CallSite{Function: f.Function, File: f.File, Line: f.Line}}
	fr.app = f.Function != "" && !callsite.IsLibraryFrame(f.Function, f.File) && !isGenerated(f.File)
	if fr.app {
		fr.start = funcStart(f)
	}
	frames.Store(pc, fr)
	return fr
}

// isGenerated reports whether a Go file starts with the generated-code
// marker (https://go.dev/s/generatedcode), reading at most its first 4 KiB.
func isGenerated(file string) bool {
	if file == "" {
		return false
	}
	if v, ok := generated.Load(file); ok {
		return v.(bool)
	}
	gen := false
	if f, err := os.Open(file); err == nil {
		buf := make([]byte, 4096)
		n, _ := f.Read(buf)
		f.Close()
		for _, line := range bytes.Split(buf[:n], []byte("\n")) {
			line = bytes.TrimSpace(line)
			if bytes.HasPrefix(line, []byte("// Code generated ")) && bytes.HasSuffix(line, []byte(" DO NOT EDIT.")) {
				gen = true
				break
			}
			if bytes.HasPrefix(line, []byte("package ")) {
				break
			}
		}
	}
	generated.Store(file, gen)
	return gen
}

// siteDepth is how many application frames identify a call site: the
// first is where the statement is issued, the next ones tell apart two
// loops that reach it through a chain of helpers. Findings show them all.
const siteDepth = 8

// callSite finds the application frames among pcs. key hashes the first
// siteDepth of them; sites holds their program counters (resolved later).
// The answer is cached per stack: the statements of a loop share one.
func callSite(pcs []uintptr) (key uint64, sites [siteDepth]uintptr, ok bool) {
	h := uint64(len(pcs))
	for _, pc := range pcs {
		h = mix(h, pc)
	}
	slot := &stackFront[h>>(64-10)]
	if e := slot.Load(); e != nil && slices.Equal(e.pcs, pcs) {
		return e.key, e.sites, e.ok
	}
	key, sites, ok = classifyStack(pcs)
	slot.Store(&stackEntry{pcs: slices.Clone(pcs), key: key, sites: sites, ok: ok})
	return key, sites, ok
}

// stackFront is a direct-mapped cache of callSite's answers by stack.
var stackFront [1024]atomic.Pointer[stackEntry]

type stackEntry struct {
	pcs   []uintptr
	key   uint64
	sites [siteDepth]uintptr
	ok    bool
}

// mix is a multiply-xorshift step: enough to tell stacks apart, far cheaper
// than a general hash.
func mix(h uint64, pc uintptr) uint64 {
	h = (h ^ uint64(pc)) * 0xBF58476D1CE4E5B9
	return h ^ h>>31
}

func classifyStack(pcs []uintptr) (key uint64, sites [siteDepth]uintptr, ok bool) {
	n := 0
	key = 0x9E3779B97F4A7C15
	for _, pc := range pcs {
		if !classify(pc).app {
			continue
		}
		sites[n] = pc
		key = mix(key, pc)
		n++
		if n == siteDepth {
			break
		}
	}
	return key, sites, n > 0
}
