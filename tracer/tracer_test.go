package tracer_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/tracer"
)

func newPool(t *testing.T, cfg tracer.Config) (*pgxpool.Pool, *tracer.Tracer) {
	t.Helper()
	dsn := testenv.RequirePrimary(t)
	pcfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	tr := tracer.New(cfg)
	pcfg.ConnConfig.Tracer = tr
	pcfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, tr
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func stats(t testing.TB, tr *tracer.Tracer, sql string) tracer.StatementStats {
	t.Helper()
	st, ok := tr.Snapshot().Lookup(sqlinfo.Analyze(sql).Fingerprint)
	require.True(t, ok, "no statistics for %q", sql)
	return st
}

func TestTracerCountsQueryExecQueryRow(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)

	for i := 0; i < 5; i++ {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT $1::int", i).Scan(&n))
		require.Equal(t, i, n)
	}
	rows, err := pool.Query(ctx, "SELECT generate_series(1, $1::int)", 7)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Len(t, got, 7)
	_, err = pool.Exec(ctx, "SELECT pg_sleep(0)")
	require.NoError(t, err)

	st := stats(t, tr, "SELECT $1::int")
	require.EqualValues(t, 5, st.Calls)
	require.EqualValues(t, 5, st.Rows)
	require.Zero(t, st.Errors)
	require.Equal(t, "select", st.Kind)
	require.Positive(t, st.Total)
	require.LessOrEqual(t, st.Min, st.P50)
	require.LessOrEqual(t, st.P99, st.Max)
	require.EqualValues(t, 5, st.PrimaryCalls)
	require.False(t, st.FirstSeen.IsZero())

	gs := stats(t, tr, "SELECT generate_series(1, $1::int)")
	require.EqualValues(t, 7, gs.Rows)
	require.EqualValues(t, 1, stats(t, tr, "SELECT pg_sleep(0)").Calls)

	snap := tr.Snapshot()
	require.GreaterOrEqual(t, snap.Pool.Acquires, int64(7))
	require.GreaterOrEqual(t, snap.Pool.Connects, int64(1))

	tr.Reset()
	require.Empty(t, tr.Snapshot().Statements)
}

func TestTracerErrors(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)

	// Malformed SQL reaches Postgres; the caller gets Postgres's own error and the
	// statistics count it under the fallback fingerprint.
	_, err := pool.Exec(ctx, "SELEKT * FROM nowhere")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "42601", pgErr.Code)
	info := sqlinfo.Analyze("SELEKT * FROM nowhere")
	require.Equal(t, sqlinfo.KindUnparsed, info.Kind)
	st, ok := tr.Snapshot().Lookup(info.Fingerprint)
	require.True(t, ok)
	require.Equal(t, map[string]int64{"42601": 1}, st.ErrorsByCode)

	// pgx.ErrNoRows is not an error.
	var n int
	err = pool.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&n)
	require.ErrorIs(t, err, pgx.ErrNoRows)
	require.Zero(t, stats(t, tr, "SELECT 1 WHERE false").Errors)

	// A missing table is 42P01.
	_, err = pool.Exec(ctx, "SELECT * FROM pgxperf_missing_table")
	require.Error(t, err)
	require.EqualValues(t, 1, stats(t, tr, "SELECT * FROM pgxperf_missing_table").ErrorsByCode["42P01"])

	// Cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	go func() { // cancel once the statement runs on the server
		defer cancel()
		for cctx.Err() == nil {
			var running bool
			if pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(4.5)')").Scan(&running) == nil && running {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err = pool.Exec(cctx, "SELECT pg_sleep(4.5)")
	require.Error(t, err)
	st = stats(t, tr, "SELECT pg_sleep(4.5)")
	require.EqualValues(t, 1, st.Errors)

	// Empty SQL.
	_, err = pool.Exec(ctx, "")
	require.NoError(t, err)
}

func TestTracerTransactionsAreStatements(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT 42")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	begin := stats(t, tr, "begin")
	require.Equal(t, "transaction", begin.Kind)
	require.EqualValues(t, 1, stats(t, tr, "commit").Calls)
	// The wait for the connection is charged to BEGIN, not counted as execution.
	require.EqualValues(t, 1, begin.Acquires)
}

