package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
)

// Fault tests of the query cache as the Pool uses it: a redis-server of the
// test's own that is SIGKILLed and restarted, a cancelled context and a
// closed pool. Every read is checked against what the database holds.

// faultRedis is a redis-server the test starts on a free port and may kill.
// Its working directory is the test's own, so that an explicit SAVE before
// a kill lets the restarted server come back with the entries it had (like a
// Redis restarted from its last snapshot, or a replica promoted behind).
type faultRedis struct{ *testenv.RedisServer }

func startFaultRedis(t testing.TB) *faultRedis { return &faultRedis{testenv.StartRedis(t)} }

// admin returns a client of the test's own on the server (not the cache's).
func (s *faultRedis) admin(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// faultPool returns a Pool on a new scratch database (schema plus setup) whose
// query cache uses srv, through a client an application would pass in
// (go-redis defaults but ContextTimeoutEnabled; a Pool built from RedisURL
// also fails fast on refused connections, see cache_sick_test.go).
func faultPool(t *testing.T, srv *faultRedis, qc querycache.Config, setup ...string) (*pgxperf.Pool, string) {
	t.Helper()
	var opts []testenv.Option
	for _, s := range setup {
		opts = append(opts, testenv.WithSQL(s))
	}
	dsn := testenv.NewDatabase(t, opts...)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() }) // after the pool's Close (cleanups run last in, first out)
	qc.Client = client
	if qc.Prefix == "" {
		qc.Prefix = fmt.Sprintf("pgxperf-fault:%s:%d:", t.Name(), time.Now().UnixNano())
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 8
	p, err := pgxperf.NewFromConfig(context.Background(), &pgxperf.Config{Pool: cfg, Cache: qc, Tracer: noSlowLog})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p, qc.Prefix
}

