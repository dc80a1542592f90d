package rediscache_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/rediscache"
)

// mgrServer is a redis-server of the test's own, which it may kill.
type mgrServer = testenv.RedisServer

func mgrStartServer(t testing.TB) *mgrServer { return testenv.StartRedis(t) }

func mgrOwnManager(t *testing.T, srv *mgrServer, opts *redis.Options, cfg rediscache.Config) *rediscache.Cache {
	t.Helper()
	opts.Addr = srv.Addr()
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	cfg.Client = client
	m, err := rediscache.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestCacheRedisKilled kills Redis in the middle of 2,400 cached reads from
// 8 goroutines: no call fails, the breaker opens, and once redis-server is
// back on the same port a half-open probe closes the breaker again.
func TestCacheRedisKilled(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	srv := mgrStartServer(t)
	var hookErrs atomic.Int64
	m := mgrOwnManager(t, srv, &redis.Options{ContextTimeoutEnabled: true}, rediscache.Config{
		BreakerCooldown: 50 * time.Millisecond, BreakerMaxCooldown: 200 * time.Millisecond,
		OnError: func(context.Context, string, error) { hookErrs.Add(1) },
	})

	const keys, goroutines, perGoroutine = 100, 8, 300
	items := map[string]string{}
	for i := range keys {
		items[fmt.Sprint("kill:", i)] = fmt.Sprint("value-", i)
	}
	require.NoError(t, rediscache.Warm(ctx, m, items, time.Hour))

	var (
		done, failed, loads atomic.Int64
		killOnce            sync.Once
		killedAt            atomic.Int64
		latMu               sync.Mutex
		lat                 []time.Duration
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			mine := make([]time.Duration, 0, perGoroutine)
			for i := range perGoroutine {
				k := (g*perGoroutine + i) % keys
				key := fmt.Sprint("kill:", k)
				start := time.Now()
				v, err := rediscache.GetOrLoad(ctx, m, key, time.Hour, func(context.Context) (string, error) {
					loads.Add(1)
					return fmt.Sprint("value-", k), nil // the source of truth
				})
				mine = append(mine, time.Since(start))
				if err != nil || v != fmt.Sprint("value-", k) {
					failed.Add(1)
					t.Errorf("call failed: %q, %v", v, err)
				}
				if done.Add(1) == goroutines*perGoroutine/2 {
					killOnce.Do(func() {
						killedAt.Store(done.Load())
						srv.Kill()
					})
				}
			}
			latMu.Lock()
			lat = append(lat, mine...)
			latMu.Unlock()
		})
	}
	wg.Wait()

	s := mgrStats(m, "kill")
	b := m.BreakerStats()
	slices.Sort(lat)
	t.Logf("%d calls, killed after %d: %d failed; hits %d, misses %d, loads %d, redis errors %d (hook %d), bypasses %d; breaker %v, opened %d times; latency p50 %v p99 %v max %v",
		done.Load(), killedAt.Load(), failed.Load(), s.Hits, s.Misses, loads.Load(), s.RedisErrors, hookErrs.Load(), s.Bypasses,
		b.State, b.Opens, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	require.EqualValues(t, goroutines*perGoroutine, done.Load())
	require.Zero(t, failed.Load(), "Redis dying fails no call")
	require.GreaterOrEqual(t, s.Hits, uint64(goroutines*perGoroutine/2), "the first half were cached reads")
	require.Positive(t, s.Bypasses, "the breaker opened and calls skipped Redis")
	require.Positive(t, b.Opens)
	require.NotEqual(t, rediscache.BreakerClosed, b.State)
	require.EqualValues(t, s.RedisErrors, hookErrs.Load(), "every Redis error reaches the hook")

	// Redis comes back (empty) on the same port: a probe closes the breaker.
	srv.Start()
	require.Eventually(t, func() bool {
		_, _ = rediscache.GetOrLoad(ctx, m, "kill:0", time.Hour, func(context.Context) (string, error) { return "value-0", nil })
		return m.BreakerStats().State == rediscache.BreakerClosed
	}, 5*time.Second, 10*time.Millisecond, "half-open probe re-closes the breaker")
	require.Eventually(t, func() bool {
		v, err := rediscache.Get[string](ctx, m, "kill:0")
		return err == nil && v == "value-0"
	}, 5*time.Second, 10*time.Millisecond, "caching resumes")
}

