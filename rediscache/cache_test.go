package rediscache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/rediscache"
)

// Helpers here are prefixed mgr so they cannot clash with the query cache's
// tests in this package.

func mgrCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mgrClient returns a client for the shared test Redis, with cmds counting
// the commands it sends.
func mgrClient(t *testing.T) (*redis.Client, *mgrCmdCounter) {
	t.Helper()
	addr := testenv.RequireRedis(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	cmds := &mgrCmdCounter{}
	client.AddHook(cmds)
	return client, cmds
}

// mgrNew returns a Cache on the shared test Redis under a prefix of its
// own, whose keys are removed when the test ends.
func mgrNew(t *testing.T, cfg rediscache.Config) (*rediscache.Cache, *redis.Client, *mgrCmdCounter) {
	t.Helper()
	client, cmds := mgrClient(t)
	if cfg.Client == nil {
		cfg.Client = client
	}
	if cfg.Prefix == "" {
		cfg.Prefix = mgrPrefix(t)
	}
	cfg.Timeout = max(cfg.Timeout, 5*time.Second) // -race on a busy, shared machine
	m, err := rediscache.New(cfg)
	require.NoError(t, err)
	mgrPrefixes.Store(m, cfg.Prefix)
	t.Cleanup(func() {
		mgrPrefixes.Delete(m)
		_ = m.Close()
		_, _ = m.InvalidatePattern(context.Background(), "*")
	})
	return m, client, cmds
}

func mgrPrefix(t *testing.T) string {
	return fmt.Sprintf("qctest:%s:%d:", strings.ReplaceAll(t.Name(), "/", "."), time.Now().UnixNano())
}

// mgrCmdCounter is a redis.Hook that counts commands by name; a pipeline
// counts as "pipeline" plus each of its commands, except for the handshake.
type mgrCmdCounter struct {
	mu sync.Mutex
	n  map[string]int
}

var _ redis.Hook = (*mgrCmdCounter)(nil)

func (h *mgrCmdCounter) add(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[name]++
}

func (h *mgrCmdCounter) reset() { h.mu.Lock(); h.n = nil; h.mu.Unlock() }

func (h *mgrCmdCounter) get(name string) int { h.mu.Lock(); defer h.mu.Unlock(); return h.n[name] }

func (h *mgrCmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *mgrCmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *mgrCmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		handshake := false
		for _, c := range cmds {
			h.add(c.Name())
			handshake = handshake || c.Name() == "hello" || c.Name() == "auth" || c.Name() == "client"
		}
		if !handshake { // a new connection's HELLO and CLIENT SETINFO
			h.add("pipeline")
		}
		return next(ctx, cmds)
	}
}

func mgrStats(m *rediscache.Cache, prefix string) rediscache.PrefixStats {
	for _, s := range m.Stats() {
		if s.Prefix == prefix {
			return s
		}
	}
	return rediscache.PrefixStats{Prefix: prefix}
}

type mgrRepo struct {
	Name  string   `json:"name"`
	Stars int      `json:"stars"`
	Tags  []string `json:"tags"`
}

