package bench_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

// spanTracing returns an otelpgx tracer whose spans end up in the returned
// recorder, and a context holding a recording parent span.
func spanTracing(t *testing.T) (*otelpgx.Tracer, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(tp)), rec, tp
}

// checkBoth runs one statement under a recording parent span and checks that
// pgxperf counted it and that otelpgx recorded a span for it under the parent.
func checkBoth(t *testing.T, ctx context.Context, queryRow func(context.Context, string, ...any) interface{ Scan(...any) error },
	stats *tracer.Tracer, rec *tracetest.SpanRecorder, tp *sdktrace.TracerProvider, sql string) {
	t.Helper()
	ctx, parent := tp.Tracer("test").Start(ctx, "request")
	var n int
	require.NoError(t, queryRow(ctx, sql, 41).Scan(&n))
	parent.End()
	require.Equal(t, 42, n)

	// pgxperf: one call of that statement in the snapshot.
	var found bool
	for _, st := range stats.Snapshot().Statements {
		if strings.Contains(st.Query, "combo_check") {
			found = true
			require.EqualValues(t, 1, st.Calls, "pgxperf calls of %q", st.Query)
			require.Positive(t, st.Total)
		}
	}
	require.True(t, found, "pgxperf's snapshot has no statement like %q", sql)

	// otelpgx: a query span carrying the SQL, child of the recording parent.
	var querySpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "db.query.text" && a.Value.AsString() == sql {
				querySpan = s
			}
		}
	}
	require.NotNil(t, querySpan, "otelpgx recorded no span for %q", sql)
	require.Equal(t, parent.SpanContext().TraceID(), querySpan.SpanContext().TraceID())
	require.Equal(t, parent.SpanContext().SpanID(), querySpan.Parent().SpanID())
}

// pgxperf's tracer and otelpgx combined with multitracer on a plain pgxpool.
func TestMultitracerWithOtelpgx(t *testing.T) {
	connectPrimary(t) // skip (or fail under CI) when there is no server
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	otelTracer, rec, tp := spanTracing(t)
	stats := tracer.New(tracer.Config{})
	cfg, err := pgxpool.ParseConfig(primaryDSN())
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = multitracer.New(stats, otelTracer)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()

	qr := func(ctx context.Context, sql string, args ...any) interface{ Scan(...any) error } {
		return pool.QueryRow(ctx, sql, args...)
	}
	checkBoth(t, ctx, qr, stats, rec, tp, "SELECT $1::int + 1 AS combo_check")
}

// otelpgx set on the config given to pgxperf: pgxperf chains its tracer in
// front of it and both still see the statement.
func TestPgxperfPoolKeepsOtelpgx(t *testing.T) {
	connectPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	otelTracer, rec, tp := spanTracing(t)
	cfg, err := pgxpool.ParseConfig(primaryDSN())
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = otelTracer
	pool, err := pgxperf.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	require.NotNil(t, pool.Tracer())

	qr := func(ctx context.Context, sql string, args ...any) interface{ Scan(...any) error } {
		return pool.QueryRow(ctx, sql, args...)
	}
	checkBoth(t, ctx, qr, pool.Tracer(), rec, tp, "SELECT $1::int + 1 AS combo_check")
}
