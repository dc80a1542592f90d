package querycache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
)

// The catalog lookups a read makes before its first lookup of a statement
// run for the caller: they end with the caller's context and the pool's
// acquire timeout (CatalogAcquire), and they are the cache's statements,
// not the application's (no tracer scope sees them).

// scopeSpy is the pool's tracer: the cache's invalidator, noting the
// catalog statements that ran with a tracer scope in their context.
type scopeSpy struct {
	*invalidator
	mu              sync.Mutex
	catalog, scoped int
}

func (s *scopeSpy) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(data.SQL, "/* pgxperf:catalog */") {
		s.mu.Lock()
		s.catalog++
		if scope.From(ctx) != nil {
			s.scoped++
		}
		s.mu.Unlock()
	}
	return s.invalidator.TraceQueryStart(ctx, conn, data)
}

func (s *scopeSpy) counts() (catalog, scoped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalog, s.scoped
}

type nopScope struct{}

func (nopScope) WantCallers() bool { return false }
func (nopScope) ObserveStatement(context.Context, *scope.Sink, scope.Stmt, []uintptr) {
}

const catalogBoundSetup = `CREATE TABLE cb_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO cb_items SELECT g, 'Item-' || g FROM generate_series(1, 10) g`

// catalogBoundCache returns a cache whose catalog pool has one connection.
func catalogBoundCache(t *testing.T, qcfg Config) (*QueryCache, *pgxpool.Pool, *scopeSpy) {
	t.Helper()
	dsn := testenv.NewDatabase(t, testenv.WithSQL(catalogBoundSetup))
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 1
	qcfg.Client = rdb
	qcfg.Prefix = fmt.Sprintf("pgxperf-cb:%s:%d:", t.Name(), time.Now().UnixNano())
	qc, err := newQueryCache(qcfg, sessionFromConfig(cfg), nil)
	require.NoError(t, err)
	spy := &scopeSpy{invalidator: qc.inval}
	cfg.ConnConfig.Tracer = spy
	cfg.BeforeClose = qc.inval.ForgetConn
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	t.Cleanup(func() { _ = qc.Close() })
	qc.useCatalog(pool)
	return qc, pool, spy
}

func catalogBoundLoader(pool *pgxpool.Pool, q string, args ...any) loader {
	return func(ctx context.Context) (pgx.Rows, error) { return pool.Query(ctx, q, args...) }
}

// TestCatalogLookupOutsideScope: a read made in a tracer scope (an n1detect
// unit of work) runs its catalog lookups outside it.
func TestCatalogLookupOutsideScope(t *testing.T) {
	qc, pool, spy := catalogBoundCache(t, Config{})
	const q = "SELECT lower(name) FROM cb_items WHERE id = $1"
	ctx := WithTTL(scope.With(t.Context(), nopScope{}), time.Hour)
	rows, served, err := qc.query(ctx, sqlinfo.Analyze(q), []any{1}, catalogBoundLoader(pool, q, 1))
	require.NoError(t, err)
	require.True(t, served)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"item-1"}, names)
	catalog, scoped := spy.counts()
	t.Logf("%d catalog statements, %d of them in the caller's scope", catalog, scoped)
	require.Positive(t, catalog, "the read looked up the catalog")
	require.Zero(t, scoped, "catalog lookups ran in the caller's scope")
}

// TestCatalogLookupCallerDeadline: while the pool has no free connection, a
// read whose plan needs the catalog ends with its context's deadline, with
// its error, as pgx would; it does not wait for the lookup's own 2 s.
func TestCatalogLookupCallerDeadline(t *testing.T) {
	qc, pool, _ := catalogBoundCache(t, Config{})
	const q = "SELECT name FROM cb_items WHERE id = $1"
	held, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	t.Cleanup(held.Release) // before the pool's Close, should the test fail
	ctx, cancel := context.WithTimeout(WithTTL(t.Context(), time.Hour), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	rows, served, err := qc.query(ctx, sqlinfo.Analyze(q), []any{1}, catalogBoundLoader(pool, q, 1))
	took := time.Since(start)
	if rows != nil {
		rows.Close()
	}
	t.Logf("read with the pool exhausted: %v, served %v, %v", took, served, err)
	require.Less(t, took, 150*time.Millisecond+300*time.Millisecond, "the read outlived its deadline")
	require.True(t, served)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	held.Release()

	// The failed lookup was not memoized: the next read plans and is cached.
	ctx = WithTTL(t.Context(), time.Hour)
	for range 2 {
		rows, served, err := qc.query(ctx, sqlinfo.Analyze(q), []any{1}, catalogBoundLoader(pool, q, 1))
		require.NoError(t, err)
		require.True(t, served)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"Item-1"}, names)
	}
	var hits int64
	for _, st := range qc.Stats().Statements {
		hits += st.Hits
	}
	require.EqualValues(t, 1, hits)
}

// errPoolTimeout stands for the pool's acquire-timeout error.
var errPoolTimeout = fmt.Errorf("pool: acquire timeout: %w", context.DeadlineExceeded)

// TestCatalogLookupAcquireTimeout: with CatalogAcquire bounding the wait for
// a connection (as pgxperf.Pool's Config.AcquireTimeout does), a read whose
// plan needs the catalog while the pool has no free connection fails with
// the acquire's error after the acquire timeout, once, not after 2 s.
func TestCatalogLookupAcquireTimeout(t *testing.T) {
	const acquireTimeout = 100 * time.Millisecond
	var acquires, timeouts int
	var mu sync.Mutex
	qc, pool, _ := catalogBoundCache(t, Config{
		catalogAcquire: func(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
			actx, cancel := context.WithTimeout(ctx, acquireTimeout)
			defer cancel()
			c, err := pool.Acquire(actx)
			mu.Lock()
			defer mu.Unlock()
			acquires++
			if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
				timeouts++
				return nil, errPoolTimeout
			}
			return c, err
		},
	})
	const q = "SELECT name FROM cb_items WHERE id = $1"
	held, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	t.Cleanup(held.Release) // before the pool's Close, should the test fail
	ctx := WithTTL(t.Context(), time.Hour)
	start := time.Now()
	rows, served, err := qc.query(ctx, sqlinfo.Analyze(q), []any{1}, catalogBoundLoader(pool, q, 1))
	took := time.Since(start)
	if rows != nil {
		rows.Close()
	}
	t.Logf("read with the pool exhausted: %v, served %v, %v", took, served, err)
	require.True(t, served)
	require.ErrorIs(t, err, errPoolTimeout)
	require.Less(t, took, acquireTimeout+300*time.Millisecond)
	mu.Lock()
	require.Equal(t, 1, timeouts)
	mu.Unlock()
	held.Release()

	rows, served, err = qc.query(ctx, sqlinfo.Analyze(q), []any{1}, catalogBoundLoader(pool, q, 1))
	require.NoError(t, err)
	require.True(t, served)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"Item-1"}, names)
	mu.Lock()
	require.Greater(t, acquires, 1, "the catalog's connections are taken with CatalogAcquire")
	mu.Unlock()
}
