package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
)

// These tests break servers, so each starts its own cluster
// (testenv.StartCluster) and never touches the shared ones.

// failoverInterval is the monitor's CheckInterval in these tests. Each check
// waits a random time in [interval, 2×interval), so "one monitor interval"
// below means one such period: at most 2×failoverInterval.
const failoverInterval = 100 * time.Millisecond

// logWriter sends the router's state changes to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// clusterPool creates the items table (100 rows) on the cluster's primary,
// waits for the replicas to replay it, and returns a Pool over the primary
// and every replica, once the monitor finds them all online.
func clusterPool(t *testing.T, c *testenv.Cluster, routing replica.Config, maxConns int32) *pgxperf.Pool {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, c.PrimaryDSN())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE items (id bigserial PRIMARY KEY, v text NOT NULL);
		INSERT INTO items (v) SELECT 'seed' || g FROM generate_series(1, 100) g`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	for i := range c.Replicas() {
		c.WaitReplayed(i)
	}

	cfg, err := pgxpool.ParseConfig(c.PrimaryDSN())
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	if routing.CheckInterval == 0 {
		routing.CheckInterval = failoverInterval
	}
	opts := pgxperf.Config{
		Routing: routing,
		Logger:  slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for i := range c.Replicas() {
		opts.ReplicaURLs = append(opts.ReplicaURLs, c.ReplicaDSN(i))
	}
	opts.Tracer.SlowThreshold = -1
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(ctx, &opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	require.Eventually(t, func() bool {
		for _, n := range p.Router().Nodes()[1:] {
			if n.State != replica.StateOnline {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "every replica online")
	return p
}

// routed returns the number of statements routed to each node (primary first).
func routed(p *pgxperf.Pool) []int64 {
	var out []int64
	for _, n := range p.Report().Nodes {
		out = append(out, n.Routed)
	}
	return out
}

func minus(a, b []int64) []int64 {
	out := slices.Clone(a)
	for i := range out {
		out[i] -= b[i]
	}
	return out
}

// nodesText formats Report().Nodes for the log.
func nodesText(p *pgxperf.Pool) string {
	var sb strings.Builder
	for _, n := range p.Report().Nodes {
		fmt.Fprintf(&sb, "\n\t%-28s %-8s routed=%-6d retries=%-4d errors=%-4d lag=%dB/%v",
			n.Name, n.State, n.Routed, n.Retries, n.Errors, n.LagBytes, n.Lag.Round(time.Millisecond))
	}
	return sb.String()
}

// waitState waits until replica i (0-based) has the state and returns how
// long that took.
func waitState(t *testing.T, p *pgxperf.Pool, i int, want replica.State, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	state := func() replica.State { return p.Router().Nodes()[1+i].State }
	for state() != want {
		if time.Since(start) > within {
			t.Fatalf("replica %d still %v after %v, want %v:%s", i, state(), within, want, nodesText(p))
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func intervals(d time.Duration) string {
	return fmt.Sprintf("%.2f×CheckInterval", float64(d)/float64(failoverInterval))
}

// Read-your-writes while the replica's replay is paused: every read of a
// session after its write sees the write (so it is served by the primary),
// and the session's reads go back to the replica once replay resumes and
// the replica has replayed past the session's position.
//
// The control reads carry no session: under the default pool-wide
// read-your-writes they too see every write (the primary serves them while
// the replica is behind); under SessionConsistency they go to the paused replica and miss
// the write.
func TestFailoverReadYourWritesWithReplayPaused(t *testing.T) {
	for _, sessionOnly := range []bool{false, true} {
		name := map[bool]string{false: "pool", true: "session"}[sessionOnly]
		t.Run(name, func(t *testing.T) { testReadYourWritesWithReplayPaused(t, sessionOnly) })
	}
}

func testReadYourWritesWithReplayPaused(t *testing.T, sessionOnly bool) {
	c := testenv.StartCluster(t, 1)
	p := clusterPool(t, c, replica.Config{SessionConsistency: sessionOnly}, 4)
	ctx := testCtx(t)
	require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"), "reads go to the replica")

	c.PauseReplay(0)
	sess := replica.NewSession()
	sctx := replica.WithSession(ctx, sess)
	before := routed(p)
	const cycles = 1000
	stale, staleWithoutSession := 0, 0
	start := time.Now()
	for i := range cycles {
		v := fmt.Sprintf("ryw-%d", i)
		var id int64
		if i%2 == 0 {
			_, err := p.Exec(sctx, "INSERT INTO items (v) VALUES ($1)", v)
			require.NoError(t, err)
		} else {
			// A write through Query: the position is recorded when its rows close.
			require.NoError(t, p.QueryRow(sctx, "INSERT INTO items (v) VALUES ($1) RETURNING id", v).Scan(&id))
		}
		var n int
		var rec bool
		require.NoError(t, p.QueryRow(sctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = $1", v).Scan(&n, &rec))
		if n != 1 {
			stale++
			if stale <= 5 {
				t.Errorf("cycle %d: the session read %d rows of its write (served by a node in recovery: %v)", i, n, rec)
			}
		}
		if i%100 == 99 {
			// Control: outside the session the replica serves, and it is behind.
			require.NoError(t, p.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = $1", v).Scan(&n, &rec))
			if sessionOnly {
				require.True(t, rec, "a read without a session goes to the replica")
			} else {
				require.False(t, rec, "a read after a write goes to the primary while the replica is behind")
			}
			if n == 0 {
				staleWithoutSession++
			}
		}
	}
	elapsed := time.Since(start)
	during := minus(routed(p), before)
	t.Logf("read-your-writes, replay paused: %d write-then-read cycles in %v (%.0f/s), stale reads %d; "+
		"control reads outside the session that missed the write (replica behind): %d/%d; routed during the cycles: primary %d, replica %d%s",
		cycles, elapsed.Round(time.Millisecond), cycles/elapsed.Seconds(), stale, staleWithoutSession, cycles/100,
		during[0], during[1], nodesText(p))
	require.Zero(t, stale, "stale reads")
	if sessionOnly {
		require.Equal(t, cycles/100, staleWithoutSession, "the paused replica really is behind")
	} else {
		require.Zero(t, staleWithoutSession, "stale reads without a session under pool-wide read-your-writes")
	}

	// CopyFrom is a write too: the session's next read must see its rows.
	t.Run("CopyFrom", func(t *testing.T) {
		cs := replica.NewSession()
		cctx := replica.WithSession(ctx, cs)
		n, err := p.CopyFrom(cctx, pgx.Identifier{"items"}, []string{"v"}, pgx.CopyFromRows([][]any{{"ryw-copy"}}))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		var rec bool
		require.NoError(t, p.QueryRow(cctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = 'ryw-copy'").Scan(&n, &rec))
		t.Logf("session read after CopyFrom: %d rows, served by a node in recovery: %v, session token %q", n, rec, cs.Token())
		require.EqualValues(t, 1, n, "stale read after CopyFrom in a session")
	})

	// A write through QueryRow whose Scan fails on the client side has still
	// been committed: the session's next read must see it.
	t.Run("QueryRowScanError", func(t *testing.T) {
		ss := replica.NewSession()
		sctx := replica.WithSession(ctx, ss)
		var wrong bool // id is a bigint: Scan fails after the INSERT committed
		err := p.QueryRow(sctx, "INSERT INTO items (v) VALUES ('ryw-scan') RETURNING id").Scan(&wrong)
		require.Error(t, err)
		var n int
		var rec bool
		require.NoError(t, p.QueryRow(replica.ForcePrimary(ctx), "SELECT count(*), false FROM items WHERE v = 'ryw-scan'").Scan(&n, &rec))
		require.Equal(t, 1, n, "the INSERT was committed")
		require.NoError(t, p.QueryRow(sctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = 'ryw-scan'").Scan(&n, &rec))
		t.Logf("session read after a write whose Scan failed (%v): %d rows, served by a node in recovery: %v, session token %q", err, n, rec, ss.Token())
		require.Equal(t, 1, n, "stale read after a committed write whose Scan failed")
	})

	// Resume: the session's reads return to the replica once it has caught up.
	c.ResumeReplay(0)
	resumed := time.Now()
	c.WaitReplayed(0)
	caughtUp := time.Since(resumed)
	var back time.Duration
	for {
		var n int
		var rec bool
		require.NoError(t, p.QueryRow(sctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = $1",
			fmt.Sprintf("ryw-%d", cycles-1)).Scan(&n, &rec))
		require.Equal(t, 1, n, "the last write, read in the session")
		if rec {
			back = time.Since(resumed)
			break
		}
		if time.Since(resumed) > 10*time.Second {
			t.Fatalf("session reads still on the primary 10 s after resuming replay:%s", nodesText(p))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("after pg_wal_replay_resume(): replica caught up in %v, session reads back on the replica after %v (%s)",
		caughtUp.Round(time.Millisecond), back.Round(time.Millisecond), intervals(back))
}

// A replica held behind by more than MaxLagBytes is excluded within two
// monitor intervals, reads go to the primary meanwhile, and it is re-admitted
// once it has caught up.
func TestFailoverLaggingReplicaExcludedAndReadmitted(t *testing.T) {
	c := testenv.StartCluster(t, 1)
	const maxLag = 64 << 10
	p := clusterPool(t, c, replica.Config{MaxLagBytes: maxLag}, 4)
	ctx := testCtx(t)
	require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"))

	c.PauseReplay(0)
	// About 600 kB of WAL: far beyond MaxLagBytes.
	_, err := p.Exec(ctx, "INSERT INTO items (v) SELECT repeat('x', 200) FROM generate_series(1, 2000)")
	require.NoError(t, err)
	behind := time.Now()
	var lagBytes int64
	pc, err := pgx.Connect(ctx, c.PrimaryDSN())
	require.NoError(t, err)
	defer pc.Close(context.Background())
	rc, err := pgx.Connect(ctx, c.ReplicaDSN(0))
	require.NoError(t, err)
	defer rc.Close(context.Background())
	var replay string
	require.NoError(t, rc.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&replay))
	require.NoError(t, pc.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::bigint", replay).Scan(&lagBytes))
	require.Greater(t, lagBytes, int64(maxLag), "the replica is held behind")

	waitState(t, p, 0, replica.StateLagging, 10*time.Second)
	excluded := time.Since(behind) // from the end of the write that put it behind
	st := p.Report().Nodes[1]
	t.Logf("replica held %d bytes behind (MaxLagBytes %d): excluded (lagging, lag %d B) after %v = %s",
		lagBytes, maxLag, st.LagBytes, excluded.Round(time.Millisecond), intervals(excluded))
	require.LessOrEqual(t, excluded, 2*2*failoverInterval+50*time.Millisecond, "excluded within two monitor intervals")

	// Meanwhile reads go to the primary.
	before := routed(p)
	for range 50 {
		require.False(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"), "a lagging replica gets no reads")
	}
	during := minus(routed(p), before)
	require.Equal(t, []int64{50, 0}, during)
	require.Equal(t, replica.StateLagging, p.Router().Nodes()[1].State)

	c.ResumeReplay(0)
	resumed := time.Now()
	c.WaitReplayed(0)
	caughtUp := time.Now()
	waitState(t, p, 0, replica.StateOnline, 10*time.Second)
	readmitted := time.Since(caughtUp)
	t.Logf("replay resumed: caught up in %v, re-admitted (online) %v after catching up = %s (%v after resuming)%s",
		caughtUp.Sub(resumed).Round(time.Millisecond), readmitted.Round(time.Millisecond), intervals(readmitted),
		time.Since(resumed).Round(time.Millisecond), nodesText(p))
	require.LessOrEqual(t, readmitted, 2*2*failoverInterval+50*time.Millisecond, "re-admitted within two monitor intervals of catching up")
	require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"), "reads go to the replica again")
}

// Killing replicas (pg_ctl stop -m immediate) under a concurrent read load
// fails no read: reads that hit the dead replica are retried on the other
// one, then on the primary once both are dead.
func TestFailoverKillReplicaDuringReads(t *testing.T) {
	c := testenv.StartCluster(t, 2)
	p := clusterPool(t, c, replica.Config{}, 8)
	ctx := testCtx(t)

	const (
		workers = 6
		total   = 6000
		kill1At = 1000 // queries done when replica 1 is killed
		kill2At = 3500 // … and replica 2
	)
	var (
		done, failed atomic.Int64
		errMu        sync.Mutex
		errs         []string
	)
	fail := func(format string, args ...any) {
		failed.Add(1)
		errMu.Lock()
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
		errMu.Unlock()
	}
	read := func(k int) {
		if k%2 == 0 {
			var n int
			var rec bool
			if err := p.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE id <= $1", 100).Scan(&n, &rec); err != nil {
				fail("QueryRow: %v", err)
			} else if n != 100 {
				fail("QueryRow: %d rows, want 100", n)
			}
			return
		}
		rows, err := p.Query(ctx, "SELECT id, v FROM items WHERE id <= $1 ORDER BY id", 50)
		if err != nil {
			fail("Query: %v", err)
			return
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			fail("Query rows: %v", err)
		} else if n != 50 {
			fail("Query: %d rows, want 50", n)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; done.Load() < total; k++ {
				read(k)
				done.Add(1)
			}
		}()
	}
	waitDone := func(n int64) {
		for done.Load() < n && failed.Load() < 100 {
			time.Sleep(time.Millisecond)
		}
	}
	phase := []string{"both replicas up", "replica 1 killed", "both replicas killed"}
	var marks [][]int64
	var counts []int64
	mark := func() { marks = append(marks, routed(p)); counts = append(counts, done.Load()) }
	mark()
	waitDone(kill1At)
	mark()
	c.StopReplica(0)
	waitDone(kill2At)
	mark()
	c.StopReplica(1)
	wg.Wait()
	mark()
	elapsed := time.Since(start)

	for i := range phase {
		d := minus(marks[i+1], marks[i])
		t.Logf("%-20s %4d queries: routed primary %d, replica-1 %d, replica-2 %d",
			phase[i]+":", counts[i+1]-counts[i], d[0], d[1], d[2])
	}
	t.Logf("read load: %d queries by %d goroutines in %v, failed reads %d%s",
		done.Load(), workers, elapsed.Round(time.Millisecond), failed.Load(), nodesText(p))
	for _, e := range errs {
		t.Log("failed read: " + e)
	}
	require.Zero(t, failed.Load(), "failed reads")
	require.GreaterOrEqual(t, done.Load(), int64(total))
	for i, n := range p.Router().Nodes()[1:] {
		require.Equal(t, replica.StateOffline, n.State, "replica %d", i)
	}
	d := minus(marks[2], marks[1])
	require.Positive(t, d[2], "replica 2 kept serving reads after replica 1 died")
}

// With the primary stopped, reads keep working from the replica; writes fail
// with ErrPrimaryUnavailable once the monitor has found the primary down
// (within two monitor intervals), and from then on each fails at once.
func TestFailoverPrimaryDown(t *testing.T) {
	c := testenv.StartCluster(t, 1)
	p := clusterPool(t, c, replica.Config{TrustVolatility: true}, 4) // item_count() is STABLE: trusted to read only
	ctx := testCtx(t)
	_, err := p.Exec(ctx, "INSERT INTO items (v) VALUES ('before')")
	require.NoError(t, err)
	_, err = p.Exec(ctx, "CREATE FUNCTION item_count() RETURNS bigint STABLE LANGUAGE sql AS 'SELECT count(*) FROM items'")
	require.NoError(t, err)
	c.WaitReplayed(0)

	c.StopPrimary()
	stopped := time.Now()
	var (
		attempts, otherErrs int
		detected            time.Duration
	)
	for {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := p.Exec(wctx, "INSERT INTO items (v) VALUES ('during')")
		cancel()
		attempts++
		require.Error(t, err, "a write with the primary stopped")
		if errors.Is(err, pgxperf.ErrPrimaryUnavailable) {
			detected = time.Since(stopped)
			break
		}
		otherErrs++
		if time.Since(stopped) > 10*time.Second {
			t.Fatalf("writes still not failing with ErrPrimaryUnavailable 10 s after the stop (last: %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("primary stopped: writes fail with ErrPrimaryUnavailable after %v = %s (%d earlier writes failed with connection errors)",
		detected.Round(time.Millisecond), intervals(detected), otherErrs)
	require.LessOrEqual(t, detected, 2*2*failoverInterval+100*time.Millisecond, "detected within two monitor intervals")

	// Every kind of write now fails fast.
	writes := map[string]func(context.Context) error{
		"Exec": func(ctx context.Context) error {
			_, err := p.Exec(ctx, "INSERT INTO items (v) VALUES ('x')")
			return err
		},
		"QueryRow": func(ctx context.Context) error {
			var id int64
			return p.QueryRow(ctx, "INSERT INTO items (v) VALUES ('x') RETURNING id").Scan(&id)
		},
		"Query": func(ctx context.Context) error {
			rows, err := p.Query(ctx, "UPDATE items SET v = 'y' WHERE id = 1 RETURNING id")
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		},
		"Begin": func(ctx context.Context) error {
			tx, err := p.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			_, err = tx.Exec(ctx, "INSERT INTO items (v) VALUES ('x')")
			return err
		},
		"SendBatch": func(ctx context.Context) error {
			b := &pgx.Batch{}
			b.Queue("INSERT INTO items (v) VALUES ('x')")
			return p.SendBatch(ctx, b).Close()
		},
	}
	const perKind = 40
	var lat []time.Duration
	var sessionReads, reads int
	for k := range perKind {
		for _, kind := range []string{"Exec", "QueryRow", "Query", "Begin", "SendBatch"} {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			t0 := time.Now()
			err := writes[kind](wctx)
			d := time.Since(t0)
			cancel()
			lat = append(lat, d)
			require.ErrorIs(t, err, pgxperf.ErrPrimaryUnavailable, "%s #%d", kind, k)
			require.Less(t, d, 100*time.Millisecond, "%s #%d failed after %v", kind, k, d)
		}
		// Reads keep working from the replica.
		for range 5 {
			var n int
			var rec bool
			require.NoError(t, p.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = 'before'").Scan(&n, &rec))
			require.Equal(t, 1, n)
			require.True(t, rec, "served by the replica")
			reads++
		}
		// So do reads in a session that has not written, and stale-allowed ones.
		var rec bool
		require.NoError(t, p.QueryRow(replica.WithSession(ctx, replica.NewSession()), "SELECT pg_is_in_recovery()").Scan(&rec))
		require.True(t, rec)
		sessionReads++
	}
	slices.Sort(lat)
	t.Logf("primary down: %d writes (Exec, QueryRow, Query, Begin, SendBatch) all failed with ErrPrimaryUnavailable: latency p50 %v, p99 %v, max %v; %d reads and %d session reads served by the replica, 0 failed%s",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], reads, sessionReads, nodesText(p))
	require.Equal(t, replica.StateOffline, p.Router().Nodes()[0].State)
	require.Equal(t, replica.StateOnline, p.Router().Nodes()[1].State)

	// A read calling a stable user function (never called before, so its
	// volatility is not cached yet) is a read too.
	t.Run("UserFunctionRead", func(t *testing.T) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t0 := time.Now()
		var n int64
		var rec bool
		err := p.QueryRow(rctx, "SELECT item_count(), pg_is_in_recovery()").Scan(&n, &rec)
		t.Logf("SELECT item_count() with the primary down: n=%d in recovery=%v err=%v after %v", n, rec, err, time.Since(t0).Round(time.Microsecond))
		require.NoError(t, err, "a read-only statement with a stable user function")
		require.True(t, rec)
	})

	// CopyFrom is a write too.
	t.Run("CopyFrom", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t0 := time.Now()
		_, err := p.CopyFrom(wctx, pgx.Identifier{"items"}, []string{"v"}, pgx.CopyFromRows([][]any{{"copy"}}))
		d := time.Since(t0)
		t.Logf("CopyFrom with the primary down: %v after %v", err, d.Round(time.Microsecond))
		require.ErrorIs(t, err, pgxperf.ErrPrimaryUnavailable)
		require.Less(t, d, 100*time.Millisecond)
	})
}
