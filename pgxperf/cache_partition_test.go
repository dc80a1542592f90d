package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
)

// Two app instances (two Pools) share one Redis; instance A writes while it
// cannot reach Redis, instance B reads. Every read is checked against the
// writes that had returned before it started: a read that starts after a
// write returned and gets an older value is stale.

const (
	partSetup = `CREATE TABLE part_kv (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO part_kv VALUES (1, 0)`
	partQuery = "SELECT v FROM part_kv WHERE id = $1"
	partWrite = "UPDATE part_kv SET v = $1 WHERE id = 1"
)

// partPool is one app instance: a Pool on dsn whose cache talks to Redis at
// addr with a client of its own, as Pool makes one from RedisURL.
// With eager, the instance comes back to Redis as soon as it answers: a
// client pool large enough never to stop dialing (go-redis pauses dialing
// for a second after PoolSize failed dials) and a breaker cooldown of 20 ms.
func partPool(t *testing.T, dsn, addr, prefix string, eager bool) *pgxperf.Pool {
	t.Helper()
	opt := &redis.Options{Addr: addr, ContextTimeoutEnabled: true}
	qc := querycache.Config{Prefix: prefix}
	if eager {
		opt.PoolSize = 100000
		qc.BreakerCooldown, qc.BreakerMaxCooldown = 20*time.Millisecond, 20*time.Millisecond
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() }) // after the pool's Close
	qc.Client = client
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 6
	p, err := pgxperf.NewFromConfig(context.Background(), &pgxperf.Config{Pool: cfg, Cache: qc, Tracer: noSlowLog})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// partRun drives one writer on A and readers on B (and one on A) and counts
// stale reads, with the time each read started.
type partRun struct {
	t         *testing.T
	a, b      *pgxperf.Pool
	committed atomic.Int64 // the last value whose UPDATE returned
	written   atomic.Int64 // UPDATEs returned
	stop      chan struct{}
	wg        sync.WaitGroup

	mu    sync.Mutex
	reads []partRead
}

type partRead struct {
	inst       string // "A" or "B"
	start, end time.Time
	floor, got int64
}

func (r partRead) stale() bool { return r.got < r.floor }

func startPartRun(t *testing.T, ctx context.Context, a, b *pgxperf.Pool, readersB int, writeEvery time.Duration) *partRun {
	// Warm up: plans made, the entry stored by B and served to it.
	for _, p := range []*pgxperf.Pool{b, a, b} {
		var v int64
		start := time.Now()
		require.NoError(t, p.QueryRow(querycache.WithTTL(ctx, time.Hour), partQuery, 1).Scan(&v))
		require.Zero(t, v)
		t.Logf("warm-up read: %v", time.Since(start))
	}
	require.EqualValues(t, 1, stmtStats(b, "FROM part_kv").Hits)
	r := &partRun{t: t, a: a, b: b, stop: make(chan struct{})}
	r.wg.Go(func() { // the writer, on A
		for v := int64(1); ; v++ {
			select {
			case <-r.stop:
				return
			case <-time.After(writeEvery):
			}
			if _, err := a.Exec(ctx, partWrite, v); err != nil {
				t.Errorf("write %d: %v", v, err)
				return
			}
			r.committed.Store(v)
			r.written.Add(1)
		}
	})
	read := func(inst string, p *pgxperf.Pool) {
		cctx := querycache.WithTTL(ctx, time.Hour)
		var mine []partRead
		defer func() {
			r.mu.Lock()
			r.reads = append(r.reads, mine...)
			r.mu.Unlock()
		}()
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			rd := partRead{inst: inst, floor: r.committed.Load(), start: time.Now()}
			if err := p.QueryRow(cctx, partQuery, 1).Scan(&rd.got); err != nil {
				t.Errorf("read on %s: %v", inst, err)
				return
			}
			rd.end = time.Now()
			mine = append(mine, rd)
			time.Sleep(500 * time.Microsecond)
		}
	}
	for range readersB {
		r.wg.Go(func() { read("B", b) })
	}
	r.wg.Go(func() { read("A", a) })
	return r
}

func (r *partRun) finish() []partRead {
	close(r.stop)
	r.wg.Wait()
	return r.reads
}

