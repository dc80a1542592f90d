package pgxperf_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// cachePool returns a Pool on a new scratch database (schema loaded, plus
// setup) with the query cache on, under a key prefix of the test's own.
func cachePool(t *testing.T, qc querycache.Config, setup ...string) (*pgxperf.Pool, *redis.Client, string) {
	t.Helper()
	var opts []testenv.Option
	for _, s := range setup {
		opts = append(opts, testenv.WithSQL(s))
	}
	dsn := testenv.NewDatabase(t, opts...)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	if qc.Client == nil {
		qc.Client = rdb
	}
	if qc.Prefix == "" {
		qc.Prefix = fmt.Sprintf("pgxperf-test:%s:%d:", t.Name(), time.Now().UnixNano())
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 4
	p, err := pgxperf.NewFromConfig(context.Background(), &pgxperf.Config{Pool: cfg, Cache: qc, Tracer: noSlowLog})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, rdb, dsn
}

var noSlowLog = tracer.Config{SlowThreshold: -1}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func cacheStats(t *testing.T, p *pgxperf.Pool, sql string) querycache.StatementStats {
	t.Helper()
	for _, st := range p.Cache().Stats().Statements {
		if st.Normalized != "" && containsFold(st.Normalized, sql) {
			return st
		}
	}
	return querycache.StatementStats{}
}

func TestCacheHitsAndInvalidatesAfterCommit(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{},
		`INSERT INTO users (email, display_name) VALUES ('a@example.com', 'Ann'), ('b@example.com', 'Bob')`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	const q = "SELECT display_name FROM users WHERE email = $1"
	name := func(c context.Context) string {
		var n string
		require.NoError(t, p.QueryRow(c, q, "a@example.com").Scan(&n))
		return n
	}
	require.Equal(t, "Ann", name(cctx))
	require.Equal(t, "Ann", name(cctx))
	st := cacheStats(t, p, "SELECT display_name FROM users")
	require.Equal(t, int64(1), st.Misses, "%+v", st)
	require.Equal(t, int64(1), st.Hits, "%+v", st)
	require.Equal(t, int64(1), st.Stores, "%+v", st)

	// Autocommit write: invalidated before Exec returns.
	_, err := p.Exec(ctx, "UPDATE users SET display_name = 'Anna' WHERE email = 'a@example.com'")
	require.NoError(t, err)
	require.Equal(t, "Anna", name(cctx))

	// A rolled-back transaction invalidates nothing.
	tx, err := p.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE users SET display_name = 'Nope' WHERE email = 'a@example.com'")
	require.NoError(t, err)
	require.Equal(t, "Anna", name(cctx), "uncommitted writes are invisible")
	require.NoError(t, tx.Rollback(ctx))
	before := cacheStats(t, p, "SELECT display_name FROM users")
	require.Equal(t, "Anna", name(cctx))
	after := cacheStats(t, p, "SELECT display_name FROM users")
	require.Equal(t, before.Hits+1, after.Hits, "rollback must not invalidate")

	// A committed transaction invalidates at COMMIT.
	tx, err = p.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE users SET display_name = 'Annie' WHERE email = 'a@example.com'")
	require.NoError(t, err)
	require.Equal(t, "Anna", name(cctx))
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, "Annie", name(cctx))

	// Writes on an acquired connection, in a batch and by CopyFrom too.
	conn, err := p.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "UPDATE users SET display_name = 'A1' WHERE email = 'a@example.com'")
	conn.Release()
	require.NoError(t, err)
	require.Equal(t, "A1", name(cctx))
	b := &pgx.Batch{}
	b.Queue("UPDATE users SET display_name = 'A2' WHERE email = 'a@example.com'")
	require.NoError(t, p.SendBatch(ctx, b).Close())
	require.Equal(t, "A2", name(cctx))

	var count int64
	cq := "SELECT count(*) FROM users"
	require.NoError(t, p.QueryRow(cctx, cq).Scan(&count))
	require.Equal(t, int64(2), count)
	_, err = p.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"email", "display_name"},
		pgx.CopyFromRows([][]any{{"c@example.com", "Cy"}}))
	require.NoError(t, err)
	require.NoError(t, p.QueryRow(cctx, cq).Scan(&count))
	require.Equal(t, int64(3), count)

	// Not opted in: not counted at all.
	require.Equal(t, "A2", name(ctx))
}