// faultStats sums the cache's counts of the statements whose normalized text
// contains sub.
func faultStats(p *pgxperf.Pool, sub string) querycache.StatementStats {
	var sum querycache.StatementStats
	for _, st := range p.Cache().Stats().Statements {
		if containsFold(st.Normalized, sub) {
			sum.Hits += st.Hits
			sum.L1Hits += st.L1Hits
			sum.Misses += st.Misses
			sum.Coalesced += st.Coalesced
			sum.Stale += st.Stale
			sum.Stores += st.Stores
			sum.Bypasses += st.Bypasses
			sum.Errors += st.Errors
			sum.LastBypass = st.LastBypass
		}
	}
	return sum
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

const (
	faultKeys  = 100
	faultSetup = `CREATE TABLE fault_kv (id int PRIMARY KEY, val text NOT NULL);
INSERT INTO fault_kv SELECT g, 'value-' || g FROM generate_series(1, 100) g`
	faultQuery = "SELECT val FROM fault_kv WHERE id = $1"
)

// TestCacheFaultRedisKilled kills Redis (SIGKILL) in the middle of 2,400
// cached reads from 8 goroutines, then measures what a cached call costs
// while the breaker is open, then restarts Redis on the same port from the
// snapshot it had (stale entries included) and checks that the cache
// recovers only after the write made during the outage was invalidated.
func TestCacheFaultRedisKilled(t *testing.T) {
	ctx := testCtx(t)
	srv := startFaultRedis(t)
	admin := srv.admin(t)
	var hookErrs atomic.Int64
	p, prefix := faultPool(t, srv, querycache.Config{
		BreakerCooldown: 100 * time.Millisecond, BreakerMaxCooldown: 400 * time.Millisecond,
		OnError: func(context.Context, string, error) { hookErrs.Add(1) },
	}, faultSetup)
	cctx := querycache.WithTTL(ctx, time.Hour)
	want := func(id int) string { return fmt.Sprint("value-", id) }

	// ---- 1. 2,400 cached reads; Redis is killed after half of them. ----
	for id := 1; id <= faultKeys; id++ { // every key cached before the run
		var v string
		require.NoError(t, p.QueryRow(cctx, faultQuery, id).Scan(&v))
		require.Equal(t, want(id), v)
	}
	warm := faultStats(p, "FROM fault_kv")
	require.EqualValues(t, faultKeys, warm.Stores)
	const goroutines, perGoroutine = 8, 300
	const total = goroutines * perGoroutine
	var (
		done, failed   atomic.Int64
		killOnce       sync.Once
		atKill         querycache.StatementStats
		killedAfter    int64
		latMu          sync.Mutex
		latBefore, lat []time.Duration
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var mine, mineBefore []time.Duration
			for i := range perGoroutine {
				id := 1 + (g*13+i*7)%faultKeys
				start := time.Now()
				var v string
				err := p.QueryRow(cctx, faultQuery, id).Scan(&v)
				d := time.Since(start)
				if err != nil || v != want(id) {
					failed.Add(1)
					t.Errorf("read %d of goroutine %d: id %d: %q, %v", i, g, id, v, err)
				}
				n := done.Add(1)
				if n <= total/2 {
					mineBefore = append(mineBefore, d)
				} else {
					mine = append(mine, d)
				}
				if n == total/2 {
					killOnce.Do(func() {
						// The snapshot the restarted server will load: every
						// entry, made before the write of step 3.
						require.NoError(t, admin.Save(ctx).Err())
						atKill = faultStats(p, "FROM fault_kv")
						killedAfter = n
						srv.Kill()
					})
				}
			}
			latMu.Lock()
			lat = append(lat, mine...)
			latBefore = append(latBefore, mineBefore...)
			latMu.Unlock()
		})
	}
	wg.Wait()
	end := faultStats(p, "FROM fault_kv")
	cs := p.Cache().Stats()
	slices.Sort(lat)
	slices.Sort(latBefore)
	t.Logf("redis killed: %d cached reads by %d goroutines, SIGKILL after %d: %d failed; before the kill: hits %d, misses %d, stores %d; after: bypasses %d, hits %d, redis errors %d (hook %d); breaker %v",
		done.Load(), goroutines, killedAfter, failed.Load(), atKill.Hits-warm.Hits, atKill.Misses-warm.Misses, atKill.Stores-warm.Stores,
		end.Bypasses-atKill.Bypasses, end.Hits-atKill.Hits, cs.RedisErrors, hookErrs.Load(), cs.Breaker)
	t.Logf("redis killed: read latency before the kill p50 %v p99 %v; after p50 %v p99 %v max %v",
		pct(latBefore, .5), pct(latBefore, .99), pct(lat, .5), pct(lat, .99), lat[len(lat)-1])
	require.EqualValues(t, total, done.Load())
	require.Zero(t, failed.Load(), "Redis dying fails no read")
	require.GreaterOrEqual(t, atKill.Hits-warm.Hits, int64(total/2-goroutines), "the reads before the kill were hits")
	require.Positive(t, end.Bypasses-atKill.Bypasses, "reads after the kill bypassed the cache")
	require.NotEqual(t, querycache.BreakerClosed, cs.Breaker, "the breaker opened")

	// ---- 2. Breaker open: what a cached call adds to the uncached path. ----
	require.Eventually(t, func() bool { return p.Cache().BreakerState() == querycache.BreakerOpen },
		5*time.Second, time.Millisecond)
	const n = 3000
	var withTTL, without []time.Duration
	one := func(c context.Context, id int) time.Duration {
		start := time.Now()
		var v string
		err := p.QueryRow(c, faultQuery, id).Scan(&v)
		d := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, want(id), v)
		return d
	}
	for i := range 200 { // warm-up: connections, plans
		one(cctx, 1+i%faultKeys)
		one(ctx, 1+i%faultKeys)
	}
	before := faultStats(p, "FROM fault_kv")
	for i := range n {
		id := 1 + i%faultKeys
		if i%2 == 0 { // alternate which one goes first
			withTTL = append(withTTL, one(cctx, id))
			without = append(without, one(ctx, id))
		} else {
			without = append(without, one(ctx, id))
			withTTL = append(withTTL, one(cctx, id))
		}
	}
	after := faultStats(p, "FROM fault_kv")
	slices.Sort(withTTL)
	slices.Sort(without)
	diff := pct(withTTL, .5) - pct(without, .5)
	t.Logf("breaker open (%v): %d interleaved pairs of QueryRow: WithTTL p50 %v p99 %v; without p50 %v p99 %v; difference of medians %v (p99 %v); bypasses during the run %d, hits %d",
		p.Cache().BreakerState(), n, pct(withTTL, .5), pct(withTTL, .99), pct(without, .5), pct(without, .99),
		diff, pct(withTTL, .99)-pct(without, .99), after.Bypasses-before.Bypasses, after.Hits-before.Hits)
	require.EqualValues(t, n, after.Bypasses-before.Bypasses, "every cached call bypassed Redis")
	require.LessOrEqual(t, diff, time.Millisecond, "a cached call adds at most 1 ms while the breaker is open")

	// ---- 3. A write while Redis is down. ----
	const id = 1
	_, err := p.Exec(ctx, "UPDATE fault_kv SET val = 'outage-1' WHERE id = $1", id)
	require.NoError(t, err)
	require.Positive(t, p.Cache().Stats().PendingInvalidations, "the invalidation waits for Redis")
	var v string
	require.NoError(t, p.QueryRow(cctx, faultQuery, id).Scan(&v))
	require.Equal(t, "outage-1", v, "read during the outage")

	// ---- 4. Redis comes back on the same port, from the snapshot: the stale
	// entry of id 1 ('value-1') is in it again. ----
	srv.Start()
	entries, err := admin.Keys(ctx, prefix+"r:*").Result()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(entries), faultKeys, "the restarted server has the old entries")
	restarted := time.Now()
	firstHits := faultStats(p, "FROM fault_kv").Hits
	var reads, stale int
	for {
		var v string
		require.NoError(t, p.QueryRow(cctx, faultQuery, id).Scan(&v))
		reads++
		if v != "outage-1" {
			stale++
			t.Errorf("read %d after the restart served %q, written over during the outage", reads, v)
		}
		if faultStats(p, "FROM fault_kv").Hits > firstHits {
			break
		}
		require.Less(t, time.Since(restarted), 10*time.Second, "the cache never recovered: %+v", p.Cache().Stats())
		time.Sleep(2 * time.Millisecond)
	}
	recovered := time.Since(restarted)
	// The write bumped the table's generation, so every restored entry is
	// stale: one pass refills them from the database, the next one hits.
	staleAt := faultStats(p, "FROM fault_kv").Stale
	var hitsAt int64
	for pass := range 2 {
		if pass == 1 {
			hitsAt = faultStats(p, "FROM fault_kv").Hits
		}
		for k := 2; k <= faultKeys; k++ {
			var v string
			require.NoError(t, p.QueryRow(cctx, faultQuery, k).Scan(&v))
			require.Equal(t, want(k), v)
		}
	}
	final := p.Cache().Stats()
	end = faultStats(p, "FROM fault_kv")
	gens, err := admin.Keys(ctx, prefix+"g:*").Result()
	require.NoError(t, err)
	genVals := map[string]string{}
	for _, g := range gens {
		genVals[g[len(prefix):]], _ = admin.Get(ctx, g).Result()
	}
	t.Logf("redis restarted from its snapshot (%d entries): first hit after %v and %d reads of the key written during the outage, %d of them stale; pending invalidations %d; generations %v; restored entries of the other %d keys found stale %d, then hits %d of %d; breaker %v",
		len(entries), recovered.Round(time.Millisecond), reads, stale, final.PendingInvalidations, genVals,
		faultKeys-1, end.Stale-staleAt, end.Hits-hitsAt, faultKeys-1, final.Breaker)
	require.Zero(t, stale, "no read served the value written over during the outage")
	require.Zero(t, final.PendingInvalidations)
	require.Equal(t, querycache.BreakerClosed, final.Breaker)
	require.EqualValues(t, faultKeys-1, end.Stale-staleAt, "the restored entries were found stale, not served")
	require.EqualValues(t, faultKeys-1, end.Hits-hitsAt, "the cache serves hits again")
}