func TestCacheGetOrLoad(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, m *rediscache.Cache)
	}{
		{"miss then hit", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			var calls int
			load := func(context.Context) (string, error) { calls++; return fmt.Sprint("v", calls), nil }
			for range 3 {
				v, err := rediscache.GetOrLoad(ctx, m, "k:1", time.Minute, load)
				require.NoError(t, err)
				require.Equal(t, "v1", v)
			}
			require.Equal(t, 1, calls)
			s := mgrStats(m, "k")
			require.EqualValues(t, 2, s.Hits)
			require.EqualValues(t, 1, s.Misses)
			require.EqualValues(t, 1, s.Loads)
			require.EqualValues(t, 1, s.Sets)
		}},
		{"loader error is returned unchanged and not cached", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			_, err := rediscache.GetOrLoad(ctx, m, "k:err", time.Minute, func(context.Context) (int, error) { return 0, errBoom })
			require.ErrorIs(t, err, errBoom)
			require.Equal(t, errBoom, err, "unchanged, not wrapped")
			v, err := rediscache.GetOrLoad(ctx, m, "k:err", time.Minute, func(context.Context) (int, error) { return 7, nil })
			require.NoError(t, err)
			require.Equal(t, 7, v)
			require.EqualValues(t, 1, mgrStats(m, "k").LoadErrors)
		}},
		{"struct round trip", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			want := mgrRepo{Name: "pgxperf", Stars: 42, Tags: []string{"go", "postgres"}}
			for range 2 {
				got, err := rediscache.GetOrLoad(ctx, m, "gh:repo:pgxperf", TTLGitHubAPI,
					func(context.Context) (mgrRepo, error) { return want, nil })
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
			got, err := rediscache.Get[mgrRepo](ctx, m, "gh:repo:pgxperf")
			require.NoError(t, err)
			require.Equal(t, want, got)
		}},
		{"Get on a miss is ErrNotFound and redis.Nil", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			_, err := rediscache.Get[int](ctx, m, "k:none")
			require.ErrorIs(t, err, rediscache.ErrNotFound)
			require.ErrorIs(t, err, redis.Nil)
		}},
		{"Set then Get", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			require.NoError(t, rediscache.Set(ctx, m, "q:1", []int{1, 2, 3}, TTLUserQuota))
			got, err := rediscache.Get[[]int](ctx, m, "q:1")
			require.NoError(t, err)
			require.Equal(t, []int{1, 2, 3}, got)
		}},
		{"a non-positive TTL is refused", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			_, err := rediscache.GetOrLoad(ctx, m, "k:ttl", 0, func(context.Context) (int, error) { return 1, nil })
			require.ErrorIs(t, err, rediscache.ErrInvalidTTL)
			require.ErrorIs(t, rediscache.Set(ctx, m, "k:ttl", 1, -time.Second), rediscache.ErrInvalidTTL)
		}},
		{"a follower with another type loads for itself", func(t *testing.T, ctx context.Context, m *rediscache.Cache) {
			v, err := rediscache.GetOrLoad(ctx, m, "k:typed", time.Minute, func(context.Context) (int, error) { return 5, nil })
			require.NoError(t, err)
			require.Equal(t, 5, v)
			// The entry holds JSON 5, which a string cannot decode: a miss, then a load.
			s, err := rediscache.GetOrLoad(ctx, m, "k:typed", time.Minute, func(context.Context) (string, error) { return "five", nil })
			require.NoError(t, err)
			require.Equal(t, "five", s)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, _, _ := mgrNew(t, rediscache.Config{})
			tc.run(t, mgrCtx(t), m)
		})
	}
}

func TestCacheSingleFlight(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, cmds := mgrNew(t, rediscache.Config{})
	var calls atomic.Int32
	load := func(context.Context) (string, error) {
		calls.Add(1)
		time.Sleep(100 * time.Millisecond)
		return "value", nil
	}
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			v, err := rediscache.GetOrLoad(ctx, m, "sf:key", time.Minute, load)
			if err == nil && v != "value" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, calls.Load(), "loader must run once for 50 concurrent callers")
	s := mgrStats(m, "sf")
	require.EqualValues(t, callers, s.Hits+s.Misses)
	require.EqualValues(t, 1, s.Loads)
	require.Equal(t, 1, cmds.get("set"))
	require.LessOrEqual(t, cmds.get("get"), 2, "followers share the leader's GET")
	t.Logf("50 concurrent callers: %d loader call, %d GET, %d SET", calls.Load(), cmds.get("get"), cmds.get("set"))
}

