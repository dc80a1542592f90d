package pgxperf_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
)

// A sick Redis (hung with SIGSTOP, or dead: connection refused) must never
// make a caller wait longer than the cache's timeouts: a read at most the
// lookup timeout (then it goes to the database), a write at most the
// invalidation timeout, and a refused connection not even that. The Pool
// builds the cache's client from RedisURL, as in production.

const (
	sickSetup = `CREATE TABLE sick_kv (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO sick_kv SELECT g, g * 10 FROM generate_series(0, 50) g`
	sickQuery = "SELECT v FROM sick_kv WHERE id = $1"
	sickWrite = "UPDATE sick_kv SET v = $1 WHERE id = 0"
	sickKeys  = 50

	// The cache's defaults, which the tests rely on.
	sickLookupTimeout = 100 * time.Millisecond
	sickInvalTimeout  = time.Second
	// Slack for a slow machine (two cores, -race): scheduling, the database.
	sickMargin = 150 * time.Millisecond
)

// sickPool returns a Pool whose query cache talks to srv through the client
// the Pool makes from RedisURL or, with own, through a client of the
// application's with go-redis's default options (which does not honour
// context deadlines on socket reads, and retries).
func sickPool(t *testing.T, srv *testenv.RedisServer, own bool) *pgxperf.Pool {
	t.Helper()
	dsn := testenv.NewDatabase(t, testenv.WithSQL(sickSetup))
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 16
	opts := pgxperf.Config{
		Cache:  querycache.Config{Prefix: fmt.Sprintf("pgxperf-sick:%s:%d:", t.Name(), time.Now().UnixNano())},
		Tracer: noSlowLog,
	}
	if own {
		client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = client.Close() }) // after the pool's Close
		opts.Cache.Client = client
	} else {
		opts.RedisURL = "redis://" + srv.Addr()
	}
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(context.Background(), &opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	// Open the connections the run will use, and prepare its statements on
	// them: dialing Postgres and the first statements on a connection take
	// longer under -race than the reads' bound.
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			ctx := querycache.Skip(context.Background())
			for id := 0; id <= sickKeys; id++ {
				var v int64
				if err := p.QueryRow(ctx, sickQuery, id).Scan(&v); err != nil {
					t.Errorf("warm-up read: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	return p
}

// sickRun drives cached reads from several goroutines and a writer that
// updates row 0 every few milliseconds. Reads of rows 1..50 must see their
// constant value, reads of row 0 at least the last value whose UPDATE had
// returned when the read started.
type sickRun struct {
	t         *testing.T
	p         *pgxperf.Pool
	committed atomic.Int64
	stop      chan struct{}
	wg        sync.WaitGroup

	mu          sync.Mutex
	reads       []time.Duration
	writes      []time.Duration
	slowReads   []string
	stale, errs atomic.Int64
}

func startSickRun(t *testing.T, ctx context.Context, p *pgxperf.Pool, readers int, writeEvery time.Duration) *sickRun {
	cctx := querycache.WithTTL(ctx, time.Hour)
	for id := 0; id <= sickKeys; id++ { // plans made and every key stored
		var v int64
		require.NoError(t, p.QueryRow(cctx, sickQuery, id).Scan(&v))
		require.EqualValues(t, id*10, v)
	}
	r := &sickRun{t: t, p: p, stop: make(chan struct{})}
	r.wg.Go(func() {
		var mine []time.Duration
		defer func() {
			r.mu.Lock()
			r.writes = append(r.writes, mine...)
			r.mu.Unlock()
		}()
		for v := int64(1); ; v++ {
			select {
			case <-r.stop:
				return
			case <-time.After(writeEvery):
			}
			start := time.Now()
			if _, err := p.Exec(ctx, sickWrite, v); err != nil {
				r.errs.Add(1)
				t.Errorf("write %d: %v", v, err)
				return
			}
			mine = append(mine, time.Since(start))
			r.committed.Store(v)
		}
	})
	for g := range readers {
		r.wg.Go(func() {
			var mine []time.Duration
			defer func() {
				r.mu.Lock()
				r.reads = append(r.reads, mine...)
				r.mu.Unlock()
			}()
			for i := 0; ; i++ {
				select {
				case <-r.stop:
					return
				default:
				}
				id := (g*7 + i*3) % (sickKeys + 1)
				floor := r.committed.Load()
				start := time.Now()
				var v int64
				err := p.QueryRow(cctx, sickQuery, id).Scan(&v)
				d := time.Since(start)
				mine = append(mine, d)
				switch {
				case err != nil:
					r.errs.Add(1)
					t.Errorf("read of %d: %v", id, err)
					return
				case id == 0 && v < floor:
					r.stale.Add(1)
					t.Errorf("stale read of row 0: %d, a write of %d had returned", v, floor)
				case id != 0 && v != int64(id*10):
					r.stale.Add(1)
					t.Errorf("read of %d: %d", id, v)
				}
				if d > sickLookupTimeout+sickMargin {
					r.mu.Lock()
					r.slowReads = append(r.slowReads, fmt.Sprintf("%v at %s", d, start.Format("15:04:05.000")))
					r.mu.Unlock()
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	return r
}

func (r *sickRun) finish() (reads, writes []time.Duration) {
	close(r.stop)
	r.wg.Wait()
	slices.Sort(r.reads)
	slices.Sort(r.writes)
	return r.reads, r.writes
}

func maxOf(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[len(d)-1]
}

// TestCacheSickRedisStopped: Redis hangs (SIGSTOP) for 3 s while 8
// goroutines read through the cache and a writer updates every 20 ms. No
// read waits longer than the lookup timeout (plus slack), no write longer
// than the invalidation timeout, no read is stale, and the cache serves hits
// again once Redis is back.
func TestCacheSickRedisStopped(t *testing.T) {
	for _, own := range []bool{false, true} {
		name := "RedisURL"
		if own {
			name = "ClientDefaults"
		}
		t.Run(name, func(t *testing.T) { testCacheSickRedisStopped(t, own) })
	}
}

func testCacheSickRedisStopped(t *testing.T, own bool) {
	ctx := testCtx(t)
	srv := testenv.StartRedis(t)
	p := sickPool(t, srv, own)
	r := startSickRun(t, ctx, p, 8, 20*time.Millisecond)

	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	srv.Signal(syscall.SIGSTOP)
	time.Sleep(3 * time.Second)
	srv.Signal(syscall.SIGCONT)
	resumed := time.Now()
	// Back to normal: every pending invalidation delivered, hits again.
	before := stmtStats(p, "FROM sick_kv").Hits
	require.Eventually(t, func() bool {
		return p.Cache().Stats().PendingInvalidations == 0 && stmtStats(p, "FROM sick_kv").Hits > before+10
	}, 10*time.Second, 10*time.Millisecond, "the cache serves hits again after Redis resumed")
	reads, writes := r.finish()
	st := stmtStats(p, "FROM sick_kv")
	t.Logf("redis stopped %s for %v; back to hits %v after SIGCONT", stopped.Format("15:04:05.000"), resumed.Sub(stopped), time.Since(resumed))
	t.Logf("%d reads: p50 %v p99 %v max %v; %d writes: p50 %v p99 %v max %v; hits %d, bypasses %d (last %q), breaker %v",
		len(reads), pct(reads, .5), pct(reads, .99), maxOf(reads), len(writes), pct(writes, .5), pct(writes, .99), maxOf(writes),
		st.Hits, st.Bypasses, st.LastBypass, p.Cache().BreakerState())
	require.Zero(t, r.errs.Load(), "no call failed")
	require.Zero(t, r.stale.Load(), "no read was stale")
	require.NotEmpty(t, reads)
	require.Empty(t, r.slowReads, "reads slower than the lookup timeout %v + %v", sickLookupTimeout, sickMargin)
	require.LessOrEqual(t, maxOf(writes), sickInvalTimeout+sickMargin, "no write waits longer than the invalidation timeout")
}

// TestCacheSickRedisKilled: Redis is dead (connection refused) and the
// breaker still closed. A write returns in well under the invalidation
// timeout, and so do reads; nothing is stale, during the outage or after
// Redis restarts (with the entries it had, but for the outage's writes).
func TestCacheSickRedisKilled(t *testing.T) {
	ctx := testCtx(t)
	srv := testenv.StartRedis(t)
	p := sickPool(t, srv, false)
	cctx := querycache.WithTTL(ctx, time.Hour)
	read := func(id int) (int64, time.Duration) {
		start := time.Now()
		var v int64
		require.NoError(t, p.QueryRow(cctx, sickQuery, id).Scan(&v))
		return v, time.Since(start)
	}
	for id := 0; id <= sickKeys; id++ {
		v, _ := read(id)
		require.EqualValues(t, id*10, v)
	}
	v, _ := read(0)
	require.Zero(t, v)
	require.Positive(t, stmtStats(p, "FROM sick_kv").Hits)

	const limit = 200 * time.Millisecond
	for round := range 3 {
		srv.Kill()
		require.Equal(t, querycache.BreakerClosed, p.Cache().BreakerState(), "round %d", round)
		// The first write after the kill finds Redis refusing connections.
		start := time.Now()
		_, err := p.Exec(ctx, sickWrite, 1000+round)
		took := time.Since(start)
		require.NoError(t, err)
		t.Logf("round %d: write with redis dead took %v (breaker %v)", round, took, p.Cache().BreakerState())
		require.Less(t, took, limit, "round %d: a write waits for a refused connection", round)
		var slow []time.Duration
		for id := 0; id <= 10; id++ {
			v, d := read(id)
			if id == 0 {
				require.EqualValues(t, 1000+round, v, "round %d: stale read after the write", round)
			} else {
				require.EqualValues(t, id*10, v)
			}
			if d >= limit {
				slow = append(slow, d)
			}
		}
		require.Empty(t, slow, "round %d: reads with redis dead", round)
		srv.Start()
		// Delivered, then served from the cache again, never stale.
		require.Eventually(t, func() bool {
			v, _ := read(0)
			require.EqualValues(t, 1000+round, v, "round %d: stale read after the restart", round)
			return p.Cache().Stats().PendingInvalidations == 0 && p.Cache().BreakerState() == querycache.BreakerClosed
		}, 10*time.Second, 5*time.Millisecond)
		// Wait until the client dials again (go-redis pauses dialing after
		// repeated failures) and a read is a hit.
		require.Eventually(t, func() bool {
			h := stmtStats(p, "FROM sick_kv").Hits
			v, _ := read(0)
			require.EqualValues(t, 1000+round, v)
			return stmtStats(p, "FROM sick_kv").Hits > h
		}, 10*time.Second, 10*time.Millisecond, "round %d: hits again", round)
	}
}

// TestCacheCatalogAcquireTimeout: the cache's catalog lookups take their
// connection as the Pool's statements do, within Config.AcquireTimeout.
// With the pool's only connection held, a cached read of a statement not
// planned yet fails with ErrAcquireTimeout after the acquire timeout, as an
// uncached one does, not after the catalog lookup's own 2 s and then the
// acquire timeout again.
func TestCacheCatalogAcquireTimeout(t *testing.T) {
	ctx := testCtx(t)
	const acquireTimeout = 100 * time.Millisecond
	dsn := testenv.NewDatabase(t, testenv.WithSQL(sickSetup))
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 1
	p, err := pgxperf.NewFromConfig(context.Background(), &pgxperf.Config{Pool: cfg,
		RedisURL:       "redis://" + testenv.RequireRedis(t),
		Cache:          querycache.Config{Prefix: fmt.Sprintf("pgxperf-sick:%s:%d:", t.Name(), time.Now().UnixNano())},
		AcquireTimeout: acquireTimeout,
		Tracer:         noSlowLog,
	})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	cctx := querycache.WithTTL(ctx, time.Hour)

	held, err := p.Acquire(ctx)
	require.NoError(t, err)
	t.Cleanup(held.Release) // before the pool's Close, should the test fail
	start := time.Now()
	var v int64
	err = p.QueryRow(cctx, sickQuery, 3).Scan(&v)
	took := time.Since(start)
	t.Logf("cached read with the pool exhausted: %v: %v", took, err)
	require.ErrorIs(t, err, pgxperf.ErrAcquireTimeout)
	require.Less(t, took, acquireTimeout+300*time.Millisecond)
	held.Release()

	// Once a connection is free the statement is planned, stored and hit.
	// (A store is skipped when the lookup left it less than half of the
	// read's Redis budget, which a loaded machine can make happen: retry.)
	for i := 0; i < 20 && stmtStats(p, "FROM sick_kv").Hits == 0; i++ {
		require.NoError(t, p.QueryRow(cctx, sickQuery, 3).Scan(&v))
		require.EqualValues(t, 30, v)
	}
	require.Positive(t, stmtStats(p, "FROM sick_kv").Hits)
}
