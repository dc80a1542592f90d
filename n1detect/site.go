package n1detect

import (
	"bytes"
	"hash/maphash"
	"os"
	"runtime"
	"sync"

	"github.com/pgxperf/pgxperf/tracer"
)

// frame is what the detector knows about one program counter.
type frame struct {
	app  bool // application code: the first such frame is the call site
	site tracer.CallSite
}

// frames caches the verdict per program counter: classifying a counter
// resolves its symbol and may read its file's first lines, once.
var frames sync.Map // uintptr → frame

// generated caches, per file, whether it carries Go's "Code generated … DO
// NOT EDIT." marker (sqlc, protoc …): its frames are never the call site.
var generated sync.Map // string → bool

func classify(pc uintptr) frame {
	if v, ok := frames.Load(pc); ok {
		return v.(frame)
	}
	fs := runtime.CallersFrames([]uintptr{pc})
	f, _ := fs.Next()
	fr := frame{site: tracer.CallSite{Function: f.Function, File: f.File, Line: f.Line}}
	fr.app = f.Function != "" && !tracer.IsLibraryFunction(f.Function) && !isGenerated(f.File)
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
// loops that reach it through one helper.
const siteDepth = 3

// callSite finds the application frames among pcs. key hashes the first
// siteDepth of them; sites holds their program counters (resolved later).
func callSite(pcs []uintptr) (key uint64, sites [siteDepth]uintptr, ok bool) {
	var h maphash.Hash
	h.SetSeed(siteSeed)
	n := 0
	for _, pc := range pcs {
		if !classify(pc).app {
			continue
		}
		sites[n] = pc
		var b [8]byte
		for i := range b {
			b[i] = byte(pc >> (8 * i))
		}
		h.Write(b[:])
		n++
		if n == siteDepth {
			break
		}
	}
	return h.Sum64(), sites, n > 0
}

var siteSeed = maphash.MakeSeed()