// waitDelivered polls A until no invalidation is pending and returns when
// it saw that (at most limit after from).
func waitDelivered(t *testing.T, p *pgxperf.Pool, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if p.Cache().Stats().PendingInvalidations == 0 {
			return time.Now()
		}
		require.True(t, time.Now().Before(deadline), "pending invalidations not delivered within %v: %+v", limit, p.Cache().Stats())
		time.Sleep(time.Millisecond)
	}
}

func countReads(reads []partRead, keep func(partRead) bool) (n, stale int, firstStale *partRead) {
	for i, rd := range reads {
		if !keep(rd) {
			continue
		}
		n++
		if rd.stale() {
			stale++
			if firstStale == nil {
				firstStale = &reads[i]
			}
		}
	}
	return n, stale, firstStale
}

// TestCachePartitionRedisRestartAOF: Redis (appendonly yes, appendfsync
// always) is killed and restarted while instance A writes every 10 ms and
// instance B reads from four goroutines. During the outage neither instance
// reaches Redis: A keeps its invalidations pending and bypasses, B bypasses.
// The restarted Redis has every generation and entry it had acknowledged,
// so the entries A's outage writes made stale are back; A delivers its
// pending invalidations on its next retry (every 50 ms, not the breaker's
// cooldown), and B, which lost Redis too, serves nothing for 200 ms after
// its first answer from Redis. Bound: 0 stale reads, on A or B, over the
// whole run; and B is served hits again after the restart.
func TestCachePartitionRedisRestartAOF(t *testing.T) {
	for _, tc := range []struct {
		name   string
		eagerB bool // B is back on Redis first (it would serve before A delivers, but for the hold)
	}{{"default clients", false}, {"B reconnects at once", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := testenv.StartRedisAOF(t)
			dsn := testenv.NewDatabase(t, testenv.WithSQL(partSetup))
			prefix := fmt.Sprintf("pgxperf-part:%s:%d:", t.Name(), time.Now().UnixNano())
			a := partPool(t, dsn, srv.Addr(), prefix, false)
			b := partPool(t, dsn, srv.Addr(), prefix, tc.eagerB)

			r := startPartRun(t, ctx, a, b, 4, 10*time.Millisecond)
			time.Sleep(700 * time.Millisecond)
			before := cacheTotals(b)
			killed := time.Now()
			srv.Kill()
			writtenAtKill := r.written.Load()
			// The first write after the kill waits for its invalidation up to
			// InvalidateTimeout (1 s); then it is pending, and later writes do not
			// wait.
			require.Eventually(t, func() bool { return a.Cache().Stats().PendingInvalidations > 0 },
				5*time.Second, time.Millisecond, "A's invalidations wait for Redis")
			time.Sleep(500 * time.Millisecond)
			writtenDown := r.written.Load() - writtenAtKill
			pendingDown := a.Cache().Stats().PendingInvalidations
			duringB := cacheTotals(b)
			hitsDown := cacheTotals(b).hits
			restart := time.Now()
			srv.Start() // returns once it answers PING (polled every 20 ms), from its append-only file
			up := time.Now()
			delivered := waitDelivered(t, a, 5*time.Second)
			require.Eventually(t, func() bool { return cacheTotals(b).hits > hitsDown }, 5*time.Second, time.Millisecond)
			firstHitB := time.Now()
			time.Sleep(2500 * time.Millisecond)
			reads := r.finish()
			after := cacheTotals(b)

			nB, staleB, firstB := countReads(reads, func(rd partRead) bool { return rd.inst == "B" })
			nA, staleA, firstA := countReads(reads, func(rd partRead) bool { return rd.inst == "A" })
			nBUp, _, _ := countReads(reads, func(rd partRead) bool { return rd.inst == "B" && rd.start.After(up) })
			t.Logf("redis restart (AOF): down %v; A wrote %d times during the outage (pending %d tables); redis-server started and answering PING %v after the restart began; A's pending invalidations seen delivered %v after it began, B's first hit %v after it began",
				up.Sub(killed).Round(time.Millisecond), writtenDown, pendingDown, up.Sub(restart).Round(time.Millisecond),
				delivered.Sub(restart).Round(time.Millisecond), firstHitB.Sub(restart).Round(time.Millisecond))
			t.Logf("redis restart (AOF): reads on B %d (after the restart %d), stale %d; reads on A %d, stale %d; B before the kill hits %d, during the outage +hits %d +bypasses %d, after the restart +hits %d +misses %d +stale entries found %d; writes %d",
				nB, nBUp, staleB, nA, staleA, before.hits, duringB.hits-before.hits, duringB.bypasses-before.bypasses,
				after.hits-duringB.hits, after.misses-duringB.misses, after.stale-duringB.stale, r.written.Load())
			if firstB != nil {
				t.Errorf("first stale read on B: started %v after the restart, got %d, a write of %d had returned", firstB.start.Sub(up), firstB.got, firstB.floor)
			}
			if firstA != nil {
				t.Errorf("first stale read on A: started %v after the restart, got %d, a write of %d had returned", firstA.start.Sub(up), firstA.got, firstA.floor)
			}
			require.Positive(t, writtenDown, "A wrote during the outage")
			require.Positive(t, pendingDown, "A's invalidations waited for Redis")
			require.Zero(t, staleB, "B never serves a row older than a write that had returned")
			require.Zero(t, staleA)
			require.Positive(t, duringB.bypasses-before.bypasses, "B bypassed while Redis was down")
			require.Positive(t, after.hits-duringB.hits, "B is served hits again after the restart")
			require.Less(t, delivered.Sub(up), time.Second, "A's pending invalidations land well before the breaker's cooldown")
			require.True(t, firstHitB.After(delivered), "B served nothing from Redis before A's invalidations landed")
			st := a.Cache().Stats()
			require.Zero(t, st.PendingInvalidations)
			require.Equal(t, querycache.BreakerClosed, st.Breaker)
		})
	}
}

