package n1detect

import (
	"encoding/hex"
	"fmt"
	"go/parser"
	"go/token"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pgxperf/pgxperf/tracer"
)

// idFrame is an application frame as finding IDs see it: its call site, and
// the line where the function holding it starts as the runtime knows it (0
// when unknown), for when the source cannot be read.
type idFrame struct {
	site  tracer.CallSite
	start int
}

// findingID is stable across runs and across edits elsewhere (see "Finding
// IDs" in the package documentation): it hashes the kind, the fingerprint,
// and for the first depth frames (the call site and its caller) the file's
// base name and the frame's position in its function (posKey). uniqueIDs
// deepens it when two findings of a scope would share one.
func findingID(kind Kind, fp uint64, frames []idFrame, depth int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%016x", kind, fp)
	for i, fr := range frames {
		if i == depth {
			break
		}
		// Not the function name: the compiler names closures by where they
		// are inlined (func1.func5), which would change the ID from caller to caller.
		fmt.Fprintf(h, "|%s|%s", filepath.Base(fr.site.File), posKey(fr))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// posKey tells a frame's line from the other lines of its function without
// depending on where the function sits in its file:
//
//   - with the source: the trimmed text of the line, followed by "#k" when k
//     lines of the same top-level declaration above it have the same text
//     (two identical loops in one function);
//   - without it (a binary deployed without its source): "+n", the line's
//     offset from the start of its function as the runtime reports it;
//   - when that is unknown too (a function inlined into another one that it
//     is not a closure of): the line number.
func posKey(fr idFrame) string {
	if src := sourceOf(fr.site.File); src != nil {
		if text, k, ok := src.line(fr.site.Line); ok {
			if k > 0 {
				return text + "#" + strconv.Itoa(k)
			}
			return text
		}
	}
	if fr.start > 0 && fr.start <= fr.site.Line {
		return "+" + strconv.Itoa(fr.site.Line-fr.start)
	}
	return strconv.Itoa(fr.site.Line)
}

// source is a Go file's lines, trimmed, and the line spans of its top-level
// declarations.
type source struct {
	lines []string
	decls [][2]int // first and last line of each declaration, in order
}

// sources caches source files by path (files up to 1 MiB).
var sources sync.Map // file → *source (nil when unreadable)

func sourceOf(file string) *source {
	if v, ok := sources.Load(file); ok {
		return v.(*source)
	}
	src := readSource(file)
	v, _ := sources.LoadOrStore(file, src)
	return v.(*source)
}

func readSource(file string) *source {
	fi, err := os.Stat(file)
	if err != nil || fi.Size() > 1<<20 {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	src := &source{lines: strings.Split(string(b), "\n")}
	for i, l := range src.lines {
		src.lines[i] = strings.TrimSpace(l)
	}
	fset := token.NewFileSet()
	// A file that does not parse (changed since the build) is one span.
	if f, err := parser.ParseFile(fset, file, b, parser.SkipObjectResolution); err == nil {
		for _, d := range f.Decls {
			src.decls = append(src.decls, [2]int{fset.Position(d.Pos()).Line, fset.Position(d.End()).Line})
		}
	}
	return src
}

// line returns the text of line n and how many lines above it in its
// top-level declaration have the same text; ok is false when the line is
// out of range or blank (the source is not the one the binary was built from).
func (s *source) line(n int) (text string, same int, ok bool) {
	if n < 1 || n > len(s.lines) || s.lines[n-1] == "" {
		return "", 0, false
	}
	text, first := s.lines[n-1], 1
	if i := sort.Search(len(s.decls), func(i int) bool { return s.decls[i][1] >= n }); i < len(s.decls) && s.decls[i][0] <= n {
		first = s.decls[i][0]
	}
	for _, l := range s.lines[first-1 : n-1] {
		if l == text {
			same++
		}
	}
	return text, same, true
}

// funcStart returns the line where the function holding a frame starts, as
// the runtime knows it: the line of the entry of the function the compiler
// emitted. A closure inlined into its enclosing function counts from that
// function's start; for other inlined frames it returns 0 (unknown).
func funcStart(f runtime.Frame) int {
	fn := f.Func
	if fn == nil { // inlined: f.Entry is the entry of the function it was inlined into
		fn = runtime.FuncForPC(f.Entry)
		if fn == nil || !strings.HasPrefix(f.Function, fn.Name()+".") {
			return 0
		}
	}
	file, line := fn.FileLine(fn.Entry())
	if file != f.File || line > f.Line {
		return 0
	}
	return line
}

// uniqueIDs gives findings that share an ID (one helper reached from two
// loops) deeper IDs, one more frame at a time, until they differ.
func uniqueIDs(fs []Finding) {
	for depth := 3; depth <= siteDepth; depth++ {
		byID := map[string][]int{}
		for i, f := range fs {
			byID[f.ID] = append(byID[f.ID], i)
		}
		clash := false
		for _, idx := range byID {
			if len(idx) < 2 {
				continue
			}
			clash = true
			for _, i := range idx {
				fs[i].ID = findingID(fs[i].Kind, parseHex(fs[i].Fingerprint), fs[i].frames, depth)
			}
		}
		if !clash {
			return
		}
	}
}

// isIDOf reports whether a is f's ID at any depth: uniqueIDs deepens an ID
// only when another finding of the same scope shares it (one helper reached
// from two loops), so the same loop's ID may be short in one request and
// deep in another. An allow-list entry copied from either report matches both.
func isIDOf(a string, f Finding) bool {
	if len(a) != len(f.ID) {
		return false
	}
	fp := parseHex(f.Fingerprint)
	for depth := 2; depth <= siteDepth; depth++ {
		if findingID(f.Kind, fp, f.frames, depth) == a {
			return true
		}
	}
	return false
}

func parseHex(s string) uint64 {
	v, _ := strconv.ParseUint(s, 16, 64) // 0 for what is not hex
	return v
}

func (s *Scope) allowed(in []Finding) []Finding {
	if len(s.cfg.Allow) == 0 {
		return in
	}
	out := in[:0]
next:
	for _, f := range in {
		for _, a := range s.cfg.Allow {
			site := fmt.Sprintf("%s:%d", f.CallSite.File, f.CallSite.Line)
			if a == f.ID || a == f.Fingerprint || a == f.CallSite.Function || (strings.Contains(a, ":") && strings.HasSuffix(site, a)) ||
				isIDOf(a, f) {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}
