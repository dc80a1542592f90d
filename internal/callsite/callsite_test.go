package callsite_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/pgxperf/pgxperf/internal/callsite"
)

func TestIsLibraryFunction(t *testing.T) {
	for fn, want := range map[string]bool{
		"github.com/jackc/pgx/v5.(*Conn).Query":                        true,
		"github.com/jackc/puddle/v2.(*Pool).Acquire":                   true,
		"github.com/pgxperf/pgxperf/pgxperf.(*Pool).Query":             true,
		"github.com/pgxperf/pgxperf/tracer_test.TestX":                 false, // pgxperf's own tests are applications
		"github.com/pgxperf/pgxperf/cmd/pgxperf.main":                  false,
		"database/sql.(*DB).QueryContext":                              true,
		"runtime.goexit":                                               true,
		"testing.tRunner":                                              true,
		"example.com/app/store.(*Store).Projects":                      false,
		"golang.org/x/sync/errgroup.(*Group).Go.func1":                 true,
		"github.com/pgxperf/pgxperf/examples/basic.listProjects.func2": false,
	} {
		if got := callsite.IsLibraryFunction(fn); got != want {
			t.Errorf("IsLibraryFunction(%q) = %v, want %v", fn, got, want)
		}
	}
}

//go:noinline
func captureHere() callsite.Site { return callsite.Capture(0) }

func TestCaptureAndResolve(t *testing.T) {
	site := captureHere()
	if !strings.HasSuffix(site.Function, "callsite_test.captureHere") || !strings.HasSuffix(site.File, "callsite_test.go") || site.Line == 0 {
		t.Fatalf("Capture(0) = %+v, want captureHere's frame", site)
	}
	var pcs [16]uintptr
	n := runtime.Callers(1, pcs[:])
	if got := callsite.Resolve(pcs[:n]); !strings.HasSuffix(got.Function, "TestCaptureAndResolve") {
		t.Fatalf("Resolve = %+v, want this test", got)
	}
	if got := callsite.Resolve(nil); got != (callsite.Site{}) {
		t.Fatalf("Resolve(nil) = %+v", got)
	}
}
