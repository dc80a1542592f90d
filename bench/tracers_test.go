package bench_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/tracelog"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/pgxperf/pgxperf/tracer"
)

const benchSQL = "SELECT $1::int"

// BenchmarkTracers measures what each tracer adds to one statement: the start
// and the end of one cached statement (SELECT $1::int with one argument), each
// tracer called directly on a real connection. Compare the sub-benchmarks side
// by side (benchstat -col /tracer, as scripts/bench.sh does), never across runs.
//
//   - tracer=pgxperf: tracer.New with its defaults (per-fingerprint statistics
//     and latency histogram recorded, slow-query log armed at 100 ms).
//   - tracer=otelpgx: otelpgx v0.13 with SDK tracer and meter providers and no
//     span recording in the caller's context, the configuration of the
//     reference figure in DESIGN.md. The meter provider has no reader, so the
//     SDK drops the duration measurement: otelpgx keeps no statistics here.
//     This is the baseline of pgxperf's target.
//   - tracer=otelpgx_metrics: the same with a metric reader, so the duration
//     histogram is really aggregated: otelpgx's cost when it keeps statistics.
//   - tracer=otelpgx_span: otelpgx under a recording parent span, so it also
//     starts and ends a span per statement (what a traced request costs).
//   - tracer=tracelog: pgx's tracelog at LogLevelInfo with a no-op logger.
func BenchmarkTracers(b *testing.B) {
	conn := connectPrimary(b)
	bg := context.Background()
	args := []any{1}
	end := pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")}

	otelTracer := otelpgx.NewTracer(
		otelpgx.WithTracerProvider(sdktrace.NewTracerProvider()),
		otelpgx.WithMeterProvider(sdkmetric.NewMeterProvider()),
	)
	otelReader := sdkmetric.NewManualReader()
	otelMetricsTracer := otelpgx.NewTracer(
		otelpgx.WithTracerProvider(sdktrace.NewTracerProvider()),
		otelpgx.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(otelReader))),
	)
	spanTP := sdktrace.NewTracerProvider() // default sampler: parent-based, always sample
	spanCtx, parent := spanTP.Tracer("bench").Start(bg, "request")
	b.Cleanup(func() { parent.End() })
	otelSpanTracer := otelpgx.NewTracer(
		otelpgx.WithTracerProvider(spanTP),
		otelpgx.WithMeterProvider(sdkmetric.NewMeterProvider()),
	)
	// Slow-query records (a preempted call can exceed 100 ms on a busy machine)
	// are formatted and dropped rather than interleaved with the output.
	pgxperfTracer := tracer.New(tracer.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	logged := 0
	logTracer := &tracelog.TraceLog{
		Logger: tracelog.LoggerFunc(func(context.Context, tracelog.LogLevel, string, map[string]any) {
			logged++
		}),
		LogLevel: tracelog.LogLevelInfo,
	}

	cases := []struct {
		name  string
		ctx   context.Context
		tr    pgx.QueryTracer
		check func(b *testing.B, calls int)
	}{
		{"tracer=pgxperf", bg, pgxperfTracer, func(b *testing.B, calls int) {
			var got int64
			for _, st := range pgxperfTracer.Snapshot().Statements {
				got += st.Calls
			}
			if got < int64(calls) {
				b.Fatalf("pgxperf recorded %d calls, want at least %d", got, calls)
			}
		}},
		{"tracer=otelpgx", bg, otelTracer, nil},
		{"tracer=otelpgx_metrics", bg, otelMetricsTracer, func(b *testing.B, calls int) {
			if got := histogramCount(b, otelReader); got < uint64(calls) {
				b.Fatalf("otelpgx recorded %d durations, want at least %d", got, calls)
			}
		}},
		{"tracer=otelpgx_span", spanCtx, otelSpanTracer, nil},
		{"tracer=tracelog", bg, logTracer, func(b *testing.B, calls int) {
			if logged < calls {
				b.Fatalf("tracelog logged %d queries, want at least %d", logged, calls)
			}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tr, ctx0 := c.tr, c.ctx
			start := pgx.TraceQueryStartData{SQL: benchSQL, Args: args}
			// Warm up: the statement is analyzed (pgxperf), instruments and
			// attribute sets exist (otelpgx) before the clock starts.
			for range 10 {
				tr.TraceQueryEnd(tr.TraceQueryStart(ctx0, conn, start), conn, end)
			}
			calls := 0
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				ctx := tr.TraceQueryStart(ctx0, conn, pgx.TraceQueryStartData{SQL: benchSQL, Args: args})
				tr.TraceQueryEnd(ctx, conn, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("SELECT 1")})
				calls++
			}
			cpu.report(b)
			if c.check != nil {
				c.check(b, calls)
			}
		})
	}
}

// histogramCount returns the number of durations otelpgx recorded.
func histogramCount(tb testing.TB, r *sdkmetric.ManualReader) uint64 {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					n += dp.Count
				}
			}
		}
	}
	return n
}