func TestCacheRefusesWhatItCannotProveSafe(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{},
		`CREATE VIEW recent_users AS SELECT id, email FROM users WHERE created_at > now() - interval '1 day'`,
		`CREATE FUNCTION vol() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	for _, tc := range []struct{ sql, why string }{
		{"SELECT now()", "not IMMUTABLE"},
		{"SELECT id FROM users WHERE created_at < now()", "not IMMUTABLE"},
		{"SELECT random()", "not IMMUTABLE"},
		{"SELECT vol()", "vol"},
		{"SELECT id FROM users FOR UPDATE", "locking"},
		{"SELECT relname FROM pg_class LIMIT 1", "system catalog"},
		{"SELECT count(*) FROM recent_users", "not IMMUTABLE"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			rows, err := p.Query(cctx, tc.sql)
			require.NoError(t, err)
			rows.Close()
			require.NoError(t, rows.Err())
			var found bool
			for _, st := range p.Cache().Stats().Statements {
				if st.LastBypass != "" && containsFold(st.LastBypass, tc.why) && st.Hits == 0 && st.Stores == 0 {
					found = true
				}
			}
			require.True(t, found, "%+v", p.Cache().Stats().Statements)
		})
	}
	// A temporary table is invisible to the cache's catalog lookups: the
	// statement runs (here on whichever connection; it may not see the
	// table) but is never cached.
	_, err := p.Exec(ctx, "CREATE TEMP TABLE scratch (x int)")
	require.NoError(t, err)
	rows, _ := p.Query(cctx, "SELECT x FROM scratch")
	rows.Close()
	st := cacheStats(t, p, "FROM scratch")
	require.Contains(t, st.LastBypass, "temporary")
	require.Zero(t, st.Stores)
}

// A Ring (or Cluster) client spreads keys over servers: lookups pipeline one
// GET per key instead of MGET, invalidations still reach every entry, and the
// in-process cache subscribes through it.
func TestCacheOnARingOfRedisServers(t *testing.T) {
	for _, l1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("l1=%v", l1), func(t *testing.T) {
			ctx := testCtx(t)
			a, b := testenv.StartRedis(t), testenv.StartRedis(t)
			ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
			t.Cleanup(func() { _ = ring.Close() })
			p, _, _ := cachePool(t, querycache.Config{Client: ring, L1: querycache.L1Config{Enabled: l1}},
				`INSERT INTO users (email, display_name) SELECT 'u' || i || '@example.com', 'U' || i FROM generate_series(1, 20) i`)
			if l1 {
				require.Eventually(t, func() bool { return p.Cache().Stats().L1Live }, 10*time.Second, 10*time.Millisecond)
			}
			cctx := querycache.WithTTL(ctx, time.Minute)
			const q = "SELECT display_name FROM users WHERE email = $1"
			read := func(i int) string {
				var n string
				require.NoError(t, p.QueryRow(cctx, q, fmt.Sprintf("u%d@example.com", i)).Scan(&n))
				return n
			}
			for round := 0; round < 2; round++ {
				for i := 1; i <= 20; i++ {
					require.Equal(t, fmt.Sprintf("U%d", i), read(i))
				}
			}
			st := cacheStats(t, p, "SELECT display_name FROM users")
			require.Equal(t, int64(20), st.Stores, "%+v", st)
			require.Equal(t, int64(20), st.Hits, "%+v", st)
			if l1 {
				require.Equal(t, int64(20), st.L1Hits, "%+v", st)
			} else {
				require.Zero(t, st.L1Hits, "%+v", st)
			}
			// Entries landed on both servers.
			for _, srv := range []*testenv.RedisServer{a, b} {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				n, err := c.DBSize(ctx).Result()
				_ = c.Close()
				require.NoError(t, err)
				require.Positive(t, n, srv.Addr())
			}
			_, err := p.Exec(ctx, "UPDATE users SET display_name = display_name || '!'")
			require.NoError(t, err)
			for i := 1; i <= 20; i++ {
				require.Equal(t, fmt.Sprintf("U%d!", i), read(i))
			}
			require.Zero(t, p.Cache().Stats().RedisErrors)
		})
	}
}

// With replicas, a miss is filled on the primary: an entry must hold every
// write committed before its lookup, which a lagging replica may not have.
func TestCacheFillsFromThePrimaryWithReplicas(t *testing.T) {
	ctx := testCtx(t)
	primary, rep := testenv.NewReplicatedDatabase(t)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg, err := pgxpool.ParseConfig(primary)
	require.NoError(t, err)
	p, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
		ReplicaURLs: []string{rep},
		Routing:     replica.Config{MaxLagBytes: 1 << 40, MaxLagTime: time.Hour},
		Cache:       querycache.Config{Client: rdb, Prefix: fmt.Sprintf("pgxperf-test:%s:%d:", t.Name(), time.Now().UnixNano())},
		Tracer:      noSlowLog,
	})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	require.Eventually(t, func() bool { return p.Router().Nodes()[1].State == replica.StateOnline }, 30*time.Second, 10*time.Millisecond)

	cctx := querycache.WithTTL(ctx, time.Minute)
	for i := range 20 {
		_, err := p.Exec(ctx, "INSERT INTO users (email, display_name) VALUES ($1, 'x')", fmt.Sprintf("r%d@example.com", i))
		require.NoError(t, err)
		var n int64
		// Right after the write: a replica may not have it; the cache's fill
		// runs on the primary, so the count is always current.
		require.NoError(t, p.QueryRow(cctx, "SELECT count(*) FROM users WHERE email LIKE 'r%'").Scan(&n))
		require.Equal(t, int64(i+1), n)
	}
	st := cacheStats(t, p, "SELECT count(*) FROM users")
	require.Equal(t, int64(20), st.Misses, "every write invalidated: %+v", st)
}
