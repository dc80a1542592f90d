package tracer_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/tracer"
)

const benchSQL = "SELECT $1::int"

// benchConns opens n plain connections (no tracer installed) to the primary.
func benchConns(b *testing.B, n int) []*pgx.Conn {
	b.Helper()
	dsn := testenv.RequirePrimary(b)
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close(context.Background()) })
		conns[i] = c
	}
	return conns
}

// discardLogger formats slow-query records (a preempted call can exceed the
// threshold on a busy machine) like a real text logger and drops them, so they
// never interleave with the benchmark's output.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func totalCalls(t *tracer.Tracer) int64 {
	var n int64
	for _, st := range t.Snapshot().Statements {
		n += st.Calls
	}
	return n
}

// BenchmarkTracer measures what the tracer adds to one statement: start and end
// of one cached statement (SELECT $1::int, one argument), called directly on a
// real connection, statistics recorded. The bench module compares the same
// loop with otelpgx and tracelog.
func BenchmarkTracer(b *testing.B) {
	conn := benchConns(b, 1)[0]
	tr := tracer.New(tracer.Config{Logger: discardLogger()})
	ctx0 := context.Background()
	args := []any{1}
	for range 10 { // analyze the statement before the clock starts
		ctx := tr.TraceQueryStart(ctx0, conn, pgx.TraceQueryStartData{SQL: benchSQL, Args: args})
		tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")})
	}
	b.ReportAllocs()
	cpu := testenv.ProcessCPU()
	for b.Loop() {
		ctx := tr.TraceQueryStart(ctx0, conn, pgx.TraceQueryStartData{SQL: benchSQL, Args: args})
		tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")})
	}
	testenv.ReportCPU(b, cpu)
	if got := totalCalls(tr); got < int64(b.N) {
		b.Fatalf("recorded %d calls, want at least %d", got, b.N)
	}
}

// BenchmarkTracerParallel is BenchmarkTracer from GOMAXPROCS goroutines, each
// on its own connection, all running the same statement: they share one
// fingerprint's statistics, the worst case for contention.
func BenchmarkTracerParallel(b *testing.B) {
	conns := benchConns(b, runtime.GOMAXPROCS(0))
	tr := tracer.New(tracer.Config{Logger: discardLogger()})
	ctx0 := context.Background()
	args := []any{1}
	for _, conn := range conns {
		ctx := tr.TraceQueryStart(ctx0, conn, pgx.TraceQueryStartData{SQL: benchSQL, Args: args})
		tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")})
	}
	var next atomic.Int64
	b.ReportAllocs()
	cpu := testenv.ProcessCPU()
	b.RunParallel(func(pb *testing.PB) {
		conn := conns[int(next.Add(1)-1)%len(conns)]
		for pb.Next() {
			ctx := tr.TraceQueryStart(ctx0, conn, pgx.TraceQueryStartData{SQL: benchSQL, Args: args})
			tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")})
		}
	})
	b.StopTimer()
	testenv.ReportCPU(b, cpu)
	if got := totalCalls(tr); got < int64(b.N) {
		b.Fatalf("recorded %d calls, want at least %d", got, b.N)
	}
}

// BenchmarkTracerPooled is what the tracer does for one pooled QueryRow,
// without the round trip: acquire start and end, query start and end and
// release, called directly on a real connection (pgxpool calls them in this
// order). The pool benchmarks in pgxperf measure the same calls end to end,
// where the round trip between them leaves the caches cold.
func BenchmarkTracerPooled(b *testing.B) {
	conn := benchConns(b, 1)[0]
	tr := tracer.New(tracer.Config{Logger: discardLogger()})
	ctx0 := context.Background()
	args := []any{1}
	tag := pgconn.NewCommandTag("SELECT 1")
	query := func() {
		ctx := tr.TraceAcquireStart(ctx0, nil, pgxpool.TraceAcquireStartData{})
		tr.TraceAcquireEnd(ctx, nil, pgxpool.TraceAcquireEndData{Conn: conn})
		ctx = tr.TraceQueryStart(ctx0, conn, pgx.TraceQueryStartData{SQL: benchSQL, Args: args})
		tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: tag})
		tr.TraceRelease(nil, pgxpool.TraceReleaseData{Conn: conn})
	}
	for range 10 { // analyze the statement before the clock starts
		query()
	}
	b.ReportAllocs()
	cpu := testenv.ProcessCPU()
	for b.Loop() {
		query()
	}
	testenv.ReportCPU(b, cpu)
	if got := totalCalls(tr); got < int64(b.N) {
		b.Fatalf("recorded %d calls, want at least %d", got, b.N)
	}
}