// cutProxy is a TCP proxy between one instance and Redis that the test can
// cut and restore. Cut "reset" closes every connection and refuses new ones
// (a peer that resets); cut "blackhole" keeps connections open and forwards
// nothing (a network that drops packets: calls time out) until Restore,
// which forwards what was held.
type cutProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	cond  *sync.Cond
	mode  string // "", "reset", "blackhole"
	conns map[net.Conn]struct{}
	done  bool
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	wg.Go(func() { p.accept(&wg) })
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		p.done, p.mode = true, ""
		for c := range p.conns {
			_ = c.Close()
		}
		p.cond.Broadcast()
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) Cut(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode == "reset" {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *cutProxy) Restore() {
	p.mu.Lock()
	p.mode = ""
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *cutProxy) accept(wg *sync.WaitGroup) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.mode == "reset" || p.done {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.mu.Unlock()
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		wg.Go(func() { p.pipe(up, c) })
		wg.Go(func() { p.pipe(c, up) })
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer func() {
		_ = src.Close()
		_ = dst.Close()
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.mode == "blackhole" && !p.done {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				return
			}
			return
		}
	}
}

// TestCachePartitionCutOneInstance: the network between instance A and
// Redis is cut (A talks to Redis through a proxy of the test's; B talks to
// Redis directly) while A writes. A keeps its invalidations pending and
// bypasses the cache; B still reaches Redis and keeps serving the entries
// A's writes made stale: that is the partition window, which no instance
// can close (B cannot know what A could not tell Redis). Once the proxy is
// restored, A's pending invalidations land within about one retry interval
// plus one attempt (measured; well under a second, not the breaker's 30 s
// cooldown), and no read on B that starts after that is stale.
func TestCachePartitionCutOneInstance(t *testing.T) {
	for _, mode := range []string{"reset", "blackhole"} {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t)
			srv := testenv.StartRedis(t)
			proxy := startCutProxy(t, srv.Addr())
			dsn := testenv.NewDatabase(t, testenv.WithSQL(partSetup))
			prefix := fmt.Sprintf("pgxperf-part:%s:%d:", t.Name(), time.Now().UnixNano())
			a := partPool(t, dsn, proxy.Addr(), prefix, false)
			b := partPool(t, dsn, srv.Addr(), prefix, false)

			r := startPartRun(t, ctx, a, b, 3, 25*time.Millisecond)
			time.Sleep(500 * time.Millisecond)
			proxy.Cut(mode)
			cut := time.Now()
			require.Eventually(t, func() bool { return a.Cache().Stats().PendingInvalidations > 0 },
				5*time.Second, time.Millisecond, "A's invalidations wait for Redis")
			// Long enough for a breaker's backed-off cooldown to grow past
			// the delivery bound (a cut of 700 ms did not tell the old
			// cooldown-driven retry from the fixed-interval one).
			cutFor := 4 * time.Second
			if testing.Short() {
				cutFor = 700 * time.Millisecond
			}
			time.Sleep(cutFor)
			beforeRestore := cacheTotals(b)
			proxy.Restore()
			restored := time.Now()
			delivered := waitDelivered(t, a, 5*time.Second)
			time.Sleep(1500 * time.Millisecond)
			reads := r.finish()
			after := cacheTotals(b)

			latency := delivered.Sub(restored)
			nCut, staleCut, _ := countReads(reads, func(rd partRead) bool {
				return rd.inst == "B" && rd.start.After(cut) && rd.start.Before(delivered)
			})
			nAfter, staleAfter, first := countReads(reads, func(rd partRead) bool { return rd.inst == "B" && rd.start.After(delivered) })
			nA, staleA, _ := countReads(reads, func(rd partRead) bool { return rd.inst == "A" })
			var slowestA time.Duration // a read on A during the cut: it must not wait for the invalidation's retry
			for _, rd := range reads {
				if rd.inst == "A" && rd.start.After(cut) && rd.start.Before(restored) {
					slowestA = max(slowestA, rd.end.Sub(rd.start))
				}
			}
			t.Logf("cut A↔redis (%s): A's pending invalidations landed %v after the restore; B during the partition window (cut → delivery, %v): %d reads, %d stale (the unavoidable window); B after delivery: %d reads, %d stale, +hits %d; A: %d reads, %d stale; writes %d",
				mode, latency.Round(time.Millisecond), delivered.Sub(cut).Round(time.Millisecond), nCut, staleCut,
				nAfter, staleAfter, after.hits-beforeRestore.hits, nA, staleA, r.written.Load())
			if first != nil {
				t.Errorf("first stale read on B after delivery: started %v after it, got %d, a write of %d had returned",
					first.start.Sub(delivered), first.got, first.floor)
			}
			require.Positive(t, staleCut, "during the partition B serves what A's writes made stale (the window the docs state)")
			require.Zero(t, staleAfter, "no stale read on B once A's invalidations landed")
			require.Zero(t, staleA, "A bypasses the cache while its invalidations are pending")
			t.Logf("cut A↔redis (%s): slowest read on A during the cut %v", mode, slowestA)
			require.Less(t, slowestA, 500*time.Millisecond, "no read waits for InvalidateTimeout (1 s): retries run off the caller's goroutine")
			require.Less(t, latency, 500*time.Millisecond, "pending invalidations land within a short bound after the restore")
			require.Positive(t, after.hits-beforeRestore.hits, "B is served hits again")
			require.Equal(t, querycache.BreakerClosed, a.Cache().BreakerState())
		})
	}
}

