package tracer_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/tracer"
)

// scopeRecorder is a scope (internal/scope, what n1detect implements) that
// keeps what it observes.
type scopeRecorder struct {
	mu     sync.Mutex
	events []scope.Stmt
	pcs    [][]uintptr
}

func (s *scopeRecorder) WantCallers() bool { return true }

func (s *scopeRecorder) ObserveStatement(_ context.Context, _ *scope.Sink, ev scope.Stmt, pcs []uintptr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev.Args = nil
	s.events = append(s.events, ev)
	s.pcs = append(s.pcs, append([]uintptr(nil), pcs...))
}

// pgxperf's own catalog statements (a leading /* pgxperf:catalog */) are
// neither in the statistics nor in a scope, whatever the way they are sent.
func TestInternalStatementsAreNotRecorded(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	rec := &scopeRecorder{}
	ctx := scope.With(testCtx(t), rec)

	internal := []string{
		"/* pgxperf:catalog */ SELECT 1",
		"/* pgxperf:catalog */\nSELECT count(*) FROM pg_class WHERE relname = $1",
	}
	for _, sql := range internal {
		rows, err := pool.Query(ctx, sql, argsFor(sql)...)
		require.NoError(t, err)
		rows.Close()
		_, err = pool.Exec(ctx, sql, argsFor(sql)...)
		require.NoError(t, err)
	}
	_, err := pool.Exec(ctx, "SELECT 42")
	require.NoError(t, err)

	snap := tr.Snapshot()
	require.Len(t, snap.Statements, 1, "only the application's statement: %+v", snap.Statements)
	require.Equal(t, "SELECT $1", snap.Statements[0].Query)
	require.Len(t, rec.events, 1)
}

func argsFor(sql string) []any {
	if strings.Contains(sql, "$1") {
		return []any{"pg_class"}
	}
	return nil
}

// pg_query fingerprints id = $1 and id = ANY($1) alike; the statistics keep
// them apart so that an N+1 and its batched fix are two rows.
func TestBatchShapedFormHasItsOwnStatistics(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)
	perValue := "SELECT oid FROM pg_class WHERE oid = $1"
	forms := []struct {
		sql  string
		args []any
	}{
		{"SELECT oid FROM pg_class WHERE oid = ANY($1)", []any{[]uint32{1259, 1247}}},
		{"SELECT oid FROM pg_class WHERE oid IN (1259, 1247, 1255)", nil},
	}
	require.Equal(t, sqlinfo.Analyze(perValue).Fingerprint, sqlinfo.Analyze(forms[0].sql).Fingerprint,
		"the premise: pg_query gives both one fingerprint")
	for i := 0; i < 3; i++ {
		_, err := pool.Exec(ctx, perValue, uint32(1259))
		require.NoError(t, err)
	}
	for _, f := range forms {
		_, err := pool.Exec(ctx, f.sql, f.args...)
		require.NoError(t, err)
	}

	fp := sqlinfo.Analyze(perValue).Fingerprint
	var single, batched []tracer.StatementStats
	for _, st := range tr.Snapshot().Statements {
		if st.Fingerprint != fp {
			continue
		}
		if st.BatchShaped {
			batched = append(batched, st)
		} else {
			single = append(single, st)
		}
	}
	require.Len(t, single, 1)
	require.Equal(t, int64(3), single[0].Calls)
	require.Len(t, batched, 1, "ANY($1) and IN (…) are one batch-shaped statement")
	require.Equal(t, int64(2), batched[0].Calls)
	got, ok := tr.Snapshot().Lookup(fp)
	require.True(t, ok)
	require.False(t, got.BatchShaped, "Lookup gives the per-value form")
}

// A read served by a cache is counted apart from the database's calls, with
// its own latencies, and reaches the scope as a statement marked Cached.
func TestObserveCacheHit(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	rec := &scopeRecorder{}
	ctx := scope.With(testCtx(t), rec)
	sql := "SELECT relname FROM pg_class WHERE oid = $1"
	var name string
	require.NoError(t, pool.QueryRow(ctx, sql, 1259).Scan(&name))

	start := time.Now()
	for i, d := range []time.Duration{200 * time.Microsecond, 400 * time.Microsecond, 2 * time.Millisecond} {
		tr.ObserveCacheHit(ctx, tracer.CacheHit{SQL: sql, Args: []any{1259 + i}, Start: start, Duration: d, Rows: 1})
	}
	tr.ObserveCacheHit(ctx, tracer.CacheHit{SQL: "/* pgxperf:catalog */ SELECT 1", Start: start, Duration: time.Millisecond})
	var nilTracer *tracer.Tracer
	nilTracer.ObserveCacheHit(ctx, tracer.CacheHit{SQL: sql}) // no panic

	st := stats(t, tr, sql)
	require.Equal(t, int64(1), st.Calls, "Calls counts the database's executions only")
	require.Equal(t, int64(1), st.Rows)
	require.Equal(t, int64(3), st.Cache.Hits)
	require.Equal(t, int64(3), st.Cache.Rows)
	require.Equal(t, 200*time.Microsecond, st.Cache.Min)
	require.Equal(t, 2*time.Millisecond, st.Cache.Max)
	require.Equal(t, (2600*time.Microsecond)/3, st.Cache.Mean)
	require.InDelta(t, float64(2*time.Millisecond), float64(st.Cache.P99), float64(2*time.Millisecond)/8)
	require.Len(t, tr.Snapshot().Statements, 1)

	require.Len(t, rec.events, 4)
	require.False(t, rec.events[0].Cached)
	for _, ev := range rec.events[1:] {
		require.True(t, ev.Cached)
		require.Equal(t, sql, ev.SQL)
	}
	require.NotEmpty(t, rec.pcs[1], "callers captured for the scope")
}
