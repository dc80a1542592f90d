package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T, opts pgxperf.Config, edit ...func(*pgxpool.Config)) *pgxperf.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.RequirePrimary(t))
	require.NoError(t, err)
	cfg.MaxConns = 4
	for _, e := range edit {
		e(cfg)
	}
	opts.Tracer.SlowThreshold = -1
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(context.Background(), &opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// TestMethodSetMatchesPgxpool proves the drop-in claim at the type level: every
// exported method of *pgxpool.Pool exists on *pgxperf.Pool with the same signature.
func TestMethodSetMatchesPgxpool(t *testing.T) {
	want := reflect.TypeOf((*pgxpool.Pool)(nil))
	got := reflect.TypeOf((*pgxperf.Pool)(nil))
	for i := 0; i < want.NumMethod(); i++ {
		m := want.Method(i)
		gm, ok := got.MethodByName(m.Name)
		require.True(t, ok, "pgxperf.Pool lacks %s", m.Name)
		// Compare signatures without the receiver.
		require.Equal(t, m.Type.NumIn(), gm.Type.NumIn(), m.Name)
		for j := 1; j < m.Type.NumIn(); j++ {
			require.Equal(t, m.Type.In(j), gm.Type.In(j), "%s arg %d", m.Name, j)
		}
		require.Equal(t, m.Type.NumOut(), gm.Type.NumOut(), m.Name)
		for j := 0; j < m.Type.NumOut(); j++ {
			require.Equal(t, m.Type.Out(j), gm.Type.Out(j), "%s result %d", m.Name, j)
		}
		require.Equal(t, m.Type.IsVariadic(), gm.Type.IsVariadic(), m.Name)
	}
	// New and NewWithConfig have pgxpool's signatures.
	require.Equal(t, reflect.TypeOf(pgxpool.New).In(1), reflect.TypeOf(pgxperf.New).In(1))
	require.Equal(t, reflect.TypeOf(pgxpool.NewWithConfig).In(1), reflect.TypeOf(pgxperf.NewWithConfig).In(1))
}

func TestPoolEveryMethod(t *testing.T) {
	p := newPool(t, pgxperf.Config{})
	ctx := testCtx(t)

	require.NoError(t, p.Ping(ctx))
	_, err := p.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS x (id int)") // temp: one connection only
	require.NoError(t, err)

	var n int
	require.NoError(t, p.QueryRow(ctx, "SELECT $1::int * 2", 5).Scan(&n))
	require.Equal(t, 10, n)
	rows, err := p.Query(ctx, "SELECT generate_series(1, 3)")
	require.NoError(t, err)
	vals, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Equal(t, []int32{1, 2, 3}, vals)

	conn, err := p.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TEMP TABLE pool_copy (id int)")
	require.NoError(t, err)
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{"pool_copy"}, []string{"id"}, pgx.CopyFromRows([][]any{{1}, {2}}))
	require.NoError(t, err)
	require.EqualValues(t, 2, copied)
	conn.Release()

	require.NoError(t, p.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, "SELECT 1").Scan(&n)
	}))

	tx, err := p.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.QueryRow(ctx, "SELECT 2").Scan(&n))
	require.NoError(t, tx.Rollback(ctx))
	tx, err = p.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	b.Queue("SELECT 2")
	require.NoError(t, p.SendBatch(ctx, b).Close())

	_, err = p.CopyFrom(ctx, pgx.Identifier{"pgxperf_missing"}, []string{"id"}, pgx.CopyFromRows(nil))
	require.Error(t, err)

	idle := p.AcquireAllIdle(ctx)
	for _, c := range idle {
		c.Release()
	}
	require.NotNil(t, p.Stat())
	require.NotNil(t, p.Config().ConnConfig.Tracer)
	p.Reset()

	rep := p.Report()
	require.NotEmpty(t, rep.Statements)
	st := findStmt(t, rep, "SELECT $1::int * 2")
	require.EqualValues(t, 1, st.Calls)
	var sb strings.Builder
	require.NoError(t, rep.WriteText(&sb, 0))
	require.Contains(t, sb.String(), "SELECT $1::int * $2")
	p.Tracer().Reset()
	require.Empty(t, p.Report().Statements)
}

