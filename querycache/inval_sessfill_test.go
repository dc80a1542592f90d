package querycache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
)

// TestSessionStateFillNotStored: a fill whose load runs on a connection that
// took session state after the lookup checked for it (here the loader
// itself sets search_path on the connection it then queries) returns that
// connection's rows to its caller but is not stored: the next call misses
// and reads the pool's session rows, it is never served the other schema's.
func TestSessionStateFillNotStored(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.NewDatabase(t, testenv.WithSQL(`CREATE TABLE sf_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO sf_items VALUES (1, 'public');
CREATE SCHEMA other;
CREATE TABLE other.sf_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO other.sf_items VALUES (1, 'other')`))
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 1
	qc, err := newQueryCache(Config{Client: rdb, Prefix: fmt.Sprintf("pgxperf-sf:%d:", time.Now().UnixNano())},
		sessionFromConfig(cfg), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = qc.Close() })
	cfg.ConnConfig.Tracer = qc.inval
	cfg.BeforeClose = qc.inval.ForgetConn
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	t.Cleanup(func() { _ = qc.Close() }) // before the pool closes: cleanups run last in, first out
	qc.useCatalog(pool)

	const q = "SELECT name FROM sf_items WHERE id = $1"
	info := sqlinfo.Analyze(q)
	cctx := WithTTL(ctx, time.Hour)
	get := func(load loader) string {
		t.Helper()
		rows, served, err := qc.query(cctx, info, []any{1}, load)
		require.NoError(t, err)
		require.True(t, served)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Len(t, names, 1)
		return names[0]
	}
	plain := func(ctx context.Context) (pgx.Rows, error) { return pool.Query(ctx, q, 1) }
	// The loader that diverges its connection before it loads.
	diverging := func(ctx context.Context) (pgx.Rows, error) {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.Exec(ctx, "SET search_path TO other"); err != nil {
			c.Release()
			return nil, err
		}
		rows, err := c.Query(ctx, q, 1)
		if err != nil {
			c.Release()
			return nil, err
		}
		return &releasingRows{Rows: rows, c: c}, nil
	}

	require.Equal(t, "other", get(diverging), "the caller gets what its connection returned")
	st := qc.Stats()
	require.Equal(t, 1, qc.sessionConns())
	var stores int64
	for _, s := range st.Statements {
		stores += s.Stores
	}
	require.Zero(t, stores, "a fill on a connection that diverged during the call is not stored")

	_, err = pool.Exec(ctx, "RESET ALL")
	require.NoError(t, err)
	require.Zero(t, qc.sessionConns())
	require.Equal(t, "public", get(plain), "a miss: nothing of the other schema was stored")
	require.Equal(t, "public", get(plain))
	var hits int64
	for _, s := range qc.Stats().Statements {
		hits += s.Hits
	}
	require.EqualValues(t, 1, hits)
}

// releasingRows releases its pool connection when closed.
type releasingRows struct {
	pgx.Rows
	c    *pgxpool.Conn
	once bool
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	if !r.once {
		r.once = true
		r.c.Release()
	}
}

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}