func TestTracerPreparedNameMapsToSQL(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	ctx := testCtx(t)
	ccfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	tr := tracer.New(tracer.Config{SlowThreshold: -1})
	ccfg.Tracer = tr
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	require.NoError(t, err)
	defer conn.Close(ctx)

	const q = "SELECT id FROM generate_series(1, 3) AS id WHERE id = $1"
	_, err = conn.Prepare(ctx, "find_one", q)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		var id int
		require.NoError(t, conn.QueryRow(ctx, "find_one", i).Scan(&id))
	}
	st := stats(t, tr, q)
	require.EqualValues(t, 3, st.Calls)
	require.Equal(t, q, st.Slowest.SQL)
	require.EqualValues(t, 1, tr.Snapshot().Pool.Prepares)
}

func TestTracerOptionArgsAndNamedArgs(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)
	var n int
	var s string
	require.NoError(t, pool.QueryRow(ctx, "SELECT $1::text", pgx.QueryExecModeSimpleProtocol, "x").Scan(&s))
	require.Equal(t, "x", s)
	require.NoError(t, pool.QueryRow(ctx, "SELECT @a::int + @b::int", pgx.NamedArgs{"a": 1, "b": 2}).Scan(&n))
	require.Equal(t, 3, n)

	require.EqualValues(t, 1, stats(t, tr, "SELECT $1::text").Calls)
	// Named arguments are rewritten to $n before analysis, so the statement is parsed.
	st := stats(t, tr, "SELECT $1::int + $2::int")
	require.EqualValues(t, 1, st.Calls)
	require.Equal(t, "select", st.Kind)
}

func TestTracerPrepareTimeKeptApart(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)
	// The default exec mode prepares on a statement-cache miss, inside the query's trace.
	const q = "SELECT count(*) FROM generate_series(1, $1::int)"
	for i := 0; i < 3; i++ {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, q, 10).Scan(&n))
	}
	st := stats(t, tr, q)
	require.GreaterOrEqual(t, st.Prepares, int64(1))
	require.Positive(t, st.PrepareTime)
}

func TestTracerBatchAndCopy(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "CREATE TEMP TABLE tracer_copy (id int, name text)")
	require.NoError(t, err)

	b := &pgx.Batch{}
	for i := 0; i < 3; i++ {
		b.Queue("INSERT INTO tracer_copy (id, name) VALUES ($1, $2)", i, "x")
	}
	b.Queue("SELECT count(*) FROM tracer_copy")
	require.NoError(t, conn.SendBatch(ctx, b).Close())

	n, err := conn.CopyFrom(ctx, pgx.Identifier{"tracer_copy"}, []string{"id", "name"},
		pgx.CopyFromRows([][]any{{10, "a"}, {11, "b"}}))
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	ins := stats(t, tr, "INSERT INTO tracer_copy (id, name) VALUES ($1, $2)")
	require.EqualValues(t, 3, ins.Calls)
	require.EqualValues(t, 3, ins.BatchCalls)
	require.EqualValues(t, 3, ins.Rows)
	cp := stats(t, tr, `COPY "tracer_copy" ("id", "name") FROM STDIN`)
	require.EqualValues(t, 2, cp.Rows)
	require.Equal(t, "copy", cp.Kind)
}

type recordHandler struct {
	mu  sync.Mutex
	buf bytes.Buffer
	h   slog.Handler
}

func newRecorder() (*slog.Logger, func() []map[string]any) {
	r := &recordHandler{}
	r.h = slog.NewJSONHandler(&r.buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	logger := slog.New(&lockedHandler{r})
	return logger, func() []map[string]any {
		r.mu.Lock()
		defer r.mu.Unlock()
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(r.buf.String()), "\n") {
			if line == "" {
				continue
			}
			m := map[string]any{}
			if err := json.Unmarshal([]byte(line), &m); err == nil {
				out = append(out, m)
			}
		}
		return out
	}
}

type lockedHandler struct{ r *recordHandler }

func (l *lockedHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return l.r.h.Enabled(ctx, lv)
}
func (l *lockedHandler) Handle(ctx context.Context, rec slog.Record) error {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	return l.r.h.Handle(ctx, rec)
}
func (l *lockedHandler) WithAttrs(a []slog.Attr) slog.Handler { return l }
func (l *lockedHandler) WithGroup(string) slog.Handler        { return l }

