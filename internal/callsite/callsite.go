// Package callsite finds the application's frame among the callers of a
// statement: the first frame outside pgx, pgxperf, database/sql, the Go
// runtime and the standard library. Package tracer uses it for the call site
// of slow statements, package n1detect to group a scope's statements.
package callsite

import (
	"runtime"
	"strings"
)

// Site is a frame of application code. tracer.CallSite has the same fields.
type Site struct {
	Function string
	File     string
	Line     int
}

// libraryPrefixes are function-name prefixes of code that is never the
// application's call site.
var libraryPrefixes = []string{
	"github.com/jackc/pgx/",
	"github.com/jackc/puddle/",
	"github.com/pgxperf/pgxperf/",
	"golang.org/x/sync/",
	"database/sql.",
	"runtime.",
	"testing.",
}

// goroot is where the standard library's files are: its frames (sync's
// WaitGroup.Go, net/http's handlers …) are never the call site.
var goroot = func() string {
	//lint:ignore SA1019 the best hint there is; empty is fine
	r := runtime.GOROOT() //nolint:staticcheck // SA1019: the best hint there is; empty is fine
	if r == "" {
		return ""
	}
	return strings.TrimSuffix(r, "/") + "/src/"
}()

// IsLibraryFrame is IsLibraryFunction, also true for the standard library's
// files (under GOROOT).
func IsLibraryFrame(fn, file string) bool {
	return IsLibraryFunction(fn) || (goroot != "" && strings.HasPrefix(file, goroot))
}

// IsLibraryFunction reports whether a function (as runtime.Frame.Function
// names it) belongs to pgx, pgxperf, database/sql, the runtime or testing,
// so it is never reported as the application's call site. Test files of
// pgxperf itself ("_test" packages) count as application code.
func IsLibraryFunction(fn string) bool {
	for _, p := range libraryPrefixes {
		if strings.HasPrefix(fn, p) {
			if p == "github.com/pgxperf/pgxperf/" && isPgxperfTestOrExample(fn) {
				return false
			}
			return true
		}
	}
	return false
}

func isPgxperfTestOrExample(fn string) bool {
	// Functions of external test packages ("…/tracer_test.TestX") and of the
	// demo and examples are application code for pgxperf's own purposes.
	return strings.Contains(fn, "_test.") || strings.Contains(fn, "/cmd/") || strings.Contains(fn, "/examples/")
}

// Capture returns the first application frame above its caller, skipping
// skip extra frames. It costs a stack walk: call it off the hot path.
func Capture(skip int) Site {
	var pcs [32]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	return Resolve(pcs[:n])
}

// Resolve returns the first application frame among the program counters
// (as filled by runtime.Callers).
func Resolve(pcs []uintptr) Site {
	if len(pcs) == 0 {
		return Site{}
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if f.Function != "" && !IsLibraryFrame(f.Function, f.File) {
			return Site{Function: f.Function, File: f.File, Line: f.Line}
		}
		if !more {
			return Site{}
		}
	}
}