func TestCacheFollowerContext(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, _ := mgrNew(t, rediscache.Config{})
	release := make(chan struct{})
	leaderCtx, cancelLeader := context.WithCancel(ctx)
	leaderDone := make(chan error, 1)
	go func() {
		_, err := rediscache.GetOrLoad(leaderCtx, m, "fc:1", time.Minute, func(ctx context.Context) (int, error) {
			<-release
			return 0, ctx.Err()
		})
		leaderDone <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the leader take the flight

	// A follower whose own context ends stops waiting.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := rediscache.GetOrLoad(short, m, "fc:1", time.Minute, func(context.Context) (int, error) { return 1, nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A follower whose leader is cancelled loads for itself.
	followerDone := make(chan int, 1)
	go func() {
		v, err := rediscache.GetOrLoad(ctx, m, "fc:1", time.Minute, func(context.Context) (int, error) { return 2, nil })
		require.NoError(t, err)
		followerDone <- v
	}()
	time.Sleep(50 * time.Millisecond)
	cancelLeader()
	close(release)
	require.ErrorIs(t, <-leaderDone, context.Canceled)
	require.Equal(t, 2, <-followerDone)
}

func TestCacheLoaderPanic(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, _ := mgrNew(t, rediscache.Config{})
	started := make(chan struct{})
	go func() {
		defer func() { _ = recover() }()
		_, _ = rediscache.GetOrLoad(ctx, m, "p:1", time.Minute, func(context.Context) (int, error) {
			close(started)
			time.Sleep(50 * time.Millisecond)
			panic("loader bug")
		})
	}()
	<-started
	v, err := rediscache.GetOrLoad(ctx, m, "p:1", time.Minute, func(context.Context) (int, error) { return 3, nil })
	require.NoError(t, err)
	require.Equal(t, 3, v, "a follower of a panicking leader loads for itself")
}

func TestCacheGetMany(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, cmds := mgrNew(t, rediscache.Config{})
	require.NoError(t, rediscache.Set(ctx, m, "gm:a", "A", time.Minute))
	require.NoError(t, rediscache.Set(ctx, m, "gm:b", "B", time.Minute))

	cmds.reset()
	var loads [][]string
	load := func(_ context.Context, missing []string) (map[string]string, error) {
		loads = append(loads, append([]string(nil), missing...))
		out := map[string]string{}
		for _, k := range missing {
			if k != "gm:d" { // d does not exist at the source
				out[k] = strings.ToUpper(strings.TrimPrefix(k, "gm:"))
			}
		}
		out["gm:unasked"] = "ignored"
		return out, nil
	}
	got, err := rediscache.GetMany(ctx, m, []string{"gm:a", "gm:b", "gm:c", "gm:d", "gm:d", "gm:e"}, time.Minute, load)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"gm:a": "A", "gm:b": "B", "gm:c": "C", "gm:e": "E"}, got)
	require.Equal(t, [][]string{{"gm:c", "gm:d", "gm:e"}}, loads, "one load for all the misses")
	require.Equal(t, 1, cmds.get("mget"), "one MGET")
	require.Equal(t, 0, cmds.get("get"))
	require.Equal(t, 1, cmds.get("pipeline"), "one pipeline of SETs")
	require.Equal(t, 2, cmds.get("set"))

	// Everything found now is a hit; the absent key is asked for again.
	loads = nil
	cmds.reset()
	got, err = rediscache.GetMany(ctx, m, []string{"gm:a", "gm:c", "gm:e", "gm:d"}, time.Minute, load)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, [][]string{{"gm:d"}}, loads)
	require.Equal(t, 1, cmds.get("mget"))
	require.Equal(t, 0, cmds.get("pipeline"), "nothing to write")

	// A loader error comes back unchanged.
	errBoom := errors.New("boom")
	_, err = rediscache.GetMany(ctx, m, []string{"gm:x"}, time.Minute, func(context.Context, []string) (map[string]string, error) {
		return nil, errBoom
	})
	require.Equal(t, errBoom, err)

	s := mgrStats(m, "gm")
	require.EqualValues(t, 2+3, s.Hits) // a, b; then a, c, e
	require.EqualValues(t, 3+1+1, s.Loads)
}