func TestSlowQueryLog(t *testing.T) {
	logger, records := newRecorder()
	pool, tr := newPool(t, tracer.Config{SlowThreshold: 20 * time.Millisecond, Logger: logger})
	ctx := testCtx(t)

	_, err := pool.Exec(ctx, "SELECT pg_sleep(0.05), $1::text", "secret-value")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "SELECT 1")
	require.NoError(t, err)

	recs := records()
	require.Len(t, recs, 1, "only the slow statement is logged")
	rec := recs[0]
	require.Equal(t, "slow query", rec["msg"])
	require.Equal(t, "WARN", rec["level"])
	require.Equal(t, sqlinfo.Analyze("SELECT pg_sleep(0.05), $1::text").FingerprintHex, rec["fingerprint"])
	require.Contains(t, rec["sql"], "pg_sleep")
	require.Contains(t, rec["caller"], "tracer_test.go:")
	require.Contains(t, rec["function"], "TestSlowQueryLog")
	require.EqualValues(t, 1, rec["rows"])
	require.NotContains(t, recordsString(recs), "secret-value", "arguments are never logged without opt-in")

	st := stats(t, tr, "SELECT pg_sleep(0.05), $1::text")
	require.Contains(t, st.Slowest.CallSite.File, "tracer_test.go")
	require.Nil(t, st.Slowest.Args)
}

func TestSlowQueryLogRedactedArgs(t *testing.T) {
	logger, records := newRecorder()
	redact := func(sql string, args []any) []any {
		out := make([]any, len(args))
		for i, a := range args {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "secret") {
				out[i] = "[redacted]"
			} else {
				out[i] = a
			}
		}
		return out
	}
	pool, tr := newPool(t, tracer.Config{SlowThreshold: 20 * time.Millisecond, Logger: logger, RedactArgs: redact})
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, "SELECT pg_sleep(0.03), $1::text, $2::int", "secret-value", 7)
	require.NoError(t, err)
	recs := records()
	require.Len(t, recs, 1)
	require.Equal(t, []any{"[redacted]", float64(7)}, recs[0]["args"])
	st := stats(t, tr, "SELECT pg_sleep(0.03), $1::text, $2::int")
	require.Equal(t, []any{"[redacted]", 7}, st.Slowest.Args)
}

func recordsString(recs []map[string]any) string {
	b, _ := json.Marshal(recs)
	return string(b)
}

func TestTracerEndWithoutStartDoesNotPanic(t *testing.T) {
	tr := tracer.New(tracer.Config{})
	ctx := context.Background()
	require.NotPanics(t, func() {
		tr.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{})
		tr.TraceBatchQuery(ctx, nil, pgx.TraceBatchQueryData{SQL: "SELECT 1"})
		tr.TraceBatchEnd(ctx, nil, pgx.TraceBatchEndData{})
		tr.TraceCopyFromEnd(ctx, nil, pgx.TraceCopyFromEndData{})
		tr.TracePrepareEnd(ctx, nil, pgx.TracePrepareEndData{})
		tr.TraceConnectEnd(ctx, pgx.TraceConnectEndData{})
		tr.TraceAcquireEnd(ctx, nil, pgxpool.TraceAcquireEndData{})
		tr.TraceRelease(nil, pgxpool.TraceReleaseData{})
	})
}

func TestTracerWithStdlib(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	ctx := testCtx(t)
	ccfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	tr := tracer.New(tracer.Config{SlowThreshold: -1})
	ccfg.Tracer = tr
	db := stdlib.OpenDB(*ccfg)
	defer db.Close()

	stmt, err := db.PrepareContext(ctx, "SELECT $1::int * 2")
	require.NoError(t, err)
	defer stmt.Close()
	for i := 0; i < 4; i++ {
		var n int
		require.NoError(t, stmt.QueryRowContext(ctx, i).Scan(&n))
		require.Equal(t, i*2, n)
	}
	var n int
	err = db.QueryRowContext(ctx, "SELECT 1 WHERE false").Scan(&n)
	require.True(t, errors.Is(err, sql.ErrNoRows))
	// database/sql executes the prepared statement by name; the tracer maps it back.
	require.EqualValues(t, 4, stats(t, tr, "SELECT $1::int * 2").Calls)
}

