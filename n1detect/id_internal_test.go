package n1detect

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/tracer"
)

// idLoops is a function with two loops whose per-item lines read the same.
const idLoops = `func Loops(ctx context.Context, db DB, ids []int64) {
	for _, id := range ids {
		db.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(new(string))
	}
	for _, id := range ids {
		db.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(new(string))
	}
}
`

// idOther is another function with the same per-item line.
const idOther = `// Other is edited from one version of the file to the next.
func Other(ctx context.Context, db DB, ids []int64) {
	for _, id := range ids {
		db.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(new(string))
	}
}
`

// idWriteFile writes a Go file named app.go in a directory of its own and
// returns its path and the lines of its per-item calls inside Loops.
func idWriteFile(t *testing.T, src string) (path string, calls []int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "app.go")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	inLoops := false
	for i, l := range strings.Split(src, "\n") {
		switch {
		case strings.HasPrefix(l, "func "):
			inLoops = strings.HasPrefix(l, "func Loops(")
		case inLoops && strings.Contains(l, "db.QueryRow"):
			calls = append(calls, i+1)
		}
	}
	require.Len(t, calls, 2)
	return path, calls
}

func idOf(frames ...idFrame) string { return findingID(NPlusOne, 0x1234, frames, 2) }

func TestFindingIDPositionInFunction(t *testing.T) {
	const header = "package app\n\nimport \"context\"\n\n"
	caller := idFrame{site: tracer.CallSite{File: "/src/handler.go", Line: 12}, start: 10}
	// v1: Loops first. v2: another function above it, edited, and more
	// lines at the top of the file; Loops itself unchanged.
	v1, calls1 := idWriteFile(t, header+idLoops+"\n"+idOther)
	v2, calls2 := idWriteFile(t, header+"// Package app …\n\nvar x = 1\n\n"+
		strings.Replace(idOther, "\tfor", "\tif len(ids) == 0 {\n\t\treturn\n\t}\n\tfor", 1)+"\n"+idLoops)
	require.NotEqual(t, calls1, calls2, "Loops moved within its file")

	at := func(path string, line int) idFrame {
		return idFrame{site: tracer.CallSite{File: path, Line: line}, start: 1}
	}
	first1, second1 := idOf(at(v1, calls1[0]), caller), idOf(at(v1, calls1[1]), caller)
	require.NotEqual(t, first1, second1, "two identical lines of one function need two IDs")
	require.Equal(t, first1, idOf(at(v2, calls2[0]), caller), "the first loop's ID moved with its function")
	require.Equal(t, second1, idOf(at(v2, calls2[1]), caller), "the second loop's ID moved with its function")

	// A unique line keeps its text as the key (as before positions were
	// added); the second identical line counts the ones above it.
	require.Equal(t, `db.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(new(string))`, posKey(at(v1, calls1[0])))
	require.Equal(t, `db.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(new(string))#1`, posKey(at(v1, calls1[1])))
}

func TestFindingIDWithoutSource(t *testing.T) {
	// A binary deployed without its source: the offset from the function's
	// start, wherever the function is in its file.
	caller := idFrame{site: tracer.CallSite{File: "/nonexistent/handler.go", Line: 112}, start: 100}
	site := func(line, start int) idFrame {
		return idFrame{site: tracer.CallSite{File: "/nonexistent/app.go", Line: line}, start: start}
	}
	require.Equal(t, "+10", posKey(site(40, 30)))
	require.Equal(t, idOf(site(40, 30), caller), idOf(site(140, 130), caller), "the function moved down by 100 lines")
	require.NotEqual(t, idOf(site(40, 30), caller), idOf(site(41, 30), caller), "another line of the function")
	require.NotEqual(t, idOf(site(40, 30), caller), idOf(site(40, 30), site(12, 10)), "another caller")
	// Where the function starts is unknown: the line number, as a last resort.
	require.Equal(t, "40", posKey(site(40, 0)))
}

// idHere returns its own program counter as runtime.Callers gives it, and
// the line of the call.
//
//go:noinline
func idHere() (pc uintptr, line int) {
	pcs := make([]uintptr, 1)
	runtime.Callers(1, pcs)
	_, _, line, _ = runtime.Caller(0)
	return pcs[0], line - 1
}

func TestFuncStart(t *testing.T) {
	pc, line := idHere()
	f := idFrameOf(pc)
	require.Equal(t, line, f.Line)
	require.Equal(t, line-2, funcStart(f), "idHere starts 2 lines above its runtime.Callers")

	// A closure, called where it is defined (the compiler may inline it):
	// its start is its own or its enclosing function's, never after it.
	var cpc uintptr
	var cline int
	func() {
		pcs := make([]uintptr, 1)
		runtime.Callers(1, pcs)
		_, _, cline, _ = runtime.Caller(0)
		cpc = pcs[0]
	}()
	f = idFrameOf(cpc)
	require.Equal(t, cline-1, f.Line)
	require.Contains(t, []int{cline - 3, cline - 13}, funcStart(f), "the closure's line or TestFuncStart's")
}

// idFrameOf resolves a program counter as runtime.Callers gives it.
func idFrameOf(pc uintptr) runtime.Frame {
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return f
}