// pgxpoolClosedErr is the error a plain pgxpool gives for QueryRow and Query
// after Close.
func pgxpoolClosedErr(t *testing.T, dsn string) (rowErr, queryErr error) {
	plain, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	plain.Close()
	var v string
	rowErr = plain.QueryRow(context.Background(), faultQuery, 1).Scan(&v)
	_, queryErr = plain.Query(context.Background(), faultQuery, 1)
	require.Error(t, rowErr)
	require.Error(t, queryErr)
	return rowErr, queryErr
}

// TestCacheFaultClosedPool: after Close, cached calls (hits and misses alike)
// fail with the error pgxpool gives, and never panic.
func TestCacheFaultClosedPool(t *testing.T) {
	ctx := testCtx(t)
	p, _, dsn := cachePool(t, querycache.Config{}, faultSetup)
	cctx := querycache.WithTTL(ctx, time.Hour)
	var v string
	for range 2 { // the second read is a hit
		require.NoError(t, p.QueryRow(cctx, faultQuery, 1).Scan(&v))
	}
	require.Equal(t, int64(1), faultStats(p, "FROM fault_kv").Hits)
	wantRow, wantQuery := pgxpoolClosedErr(t, dsn)

	p.Close()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   int
	}{
		{"cached key", cctx, 1},
		{"uncached key", cctx, 2},
		{"not opted in", ctx, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NotPanics(t, func() {
				err := p.QueryRow(tc.ctx, faultQuery, tc.id).Scan(&v)
				require.Error(t, err)
				require.Equal(t, wantRow.Error(), err.Error())
				rows, err := p.Query(tc.ctx, faultQuery, tc.id)
				require.Error(t, err)
				require.Equal(t, wantQuery.Error(), err.Error())
				if rows != nil {
					require.False(t, rows.Next())
					rows.Close()
					require.Equal(t, wantQuery.Error(), rows.Err().Error())
				}
			})
		})
	}
	st := faultStats(p, "FROM fault_kv")
	require.Equal(t, int64(1), st.Hits, "nothing is served from the cache after Close")
	t.Logf("closed pool: QueryRow → %q, Query → %q (as pgxpool); cache stats %+v", wantRow, wantQuery, st)
}

// TestCacheFaultCancelledContext: a cached call with a cancelled context
// gets context.Canceled, as the uncached call does, whether or not the
// result is cached.
func TestCacheFaultCancelledContext(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{}, faultSetup)
	var v string
	require.NoError(t, p.QueryRow(querycache.WithTTL(ctx, time.Hour), faultQuery, 1).Scan(&v)) // id 1 is cached

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   int
	}{
		{"uncached path", cancelled, 1},
		{"miss", querycache.WithTTL(cancelled, time.Hour), 2},
		{"hit", querycache.WithTTL(cancelled, time.Hour), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v string
			err := p.QueryRow(tc.ctx, faultQuery, tc.id).Scan(&v)
			require.ErrorIs(t, err, context.Canceled, "QueryRow")
			require.Equal(t, context.Canceled, rootErr(err), "unchanged: %v", err)
			rows, err := p.Query(tc.ctx, faultQuery, tc.id)
			require.ErrorIs(t, err, context.Canceled, "Query")
			if rows != nil {
				rows.Close()
			}
		})
	}
	t.Logf("cancelled context: stats %+v", faultStats(p, "FROM fault_kv"))
}

func rootErr(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