func TestCacheGetManyJoinsFlights(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, _ := mgrNew(t, rediscache.Config{})
	inLoad := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err := rediscache.GetOrLoad(ctx, m, "j:x", time.Minute, func(context.Context) (string, error) {
			close(inLoad)
			time.Sleep(150 * time.Millisecond)
			return "X", nil
		})
		require.NoError(t, err)
		require.Equal(t, "X", v)
	}()
	<-inLoad
	var asked []string
	got, err := rediscache.GetMany(ctx, m, []string{"j:x", "j:y"}, time.Minute, func(_ context.Context, missing []string) (map[string]string, error) {
		asked = missing
		return map[string]string{"j:y": "Y"}, nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"j:y"}, asked, "j:x is being loaded already: wait for it, don't load it again")
	require.Equal(t, map[string]string{"j:x": "X", "j:y": "Y"}, got)
	<-done
}

func TestCacheDelete(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, _ := mgrNew(t, rediscache.Config{})
	for _, k := range []string{"d:1", "d:2", "d:3"} {
		require.NoError(t, rediscache.Set(ctx, m, k, k, time.Minute))
	}
	require.NoError(t, m.Delete(ctx, "d:1", "d:2", "d:missing"))
	for k, want := range map[string]error{"d:1": rediscache.ErrNotFound, "d:2": rediscache.ErrNotFound, "d:3": nil} {
		_, err := rediscache.Get[string](ctx, m, k)
		if want == nil {
			require.NoError(t, err, k)
		} else {
			require.ErrorIs(t, err, want, k)
		}
	}
	require.NoError(t, m.Delete(ctx))
	require.EqualValues(t, 3, mgrStats(m, "d").Deletes)
}

func TestCacheInvalidatePattern(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, client, cmds := mgrNew(t, rediscache.Config{})
	other, _, _ := mgrNew(t, rediscache.Config{}) // another namespace on the same Redis

	const n = 10_000
	items := make(map[string]int, n)
	for i := range n {
		items[fmt.Sprintf("inv:%05d", i)] = i
	}
	require.NoError(t, rediscache.Warm(ctx, m, items, time.Minute))
	keep := map[string]int{}
	for i := range 100 {
		keep[fmt.Sprintf("keep:%d", i)] = i
		keep[fmt.Sprintf("invkeep:%d", i)] = i // shares "inv" but not "inv:"
	}
	require.NoError(t, rediscache.Warm(ctx, m, keep, time.Minute))
	require.NoError(t, rediscache.Warm(ctx, other, map[string]int{"inv:1": 1, "inv:2": 2}, time.Minute))

	cmds.reset()
	start := time.Now()
	removed, err := m.InvalidatePattern(ctx, "inv:*")
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.EqualValues(t, n, removed)
	require.Zero(t, cmds.get("keys"), "never KEYS")
	require.Positive(t, cmds.get("scan"))
	require.GreaterOrEqual(t, cmds.get("unlink"), n/1000)
	require.Zero(t, cmds.get("del"))
	t.Logf("InvalidatePattern removed %d keys in %v with %d SCAN and %d UNLINK calls", removed, elapsed, cmds.get("scan"), cmds.get("unlink"))

	left, err := mgrCountKeys(ctx, client, m, "inv:*")
	require.NoError(t, err)
	require.Zero(t, left)
	for pattern, want := range map[string]int{"keep:*": 100, "invkeep:*": 100} {
		got, err := mgrCountKeys(ctx, client, m, pattern)
		require.NoError(t, err)
		require.Equal(t, want, got, pattern)
	}
	v, err := rediscache.Get[int](ctx, other, "inv:1")
	require.NoError(t, err, "another prefix is untouched")
	require.Equal(t, 1, v)
	require.EqualValues(t, n, mgrStats(m, "inv").Invalidated)
}