func findStmt(t *testing.T, r pgxperf.Report, sql string) tracer.StatementStats {
	t.Helper()
	fp := sqlinfo.Analyze(sql).Fingerprint
	for _, st := range r.Statements {
		if st.Fingerprint == fp {
			return st
		}
	}
	t.Fatalf("no statistics for %q", sql)
	return tracer.StatementStats{}
}

// Errors must be exactly what pgxpool returns.
func TestErrorsMatchPgxpool(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	ctx := testCtx(t)
	raw, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer raw.Close()
	perf := newPool(t, pgxperf.Config{})

	type caller interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		Query(context.Context, string, ...any) (pgx.Rows, error)
		QueryRow(context.Context, string, ...any) pgx.Row
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()

	for _, tc := range []struct {
		name string
		call func(c caller) error
	}{
		{"canceled exec", func(c caller) error { _, err := c.Exec(canceled, "SELECT 1"); return err }},
		{"canceled query", func(c caller) error { _, err := c.Query(canceled, "SELECT 1"); return err }},
		{"canceled queryrow", func(c caller) error { var n int; return c.QueryRow(canceled, "SELECT 1").Scan(&n) }},
		{"expired exec", func(c caller) error { _, err := c.Exec(expired, "SELECT 1"); return err }},
		{"no rows", func(c caller) error { var n int; return c.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&n) }},
		{"syntax", func(c caller) error { _, err := c.Exec(ctx, "SELEC 1"); return err }},
		{"undefined table", func(c caller) error {
			rows, err := c.Query(ctx, "SELECT * FROM pgxperf_nope")
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.call(raw)
			got := tc.call(perf)
			require.Error(t, want)
			require.Equal(t, want.Error(), got.Error())
			require.Equal(t, reflect.TypeOf(want), reflect.TypeOf(got))
			for _, sentinel := range []error{context.Canceled, context.DeadlineExceeded, pgx.ErrNoRows} {
				require.Equal(t, errors.Is(want, sentinel), errors.Is(got, sentinel), sentinel)
				if want == sentinel {
					require.True(t, got == sentinel, "compared with ==")
				}
			}
			var wp, gp *pgconn.PgError
			require.Equal(t, errors.As(want, &wp), errors.As(got, &gp))
		})
	}
}

func TestClosedPoolErrorMatchesPgxpool(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	ctx := testCtx(t)
	raw, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	raw.Close()
	perf, err := pgxperf.New(ctx, dsn)
	require.NoError(t, err)
	perf.Close()
	perf.Close() // twice is fine

	_, wantErr := raw.Exec(ctx, "SELECT 1")
	_, gotErr := perf.Exec(ctx, "SELECT 1")
	require.Error(t, wantErr)
	require.Equal(t, wantErr, gotErr)
	_, gotErr = perf.Query(ctx, "SELECT 1")
	require.Equal(t, wantErr, gotErr)
	var n int
	require.Equal(t, wantErr, perf.QueryRow(ctx, "SELECT 1").Scan(&n))
	_, gotErr = perf.Begin(ctx)
	require.Equal(t, wantErr, gotErr)
	require.Equal(t, wantErr, perf.Ping(ctx))
	require.Equal(t, wantErr, perf.SendBatch(ctx, &pgx.Batch{}).Close())
	_, gotErr = perf.Acquire(ctx)
	require.Equal(t, wantErr, gotErr)
	require.NotPanics(t, func() { _ = perf.Report() })
}

type countingTracer struct{ starts, ends atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.starts.Add(1)
	return ctx
}
func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {
	c.ends.Add(1)
}