// TestCacheRedisHung stops (SIGSTOP) Redis: with ContextTimeoutEnabled
// each call waits at most Config.Timeout until the breaker opens, then not
// at all.
func TestCacheRedisHung(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	srv := mgrStartServer(t)
	const timeout = 50 * time.Millisecond
	m := mgrOwnManager(t, srv, &redis.Options{ContextTimeoutEnabled: true}, rediscache.Config{
		Timeout:         timeout,
		BreakerCooldown: time.Minute,
	})
	_, err := rediscache.GetOrLoad(ctx, m, "hung:1", time.Hour, func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)

	srv.Signal(syscall.SIGSTOP)
	defer srv.Signal(syscall.SIGCONT)
	var lat []time.Duration
	for range 200 {
		start := time.Now()
		v, err := rediscache.GetOrLoad(ctx, m, "hung:1", time.Hour, func(context.Context) (int, error) { return 1, nil })
		lat = append(lat, time.Since(start))
		require.NoError(t, err)
		require.Equal(t, 1, v)
	}
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	require.Equal(t, rediscache.BreakerOpen, m.BreakerStats().State)
	t.Logf("hung Redis, Timeout %v: first calls %v; calls 10-200 total %v; all 200 total %v", timeout, lat[:6], mgrSum(lat[10:]), total)
	for i, d := range lat[:5] {
		require.Less(t, d, timeout+500*time.Millisecond, "call %d is bounded by Timeout", i)
	}
	require.Less(t, mgrSum(lat[10:]), 50*time.Millisecond, "after the breaker opens, calls don't wait")
}

func mgrSum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// TestCacheBreakerOpenOverhead measures what GetOrLoad adds to a loader
// call while the breaker is open: the evidence for "≤ 1 ms per call".
func TestCacheBreakerOpenOverhead(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	// Nothing listens on this port; the breaker opens after 5 refused dials
	// and, with a long cooldown, stays open while we measure.
	client := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))), MaxRetries: -1})
	defer client.Close()
	m, err := rediscache.New(rediscache.Config{Client: client, BreakerCooldown: time.Hour})
	require.NoError(t, err)
	load := func(context.Context) (int, error) { return 42, nil }
	for range 5 {
		_, err := rediscache.GetOrLoad(ctx, m, "oh:1", time.Hour, load)
		require.NoError(t, err)
	}
	require.Equal(t, rediscache.BreakerOpen, m.BreakerStats().State)

	const n = 100_000
	direct := func() time.Duration {
		start := time.Now()
		for range n {
			if v, err := load(ctx); err != nil || v != 42 {
				t.Fatal(v, err)
			}
		}
		return time.Since(start)
	}
	cached := func() time.Duration {
		start := time.Now()
		for range n {
			if v, err := rediscache.GetOrLoad(ctx, m, "oh:1", time.Hour, load); err != nil || v != 42 {
				t.Fatal(v, err)
			}
		}
		return time.Since(start)
	}
	// Best of 3, to keep a busy machine's noise out.
	best := time.Duration(1 << 62)
	for range 3 {
		best = min(best, (cached()-direct())/n)
	}
	t.Logf("breaker open: GetOrLoad adds %v per call over calling the loader directly", best)
	require.LessOrEqual(t, best, time.Millisecond)
	require.EqualValues(t, 3*n+5, mgrStats(m, "oh").Misses)
}

// TestCacheRing runs the multi-node paths (pipelined GETs instead of MGET,
// per-shard SCAN, single-key UNLINKs) on a Ring of two servers of our own.
func TestCacheRing(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	a, b := mgrStartServer(t), mgrStartServer(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
	t.Cleanup(func() { _ = ring.Close() })
	m, err := rediscache.New(rediscache.Config{Client: ring, Prefix: "ring:", Timeout: 5 * time.Second})
	require.NoError(t, err)

	items := map[string]int{}
	keys := []string{}
	for i := range 500 {
		k := fmt.Sprint("r:", i)
		items[k] = i
		keys = append(keys, k)
	}
	require.NoError(t, rediscache.Warm(ctx, m, items, time.Minute))
	for _, srv := range []*mgrServer{a, b} {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		n, err := c.DBSize(ctx).Result()
		_ = c.Close()
		require.NoError(t, err)
		require.Positive(t, n, "keys land on both shards")
	}
	got, err := rediscache.GetMany(ctx, m, append(keys, "r:new"), time.Minute, func(_ context.Context, missing []string) (map[string]int, error) {
		require.Equal(t, []string{"r:new"}, missing)
		return map[string]int{"r:new": -1}, nil
	})
	require.NoError(t, err)
	require.Len(t, got, 501)
	require.NoError(t, m.Delete(ctx, "r:0", "r:1"))
	_, err = rediscache.Get[int](ctx, m, "r:0")
	require.ErrorIs(t, err, rediscache.ErrNotFound)
	n, err := m.InvalidatePattern(ctx, "r:*")
	require.NoError(t, err)
	require.EqualValues(t, 499, n) // 500 + r:new - 2 deleted
}
