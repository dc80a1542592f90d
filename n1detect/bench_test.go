package n1detect_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	iscope "github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/tracer"
)

// BenchmarkScope measures what n1detect adds to the tracer per statement:
// TraceQueryStart and TraceQueryEnd of one cached statement, called directly
// on a real connection (as BenchmarkTracer in the tracer package does), from
// three application frames (handler, service, repository) on a stack more
// than 24 frames deep, like a statement issued by an HTTP handler.
//
//   - tracer: context.Background(), where the scope lookup costs nothing;
//     the tracer alone.
//   - noscope: a request-like context (cancel, deadline and five values) that
//     carries no scope: the tracer plus the scope lookup that misses.
//   - scope: that context with an n1detect scope: the callers' program
//     counters are captured, the call site classified and the statement
//     counted, with 4096 different argument values (distinct-args hashing).
//   - ignored: the scope context under n1detect.Ignore: counted only.
func BenchmarkScope(b *testing.B) {
	dsn := testenv.RequirePrimary(b)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	tr := tracer.New(tracer.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	args := make([][]any, 4096)
	for i := range args {
		args[i] = []any{int64(i + 1)}
	}
	req := benchRequestContext(b)
	// A process that uses n1detect has created a scope: from then on every
	// unscoped statement pays the context lookup, so noscope measures it
	// whichever sub-benchmark runs first.
	_, warm := n1detect.Start(context.Background(), "warm-up", n1detect.Config{})
	warm.Finish()

	run := func(b *testing.B, ctx context.Context) {
		for i := range 10 { // analyze the statement and classify the frames before the clock starts
			benchHandler(ctx, tr, conn, args[i])
		}
		b.ReportAllocs()
		cpu := testenv.ProcessCPU()
		i := 0
		benchDeep(20, func() {
			for b.Loop() {
				benchHandler(ctx, tr, conn, args[i&4095])
				i++
			}
		})
		testenv.ReportCPU(b, cpu)
	}

	b.Run("tracer", func(b *testing.B) { run(b, context.Background()) })
	b.Run("noscope", func(b *testing.B) { run(b, req) })
	b.Run("scope", func(b *testing.B) {
		ctx, scope := n1detect.Start(req, "bench", n1detect.Config{})
		run(b, ctx)
		if n := scope.Statements(); n < b.N {
			b.Fatalf("the scope counted %d statements, want at least %d", n, b.N)
		}
		// The warm-up loop and the timed loop are two call sites: two findings.
		if fs := scope.Finish(); len(fs) == 0 || fs[0].Kind != n1detect.NPlusOne {
			b.Fatalf("want the N+1, got %v", fs)
		}
	})
	b.Run("ignored", func(b *testing.B) {
		ctx, scope := n1detect.Start(req, "bench", n1detect.Config{})
		run(b, n1detect.Ignore(ctx))
		if fs := scope.Finish(); len(fs) != 0 {
			b.Fatalf("want no finding in an ignored region, got %v", fs)
		}
	})
}

type benchKey int

// benchRequestContext is shaped like an HTTP request's context after a few
// middlewares: cancelable, with a deadline and five values.
func benchRequestContext(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	for k := range benchKey(3) {
		ctx = context.WithValue(ctx, k, "value")
	}
	ctx, cancel2 := context.WithTimeout(ctx, time.Hour)
	b.Cleanup(cancel2)
	for k := benchKey(3); k < 5; k++ {
		ctx = context.WithValue(ctx, k, "value")
	}
	return ctx
}

const benchStatement = "SELECT email FROM users WHERE id = $1"

var benchTag = pgconn.NewCommandTag("SELECT 1")

//go:noinline
func benchHandler(ctx context.Context, tr *tracer.Tracer, conn *pgx.Conn, args []any) {
	benchService(ctx, tr, conn, args)
}

//go:noinline
func benchService(ctx context.Context, tr *tracer.Tracer, conn *pgx.Conn, args []any) {
	benchRepository(ctx, tr, conn, args)
}

//go:noinline
func benchRepository(ctx context.Context, tr *tracer.Tracer, conn *pgx.Conn, args []any) {
	ctx = tr.TraceQueryStart(ctx, conn, pgx.TraceQueryStartData{SQL: benchStatement, Args: args})
	tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: benchTag})
}

// benchDeep calls fn n frames down.
//
//go:noinline
func benchDeep(n int, fn func()) {
	if n == 0 {
		fn()
		return
	}
	benchDeep(n-1, fn)
}

// BenchmarkScopeLookupMiss is the part of the noscope cost that n1detect
// adds to every statement of a context without a scope: one lookup that
// walks a request-like context to its root and misses.
func BenchmarkScopeLookupMiss(b *testing.B) {
	_, warm := n1detect.Start(context.Background(), "warm-up", n1detect.Config{}) // see BenchmarkScope
	warm.Finish()
	req := benchRequestContext(b)
	b.ReportAllocs()
	for b.Loop() {
		if iscope.From(req) != nil {
			b.Fatal("found a scope")
		}
	}
}
