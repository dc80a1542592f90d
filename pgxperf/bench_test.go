//go:build unix

// The benchmarks read the process's CPU time with getrusage (unix only).

package pgxperf_test

import (
	"context"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

// BenchmarkPoolQueryRow measures one QueryRow(…).Scan round trip of
// SELECT $1::int on the primary over loopback, through three pools that live
// side by side in one process (compare them with benchstat -col /pool, as
// scripts/bench.sh does, never across runs):
//
//   - pool=raw: a plain pgxpool.New;
//   - pool=tracer: a plain pgxpool with tracer.New(tracer.Config{}) installed,
//     which isolates the tracer's cost from the facade's;
//   - pool=pgxperf: pgxperf.New with its full instrumentation on (statistics,
//     acquire and prepare timing, slow-query log at the default threshold).
func BenchmarkPoolQueryRow(b *testing.B) {
	dsn := testenv.RequirePrimary(b)
	ctx := context.Background()

	raw, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	// pgxperf.New's defaults, except that slow-query records (a query can take
	// 100 ms on a busy machine) are formatted into io.Discard instead of
	// interleaving with the benchmark's output on stderr.
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	perf, err := pgxperf.NewWithOptions(ctx, pcfg, pgxperf.Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(perf.Close)
	if perf.Tracer() == nil {
		b.Fatal("pgxperf.New: monitoring is off")
	}

	tcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	tcfg.ConnConfig.Tracer = tracer.New(tracer.Config{Logger: discardLogger()})
	traced, err := pgxpool.NewWithConfig(ctx, tcfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(traced.Close)

	const sql = "SELECT $1::int"
	pools := []struct {
		name     string
		queryRow func(context.Context, string, ...any) pgx.Row
	}{
		{"pool=raw", raw.QueryRow},
		{"pool=tracer", traced.QueryRow},
		{"pool=pgxperf", perf.QueryRow},
	}
	// Warm up: connect, prepare the statement on the connection, analyze it.
	for _, p := range pools {
		for i := range 200 {
			var n int
			if err := p.queryRow(ctx, sql, i).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	}

	for _, p := range pools {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			var n, i int
			cpu := processCPU()
			for b.Loop() {
				if err := p.queryRow(ctx, sql, i).Scan(&n); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportCPU(b, cpu)
			if n != i-1 {
				b.Fatalf("last row = %d, want %d", n, i-1)
			}
		})
	}

	// The instrumented pool really recorded the statement.
	var calls int64
	for _, st := range perf.Tracer().Snapshot().Statements {
		calls += st.Calls
	}
	if calls == 0 {
		b.Fatal("pgxperf recorded no statement")
	}
}

// discardLogger formats records like a real text logger and drops them.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// processCPU returns the CPU time (user + system) this process has used.
// Per operation it is a steadier measure than wall time on a shared machine:
// time spent descheduled while other processes run is not counted.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since start per operation, as "cpu-ns/op".
func reportCPU(b *testing.B, start time.Duration) {
	if end := processCPU(); start > 0 && end > start && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}