// ---- session state that the key does not hold ----

// sessPool is a Pool with one connection, so that a SET deterministically
// applies to the statements after it.
func sessPool(t *testing.T, dsn string, edit ...func(*pgxpool.Config)) *pgxperf.Pool {
	t.Helper()
	rdb := evRedis(t)
	return evPool(t, dsn, querycache.Config{Client: rdb, Prefix: evPrefix(t, rdb)},
		append([]func(*pgxpool.Config){func(c *pgxpool.Config) { c.MaxConns = 1 }}, edit...)...)
}

// TestCacheSessionState: a statement that sets session state on a pooled
// connection (SET search_path, set_config(…, false), SET TIME ZONE, SET
// DateStyle, SET IntervalStyle, SET ROLE, a temporary table) changes what
// the same SQL returns there. The cache must not serve the entry made
// under the pool's session while any connection carries such state (a
// bypass), and serves hits again once the state is gone (RESET ALL, DISCARD
// ALL, RESET of the setting, the connection closed).
func TestCacheSessionState(t *testing.T) {
	ctx := testCtx(t)
	roles := evRoles(t, 1)
	limited := roles[0]
	dsn := testenv.NewDatabase(t, testenv.WithSQL(fmt.Sprintf(`CREATE TABLE sp_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO sp_items VALUES (1, 'public');
CREATE SCHEMA other;
CREATE TABLE other.sp_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO other.sp_items VALUES (1, 'other');
GRANT USAGE ON SCHEMA other TO %[1]s;
CREATE TABLE sp_events (id int PRIMARY KEY, ts timestamptz NOT NULL, d date NOT NULL, span interval NOT NULL);
INSERT INTO sp_events VALUES (1, '2024-03-01 12:00:00+00', '2024-03-01', '1 day 2 hours');
CREATE TABLE sp_secret (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO sp_secret VALUES (1, 'secret')`, pgx.Identifier{limited}.Sanitize())))
	role := pgx.Identifier{limited}.Sanitize()

	const (
		qItems  = "SELECT name FROM sp_items WHERE id = $1"
		qTS     = "SELECT ts::text FROM sp_events WHERE id = $1"
		qDate   = "SELECT d::text FROM sp_events WHERE id = $1"
		qSpan   = "SELECT span::text FROM sp_events WHERE id = $1"
		qSecret = "SELECT name FROM sp_secret WHERE id = $1"
	)
	for _, tc := range []struct {
		name     string
		query    string
		set      []string // run through the Pool, in order
		want     string   // what the query returns on the connection after set
		wantCode string   // or the SQLSTATE it fails with
		reset    []string // statements after which caching resumes
		still    []string // statements that leave the state in place (run before reset)
		close    bool     // resume by closing the connection instead
		// describe: DISCARD ALL deallocates pgx's prepared statements, so
		// those cases run with QueryExecModeCacheDescribe (unnamed ones).
		describe bool
	}{
		{name: "SET search_path", query: qItems, set: []string{"SET search_path TO other, public"}, want: "other", reset: []string{"RESET ALL"}},
		{name: "SET search_path, DISCARD ALL", query: qItems, set: []string{"SET search_path = other, public"}, want: "other", reset: []string{"DISCARD ALL"}, describe: true},
		{name: "SET search_path, RESET search_path", query: qItems, set: []string{"SET search_path TO other"}, want: "other",
			still: []string{"RESET TimeZone"}, reset: []string{"RESET search_path"}},
		{name: "SET SCHEMA", query: qItems, set: []string{"SET SCHEMA 'other'"}, want: "other", reset: []string{"SET search_path TO DEFAULT"}},
		{name: "set_config search_path false", query: qItems, set: []string{"SELECT set_config('search_path', 'other, public', false)"}, want: "other", reset: []string{"RESET ALL"}},
		{name: "set_config in a batch-less multi-statement text", query: qItems,
			set: []string{"SELECT 1; SELECT pg_catalog.set_config('search_path', 'other', false)"}, want: "other", reset: []string{"RESET ALL"}},
		{name: "SET search_path, connection closed", query: qItems, set: []string{"SET search_path TO other, public"}, want: "other", close: true},
		{name: "SET TIME ZONE", query: qTS, set: []string{"SET TIME ZONE 'America/New_York'"}, want: "2024-03-01 07:00:00-05", reset: []string{"RESET ALL"}},
		{name: "SET timezone =", query: qTS, set: []string{"SET timezone = 'Asia/Tokyo'"}, want: "2024-03-01 21:00:00+09", reset: []string{"SET TIME ZONE DEFAULT"}},
		{name: "set_config TimeZone false", query: qTS, set: []string{"SELECT set_config('TimeZone', 'Asia/Tokyo', false)"}, want: "2024-03-01 21:00:00+09", reset: []string{"DISCARD ALL"}, describe: true},
		{name: "SET DateStyle", query: qDate, set: []string{"SET DateStyle TO German"}, want: "01.03.2024", reset: []string{"RESET ALL"}},
		{name: "SET IntervalStyle", query: qSpan, set: []string{"SET IntervalStyle = iso_8601"}, want: "P1DT2H", reset: []string{"RESET IntervalStyle"}},
		{name: "SET ROLE without the grant", query: qSecret, set: []string{"SET ROLE " + role}, wantCode: "42501",
			still: []string{"RESET ALL"}, reset: []string{"RESET ROLE"}},
		{name: "SET ROLE, DISCARD ALL", query: qSecret, set: []string{"SET ROLE " + role}, wantCode: "42501", reset: []string{"DISCARD ALL"}, describe: true},
		{name: "SET SESSION AUTHORIZATION", query: qSecret, set: []string{"SET SESSION AUTHORIZATION " + role}, wantCode: "42501",
			still: []string{"RESET ALL"}, reset: []string{"RESET SESSION AUTHORIZATION"}},
		{name: "temporary table shadows the table", query: qItems,
			set: []string{"CREATE TEMP TABLE sp_items (id int, name text)", "INSERT INTO sp_items VALUES (1, 'temp')"}, want: "temp",
			still: []string{"RESET ALL"}, reset: []string{"DISCARD TEMP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sessPool(t, dsn, func(c *pgxpool.Config) {
				if tc.describe {
					c.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
				}
			})
			cctx := querycache.WithTTL(ctx, time.Hour)
			read := func() (string, error) {
				var s string
				err := p.QueryRow(cctx, tc.query, 1).Scan(&s)
				return s, err
			}
			var base string
			require.NoError(t, p.QueryRow(ctx, tc.query, 1).Scan(&base)) // uncached: the pool's session
			for range 2 {
				got, err := read()
				require.NoError(t, err)
				require.Equal(t, base, got)
			}
			st0 := cacheStats(t, p, tc.query)
			require.EqualValues(t, 1, st0.Hits, "cached before the SET: %+v", st0)

			for _, s := range tc.set {
				_, err := p.Exec(ctx, s)
				require.NoError(t, err, s)
			}
			check := func(when string) {
				t.Helper()
				for range 2 {
					got, err := read()
					if tc.wantCode != "" {
						var pgErr *pgconn.PgError
						require.ErrorAs(t, err, &pgErr, "%s: got %q, the cached rows of another session", when, got)
						require.Equal(t, tc.wantCode, pgErr.Code)
						continue
					}
					require.NoError(t, err)
					require.Equal(t, tc.want, got, "%s: the connection's session, not the cached entry", when)
				}
			}
			check("after " + tc.set[len(tc.set)-1])
			st1 := cacheStats(t, p, tc.query)
			require.Equal(t, st0.Hits, st1.Hits, "no hit while the connection carries session state: %+v", st1)
			require.Equal(t, st0.Stores, st1.Stores, "nothing stored: %+v", st1)
			require.Contains(t, st1.LastBypass, "session state")
			require.Equal(t, 1, bridge.QueryCacheSessionConns(p.Cache()))
			for _, s := range tc.still {
				_, err := p.Exec(ctx, s)
				require.NoError(t, err, s)
				check("after " + s)
			}

			if tc.close {
				p.Reset() // closes the pool's connections
				require.Eventually(t, func() bool { return bridge.QueryCacheSessionConns(p.Cache()) == 0 }, 5*time.Second, time.Millisecond)
			}
			for _, s := range tc.reset {
				_, err := p.Exec(ctx, s)
				require.NoError(t, err, s)
			}
			require.Equal(t, 0, bridge.QueryCacheSessionConns(p.Cache()))
			for range 2 {
				got, err := read()
				require.NoError(t, err)
				require.Equal(t, base, got, "back to the pool's session")
			}
			st2 := cacheStats(t, p, tc.query)
			require.Greater(t, st2.Hits, st1.Hits, "caching resumed: %+v", st2)
			t.Logf("%s: pool's session %q, after the SET %q/%s (bypasses %d, LastBypass %q), hits again after %v",
				tc.name, base, tc.want, tc.wantCode, st1.Bypasses-st0.Bypasses, st1.LastBypass, append(tc.reset, map[bool]string{true: "close"}[tc.close]))
		})
	}
}