func TestHooksAreChained(t *testing.T) {
	var afterConnect, prepare, afterRelease, beforeClose atomic.Int64
	user := &countingTracer{}
	p := newPool(t, pgxperf.Config{}, func(cfg *pgxpool.Config) {
		cfg.ConnConfig.Tracer = user
		cfg.AfterConnect = func(context.Context, *pgx.Conn) error { afterConnect.Add(1); return nil }
		cfg.PrepareConn = func(context.Context, *pgx.Conn) (bool, error) { prepare.Add(1); return true, nil }
		cfg.AfterRelease = func(*pgx.Conn) bool { afterRelease.Add(1); return true }
		cfg.BeforeClose = func(*pgx.Conn) { beforeClose.Add(1) }
	})
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		_, err := p.Exec(ctx, "SELECT $1::int", i)
		require.NoError(t, err)
	}
	p.Close()
	require.EqualValues(t, 3, user.starts.Load())
	require.EqualValues(t, 3, user.ends.Load())
	require.Positive(t, afterConnect.Load())
	require.EqualValues(t, 3, prepare.Load())
	require.EqualValues(t, 3, afterRelease.Load())
	require.Positive(t, beforeClose.Load())
	require.EqualValues(t, 3, findStmt(t, p.Report(), "SELECT $1::int").Calls)
}

func TestDeprecatedBeforeAcquireStillRuns(t *testing.T) {
	var before atomic.Int64
	p := newPool(t, pgxperf.Config{}, func(cfg *pgxpool.Config) {
		//lint:ignore SA1019 the deprecated hook is what this test is about
		cfg.BeforeAcquire = func(context.Context, *pgx.Conn) bool { before.Add(1); return true } //nolint:staticcheck // SA1019: likewise
	})
	_, err := p.Exec(testCtx(t), "SELECT 1")
	require.NoError(t, err)
	require.EqualValues(t, 1, before.Load())
}

func TestQueryTimeout(t *testing.T) {
	p := newPool(t, pgxperf.Config{QueryTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := p.Exec(context.Background(), "SELECT pg_sleep(3)")
	require.Error(t, err)
	require.Less(t, time.Since(start), 2*time.Second)

	// A caller's own deadline wins.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.Exec(ctx, "SELECT pg_sleep(0.2)")
	require.NoError(t, err)

	// Rows and rows read to the end release everything.
	for i := 0; i < 20; i++ {
		rows, err := p.Query(context.Background(), "SELECT generate_series(1, 5)")
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Err())
		var n int
		require.NoError(t, p.QueryRow(context.Background(), "SELECT 1").Scan(&n))
	}
	require.Zero(t, p.Stat().AcquiredConns())
}

func TestAcquireTimeout(t *testing.T) {
	p := newPool(t, pgxperf.Config{AcquireTimeout: 100 * time.Millisecond}, func(cfg *pgxpool.Config) { cfg.MaxConns = 1 })
	ctx := testCtx(t)
	held, err := p.Acquire(ctx)
	require.NoError(t, err)

	start := time.Now()
	_, err = p.Exec(ctx, "SELECT 1")
	require.ErrorIs(t, err, pgxperf.ErrAcquireTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)
	_, err = p.Query(ctx, "SELECT 1")
	require.ErrorIs(t, err, pgxperf.ErrAcquireTimeout)
	var n int
	require.ErrorIs(t, p.QueryRow(ctx, "SELECT 1").Scan(&n), pgxperf.ErrAcquireTimeout)
	require.ErrorIs(t, p.SendBatch(ctx, &pgx.Batch{}).Close(), pgxperf.ErrAcquireTimeout)
	_, err = p.Begin(ctx)
	require.ErrorIs(t, err, pgxperf.ErrAcquireTimeout)
	held.Release()

	// With a free connection everything works through pgxperf's own acquire path.
	require.NoError(t, p.QueryRow(ctx, "SELECT 7").Scan(&n))
	require.Equal(t, 7, n)
	tx, err := p.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	require.NoError(t, p.SendBatch(ctx, b).Close())
	rows, err := p.Query(ctx, "SELECT 1")
	require.NoError(t, err)
	rows.Close()
	require.Zero(t, p.Stat().AcquiredConns())
}

func TestHugeStatementAndEmptySQL(t *testing.T) {
	p := newPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	// A 1 MiB statement: a long IN list.
	var sb strings.Builder
	sb.WriteString("SELECT count(*) FROM generate_series(1, 10) g WHERE g IN (")
	for i := 0; sb.Len() < 1<<20; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "%d", i)
	}
	sb.WriteString(")")
	var n int64
	require.NoError(t, p.QueryRow(ctx, sb.String()).Scan(&n))
	require.EqualValues(t, 10, n)
	_, err := p.Exec(ctx, "")
	require.NoError(t, err)
}