// mgrCountKeys counts m's keys matching pattern with a raw SCAN.
func mgrCountKeys(ctx context.Context, client *redis.Client, m *rediscache.Cache, pattern string) (int, error) {
	var n int
	iter := client.Scan(ctx, 0, mgrPrefixOf(m)+pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n, iter.Err()
}

func TestCacheWarm(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	m, _, cmds := mgrNew(t, rediscache.Config{})
	items := map[string]mgrRepo{}
	keys := []string{}
	for i := range 2500 {
		k := fmt.Sprintf("w:%d", i)
		items[k] = mgrRepo{Name: k, Stars: i}
		keys = append(keys, k)
	}
	cmds.reset()
	require.NoError(t, rediscache.Warm(ctx, m, items, TTLPlatformMetadata))
	require.Equal(t, 3, cmds.get("pipeline"), "batches of 1000")
	got, err := rediscache.GetMany(ctx, m, keys, TTLPlatformMetadata, func(context.Context, []string) (map[string]mgrRepo, error) {
		return nil, errors.New("everything was warmed")
	})
	require.NoError(t, err)
	require.Equal(t, items, got)
	require.EqualValues(t, 2500, mgrStats(m, "w").Sets)
}

func TestCacheTTLJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		jitter float64
		ttl    time.Duration
		lo, hi float64 // bounds as fractions of ttl
	}{
		{"default 10%", 0, 100 * time.Second, 0.9, 1.1},
		{"25%", 0.25, 100 * time.Second, 0.75, 1.25},
		{"disabled", -1, 100 * time.Second, 0.99, 1.0},
		{"SESSION", 0, TTLSession, 0.9, 1.1},
		{"GITHUB_API", 0, TTLGitHubAPI, 0.9, 1.1},
		{"GENERATED_CONTENT", 0, TTLGeneratedContent, 0.9, 1.1},
		{"PLATFORM_METADATA", 0, TTLPlatformMetadata, 0.9, 1.1},
		{"USER_QUOTA", 0, TTLUserQuota, 0.9, 1.1},
		{"QUERY_RESULTS", 0, TTLQueryResults, 0.9, 1.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := mgrCtx(t)
			m, client, _ := mgrNew(t, rediscache.Config{JitterFraction: tc.jitter})
			const n = 200
			items := map[string]int{}
			for i := range n {
				items[fmt.Sprint("j:", i)] = i
			}
			require.NoError(t, rediscache.Warm(ctx, m, items, tc.ttl))
			pipe := client.Pipeline()
			cmds := make([]*redis.DurationCmd, 0, n)
			for k := range items {
				cmds = append(cmds, pipe.PTTL(ctx, mgrPrefixOf(m)+k))
			}
			_, err := pipe.Exec(ctx)
			require.NoError(t, err)
			lo, hi := time.Duration(float64(tc.ttl)*tc.lo), time.Duration(float64(tc.ttl)*tc.hi)
			minSeen, maxSeen := time.Duration(1<<62), time.Duration(0)
			for _, c := range cmds {
				d := c.Val()
				require.GreaterOrEqual(t, d, lo-2*time.Second)
				require.LessOrEqual(t, d, hi)
				minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
			}
			if tc.jitter >= 0 {
				// 200 uniform draws: the spread covers most of the range.
				require.Greater(t, maxSeen-minSeen, (hi-lo)/2, "expiries are spread")
			}
			t.Logf("ttl %v: PTTL from %v to %v", tc.ttl, minSeen, maxSeen)
		})
	}
}

// mgrPrefixOf returns the Config.Prefix mgrNew gave m.
func mgrPrefixOf(m *rediscache.Cache) string {
	v, _ := mgrPrefixes.Load(m)
	s, _ := v.(string)
	return s
}

var mgrPrefixes sync.Map // *rediscache.Cache -> Config.Prefix