// TestCacheSessionStateNeutral: settings that do not change results
// (statement_timeout, application_name…), SET LOCAL and set_config(…, true)
// leave the cache on.
func TestCacheSessionStateNeutral(t *testing.T) {
	ctx := testCtx(t)
	dsn := testenv.NewDatabase(t, testenv.WithSQL(`CREATE TABLE sp_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO sp_items VALUES (1, 'public')`))
	p := sessPool(t, dsn)
	cctx := querycache.WithTTL(ctx, time.Hour)
	const q = "SELECT name FROM sp_items WHERE id = $1"
	var s string
	require.NoError(t, p.QueryRow(cctx, q, 1).Scan(&s))
	for _, stmt := range []string{
		"SET statement_timeout = '5s'",
		"SET application_name TO 'x'",
		"SELECT set_config('search_path', 'pg_catalog', true)",
		"SET LOCAL search_path TO pg_catalog",
	} {
		_, err := p.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
		before := cacheStats(t, p, "FROM sp_items").Hits
		require.NoError(t, p.QueryRow(cctx, q, 1).Scan(&s))
		require.Equal(t, "public", s)
		require.Equal(t, before+1, cacheStats(t, p, "FROM sp_items").Hits, "still a hit after %s", stmt)
		require.Zero(t, bridge.QueryCacheSessionConns(p.Cache()), stmt)
	}
}
