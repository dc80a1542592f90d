package querycache

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
)

// A read waits for Redis at most Timeout in all, whatever Redis does
// between its lookup and its store, and whatever another caller's fill of
// the same key is doing. The Redis server is the test's own, hung with
// SIGSTOP at chosen points.

const sickReadTimeout = 500 * time.Millisecond

func sickReadCache(t *testing.T) (*QueryCache, *pgxpool.Pool, *testenv.RedisServer) {
	t.Helper()
	srv := testenv.StartRedis(t)
	dsn := testenv.NewDatabase(t, testenv.WithSQL(catalogBoundSetup))
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	qc, err := newQueryCache(Config{Client: rdb, Prefix: fmt.Sprintf("pgxperf-sr:%d:", time.Now().UnixNano()),
		Timeout: sickReadTimeout}, sessionFromConfig(cfg), nil)
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = qc.inval
	cfg.BeforeClose = qc.inval.ForgetConn
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	t.Cleanup(func() { _ = qc.Close() })
	t.Cleanup(func() { srv.Signal(syscall.SIGCONT) }) // before Close flushes
	qc.useCatalog(pool)
	return qc, pool, srv
}

func readNames(t *testing.T, rows pgx.Rows, err error) []string {
	t.Helper()
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// checkNames checks, from any goroutine, that a read of id 1 was served.
func checkNames(t *testing.T, who string, served bool, rows pgx.Rows, err error) {
	if !served || err != nil {
		t.Errorf("%s: served %v, %v", who, served, err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) != 1 || names[0] != "Item-1" {
		t.Errorf("%s: %v, %v", who, names, err)
	}
}

// TestSickReadFollowerDoesNotWaitForStore: callers that join another's fill
// of the same key get its rows when its load ends; they do not wait while
// the filler stores them in a Redis that hung meanwhile.
func TestSickReadFollowerDoesNotWaitForStore(t *testing.T) {
	qc, pool, srv := sickReadCache(t)
	const q = "SELECT name FROM cb_items WHERE id = $1"
	info := sqlinfo.Analyze(q)
	ctx := WithTTL(t.Context(), time.Hour)
	// Plan first: the catalog lookups are not what this measures.
	rows, served, err := qc.query(ctx, info, []any{2}, catalogBoundLoader(pool, q, 2))
	require.True(t, served)
	require.Equal(t, []string{"Item-2"}, readNames(t, rows, err))

	release := make(chan struct{})
	loading := make(chan struct{})
	leaderLoad := func(ctx context.Context) (pgx.Rows, error) {
		close(loading)
		<-release
		return pool.Query(ctx, q, 1)
	}
	var wg sync.WaitGroup
	var leaderDone, followerDone time.Time
	wg.Go(func() {
		rows, served, err := qc.query(ctx, info, []any{1}, leaderLoad)
		leaderDone = time.Now()
		checkNames(t, "leader", served, rows, err)
	})
	<-loading
	wg.Go(func() {
		rows, served, err := qc.query(ctx, info, []any{1}, func(ctx context.Context) (pgx.Rows, error) {
			t.Error("the follower loaded for itself")
			return pool.Query(ctx, q, 1)
		})
		followerDone = time.Now()
		checkNames(t, "follower", served, rows, err)
	})
	time.Sleep(300 * time.Millisecond) // the follower looked up Redis and joined the flight
	srv.Signal(syscall.SIGSTOP)
	released := time.Now()
	close(release)
	wg.Wait()
	srv.Signal(syscall.SIGCONT)
	t.Logf("after the load was released: follower %v, leader %v", followerDone.Sub(released), leaderDone.Sub(released))
	require.Less(t, followerDone.Sub(released), sickReadTimeout/2, "the follower waited for the leader's store")
	require.Less(t, leaderDone.Sub(released), sickReadTimeout+150*time.Millisecond)
	var coalesced int64
	for _, st := range qc.Stats().Statements {
		coalesced += st.Coalesced
	}
	require.EqualValues(t, 1, coalesced)
}

// TestSickReadLookupAndStoreShareTimeout: a lookup that Redis answers late
// (it hung, then resumed) leaves the store after the miss only what is left
// of Timeout: when Redis hangs again during the load, the read does not
// wait Timeout a second time.
func TestSickReadLookupAndStoreShareTimeout(t *testing.T) {
	qc, pool, srv := sickReadCache(t)
	const q = "SELECT name FROM cb_items WHERE id = $1"
	info := sqlinfo.Analyze(q)
	ctx := WithTTL(t.Context(), time.Hour)
	rows, served, err := qc.query(ctx, info, []any{2}, catalogBoundLoader(pool, q, 2))
	require.True(t, served)
	require.Equal(t, []string{"Item-2"}, readNames(t, rows, err))

	srv.Signal(syscall.SIGSTOP)
	time.AfterFunc(sickReadTimeout*6/10, func() { srv.Signal(syscall.SIGCONT) })
	var stoppedAgain bool
	start := time.Now()
	rows, served, err = qc.query(ctx, info, []any{1}, func(ctx context.Context) (pgx.Rows, error) {
		// The lookup got its answer (a miss): Redis hangs again.
		srv.Signal(syscall.SIGSTOP)
		stoppedAgain = true
		return pool.Query(ctx, q, 1)
	})
	took := time.Since(start)
	srv.Signal(syscall.SIGCONT)
	require.True(t, served)
	require.Equal(t, []string{"Item-1"}, readNames(t, rows, err))
	require.True(t, stoppedAgain, "the read loaded after a miss")
	t.Logf("read: %v (timeout %v)", took, sickReadTimeout)
	require.Less(t, took, sickReadTimeout+150*time.Millisecond, "the read waited for Redis longer than Timeout")
}