func TestCacheEarlyRefresh(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	// A 4 s TTL whose last 80% is the refresh window; no jitter. The window
	// is wide so that a loaded machine cannot push the test past expiry.
	const ttl = 4 * time.Second
	m, client, _ := mgrNew(t, rediscache.Config{EarlyRefresh: 0.8, JitterFraction: -1})
	v, err := rediscache.GetOrLoad(ctx, m, "er:1", ttl, func(context.Context) (string, error) { return "old", nil })
	require.NoError(t, err)
	require.Equal(t, "old", v)
	time.Sleep(900 * time.Millisecond) // into the refresh window, 3 s before expiry

	var refreshes atomic.Int32
	release := make(chan struct{})
	blocked := func(context.Context) (string, error) {
		refreshes.Add(1)
		<-release
		return "new", nil
	}
	// While the refresh is blocked, every caller gets the old value: none
	// waits for the refresh and none starts another.
	var wg sync.WaitGroup
	var old atomic.Int32
	for range 20 {
		wg.Go(func() {
			for range 5 {
				v, err := rediscache.GetOrLoad(ctx, m, "er:1", ttl, blocked)
				if err == nil && v == "old" {
					old.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 100, old.Load(), "callers get the old value during the refresh")
	require.EqualValues(t, 1, refreshes.Load(), "one refresh")
	close(release)

	require.Eventually(t, func() bool {
		v, err := rediscache.Get[string](ctx, m, "er:1")
		return err == nil && v == "new"
	}, 3*time.Second, 10*time.Millisecond)
	pttl, err := client.PTTL(ctx, mgrPrefixOf(m)+"er:1").Result()
	require.NoError(t, err)
	require.Greater(t, pttl, ttl-time.Second, "the refresh wrote a fresh TTL")

	// The refreshed entry is not due again: no more loads.
	v, err = rediscache.GetOrLoad(ctx, m, "er:1", ttl, blocked)
	require.NoError(t, err)
	require.Equal(t, "new", v)
	require.NoError(t, m.Close())
	require.EqualValues(t, 1, refreshes.Load())
	s := mgrStats(m, "er")
	require.EqualValues(t, 1, s.Refreshes)
	require.EqualValues(t, 2, s.Loads, "the first load and the refresh")
}

func TestCacheCodecErrors(t *testing.T) {
	t.Parallel()
	ctx := mgrCtx(t)
	var mu sync.Mutex
	var reported []string
	var codecErrs []*rediscache.CodecError
	m, client, _ := mgrNew(t, rediscache.Config{OnError: func(_ context.Context, op string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, op)
		var ce *rediscache.CodecError
		if errors.As(err, &ce) {
			codecErrs = append(codecErrs, ce)
		}
	}})
	require.NoError(t, client.Set(ctx, mgrPrefixOf(m)+"c:garbage", "not an entry", time.Minute).Err())

	v, err := rediscache.GetOrLoad(ctx, m, "c:garbage", time.Minute, func(context.Context) (int, error) { return 9, nil })
	require.NoError(t, err, "an undecodable entry is a miss")
	require.Equal(t, 9, v)
	v, err = rediscache.Get[int](ctx, m, "c:garbage")
	require.NoError(t, err, "and was overwritten")
	require.Equal(t, 9, v)

	require.NoError(t, client.Set(ctx, mgrPrefixOf(m)+"c:garbage", "junk", time.Minute).Err())
	_, err = rediscache.Get[int](ctx, m, "c:garbage")
	var ce *rediscache.CodecError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "decode", ce.Op)
	require.Equal(t, "c:garbage", ce.Key)

	err = rediscache.Set(ctx, m, "c:chan", make(chan int), time.Minute)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "encode", ce.Op)
	fn, err := rediscache.GetOrLoad(ctx, m, "c:func", time.Minute, func(context.Context) (func(), error) { return func() {}, nil })
	require.NoError(t, err, "a value that cannot be cached is still returned")
	require.NotNil(t, fn)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"decode", "decode", "encode", "encode"}, reported)
	require.Len(t, codecErrs, 4)
	require.EqualValues(t, 4, mgrStats(m, "c").CodecErrors)
}

func TestNewManagerConfig(t *testing.T) {
	t.Parallel()
	_, err := rediscache.New(rediscache.Config{})
	require.Error(t, err)
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	_, err = rediscache.New(rediscache.Config{Client: client, JitterFraction: 1})
	require.Error(t, err)
	m, err := rediscache.New(rediscache.Config{Client: client})
	require.NoError(t, err)
	require.Equal(t, rediscache.BreakerClosed, m.BreakerStats().State)
	require.Empty(t, m.Stats())
}