func TestTracerObserverAndRoles(t *testing.T) {
	var mu sync.Mutex
	var seen []tracer.Event
	obs := tracer.Observer(func(_ context.Context, ev tracer.Event) {
		mu.Lock()
		ev.Args, ev.Conn = nil, nil
		seen = append(seen, ev)
		mu.Unlock()
	})
	primary := tracer.New(tracer.Config{SlowThreshold: -1, Observers: []tracer.Observer{obs}})
	replica := primary.ForRole(tracer.RoleReplica)
	require.True(t, tracer.SameStatistics(primary, replica))

	dsn := testenv.RequirePrimary(t)
	ctx := testCtx(t)
	for _, tr := range []*tracer.Tracer{primary, replica} {
		cfg, err := pgx.ParseConfig(dsn)
		require.NoError(t, err)
		cfg.Tracer = tr
		conn, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT $1::int", 1)
		require.NoError(t, err)
		require.NoError(t, conn.Close(ctx))
	}
	st := stats(t, primary, "SELECT $1::int")
	require.EqualValues(t, 1, st.PrimaryCalls)
	require.EqualValues(t, 1, st.ReplicaCalls)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	require.Equal(t, tracer.RoleReplica, seen[1].Role)
	require.Equal(t, sqlinfo.KindSelect, tracer.EventInfo(seen[0]).Kind)
}

func TestTracerConcurrent(t *testing.T) {
	pool, tr := newPool(t, tracer.Config{SlowThreshold: -1})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var n int
				if err := pool.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					_ = tr.Snapshot()
				}
			}
		}(g)
	}
	wg.Wait()
	require.EqualValues(t, 400, stats(t, tr, "SELECT $1::int").Calls)
}

// A pool connection remembers its last statement's entry: a Reset must still
// send the next executions to fresh statistics, and two tracers on one
// connection must each keep their own.
func TestTracerPooledEntryAcrossResetAndTwoTracers(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	ctx := testCtx(t)
	const sql = "SELECT $1::int + 1"
	onePool := func(tr pgx.QueryTracer) func(n int) {
		pcfg, err := pgxpool.ParseConfig(dsn)
		require.NoError(t, err)
		pcfg.ConnConfig.Tracer = tr
		pcfg.MaxConns = 1 // one connection: every statement on the same one
		pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return func(n int) {
			for i := range n {
				var v int
				require.NoError(t, pool.QueryRow(ctx, sql, i).Scan(&v))
			}
		}
	}

	tr := tracer.New(tracer.Config{SlowThreshold: -1})
	run := onePool(tr)
	run(3)
	require.EqualValues(t, 3, stats(t, tr, sql).Calls)
	tr.Reset()
	require.Empty(t, tr.Snapshot().Statements)
	run(2)
	require.EqualValues(t, 2, stats(t, tr, sql).Calls)
	tr.Reset()
	run(1)
	require.EqualValues(t, 1, stats(t, tr, sql).Calls)

	a, b := tracer.New(tracer.Config{SlowThreshold: -1}), tracer.New(tracer.Config{SlowThreshold: -1})
	run = onePool(multitracer.New(a, b))
	run(3)
	a.Reset()
	run(2)
	require.EqualValues(t, 2, stats(t, a, sql).Calls)
	require.EqualValues(t, 5, stats(t, b, sql).Calls)
}

// countingScope counts the statements each Tracer hands it (by the sink of
// the Tracer's statistics).
type countingScope struct {
	mu   sync.Mutex
	seen map[*scope.Sink]int
	pcs  int // statements that came with callers
}

func (*countingScope) WantCallers() bool { return true }

func (s *countingScope) ObserveStatement(_ context.Context, sink *scope.Sink, _ scope.Stmt, pcs []uintptr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[sink]++
	if len(pcs) > 0 {
		s.pcs++
	}
}

// Two tracers chained on one connection both report a scoped statement to
// the scope (the state of a scoped statement is pooled and shared between them).
func TestTracerScopeWithTwoTracers(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	pcfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	a, b := tracer.New(tracer.Config{SlowThreshold: -1}), tracer.New(tracer.Config{SlowThreshold: -1})
	pcfg.ConnConfig.Tracer = multitracer.New(a, b)
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	sc := &countingScope{seen: map[*scope.Sink]int{}}
	ctx := scope.With(testCtx(t), sc)
	for i := range 3 {
		var v int
		require.NoError(t, pool.QueryRow(ctx, "SELECT $1::int", i).Scan(&v))
	}
	batch := &pgx.Batch{}
	batch.Queue("SELECT 1")
	batch.Queue("SELECT 2")
	require.NoError(t, pool.SendBatch(ctx, batch).Close())
	require.Equal(t, map[*scope.Sink]int{tracer.SinkOf(a): 5, tracer.SinkOf(b): 5}, sc.seen)
	require.Equal(t, 10, sc.pcs)
}