func TestCloseIsGracefulAndComplete(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testCtx(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = "pgxperf_close_test"
	cfg.MinConns = 2 // connected before the calls: pgxpool's Close cancels connects in progress
	p, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg, CloseTimeout: 400 * time.Millisecond})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.Stat().IdleConns() >= 2 }, 10*time.Second, time.Millisecond)

	// A call in flight that finishes within the timeout completes normally.
	var wg sync.WaitGroup
	wg.Add(1)
	var quickErr error
	var quickDone atomic.Bool
	go func() {
		defer wg.Done()
		_, quickErr = p.Exec(ctx, "SELECT pg_sleep(0.1)")
		quickDone.Store(true)
	}()
	// A call in flight that would outlast the timeout is cancelled.
	wg.Add(1)
	var slowErr error
	go func() {
		defer wg.Done()
		_, slowErr = p.Exec(ctx, "SELECT pg_sleep(30)")
	}()
	// Close starts once both calls are in flight: the slow one running on the
	// server, the quick one running or already done.
	admin, err := pgx.Connect(ctx, testenv.PrimaryDSN())
	require.NoError(t, err)
	defer admin.Close(ctx)
	running := func(q string) bool {
		var n int
		require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgxperf_close_test' AND state = 'active' AND query = $1", q).Scan(&n))
		return n > 0
	}
	require.Eventually(t, func() bool {
		return running("SELECT pg_sleep(30)") && (quickDone.Load() || running("SELECT pg_sleep(0.1)"))
	}, 10*time.Second, time.Millisecond)
	start := time.Now()
	p.Close()
	require.Less(t, time.Since(start), 10*time.Second)
	wg.Wait()
	require.NoError(t, quickErr)
	require.Error(t, slowErr)

	// No session is left: the database can be dropped right away.
	var left int
	require.NoError(t, admin.QueryRow(ctx,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgxperf_close_test'").Scan(&left))
	require.Zero(t, left)
}

func TestConcurrentUse(t *testing.T) {
	p := newPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				var n int
				if err := p.QueryRow(ctx, "SELECT $1::int + $2::int", g, i).Scan(&n); err != nil || n != g+i {
					t.Errorf("got %d, %v", n, err)
					return
				}
				if i%10 == 0 {
					_ = p.Report()
				}
			}
		}(g)
	}
	wg.Wait()
	require.EqualValues(t, 320, findStmt(t, p.Report(), "SELECT $1::int + $2::int").Calls)
}

func TestMonitoringDisabled(t *testing.T) {
	p := newPool(t, pgxperf.Config{DisableMonitoring: true})
	_, err := p.Exec(testCtx(t), "SELECT 1")
	require.NoError(t, err)
	require.Nil(t, p.Tracer())
	require.Empty(t, p.Report().Statements)
}

func TestNewErrors(t *testing.T) {
	ctx := testCtx(t)
	_, err := pgxperf.New(ctx, "postgres://%zz")
	require.Error(t, err)
	_, err = pgxperf.NewWithConfig(ctx, nil)
	require.ErrorIs(t, err, pgxperf.ErrInvalidConfig)
	cfg, err := pgxpool.ParseConfig("postgres://localhost/x")
	require.NoError(t, err)
	_, err = pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg, QueryTimeout: -1})
	require.ErrorIs(t, err, pgxperf.ErrInvalidConfig)
	_, err = pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg, RedisURL: "http://x"})
	require.ErrorIs(t, err, pgxperf.ErrInvalidConfig)
	_, err = pgxperf.NewFromConfig(ctx, &pgxperf.Config{})
	require.ErrorIs(t, err, pgxperf.ErrInvalidConfig)
}
