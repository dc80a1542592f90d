package pgxperf_test

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/querycache"
)

// Across instances the in-process cache is only as fresh as the pub/sub
// message that tells it about a write (querycache's documentation states the
// bound). This measures it: writes through one Pool, reads through another,
// both with L1 on; every read that returns a value older than a commit that
// had returned before the read began is stale, and its window is the time
// from that commit's return to the read's start.
func TestEvidenceCrossInstanceL1Window(t *testing.T) {
	ctx := testCtx(t)
	run := 5 * time.Second
	if testing.Short() {
		run = time.Second
	}
	dsn := testenv.NewDatabase(t, testenv.WithSQL(`CREATE TABLE counters (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO counters VALUES (1, 0)`))
	rdb := evRedis(t)
	qc := querycache.Config{Client: rdb, Prefix: evPrefix(t, rdb), L1: querycache.L1Config{Enabled: true}, Timeout: 2 * time.Second}
	writer := evPool(t, dsn, qc, func(c *pgxpool.Config) { c.MaxConns = 4 })
	reader := evPool(t, dsn, qc, func(c *pgxpool.Config) { c.MaxConns = 4 })
	require.Eventually(t, func() bool { return reader.Cache().Stats().L1Live }, 5*time.Second, 10*time.Millisecond)

	// committedAt[v] is when the commit that wrote v returned (Unix ns).
	var mu sync.Mutex
	committedAt := map[int64]int64{}
	var committed atomic.Int64
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			var v int64
			if err := writer.QueryRow(ctx, "UPDATE counters SET v = v + 1 WHERE id = 1 RETURNING v").Scan(&v); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			committedAt[v] = time.Now().UnixNano()
			mu.Unlock()
			committed.Store(v)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var reads atomic.Int64
	var windowsMu sync.Mutex
	var windows []time.Duration
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx := querycache.WithTTL(ctx, time.Minute)
			for time.Now().Before(deadline) {
				before := committed.Load()
				start := time.Now().UnixNano()
				var v int64
				if err := reader.QueryRow(cctx, "SELECT v FROM counters WHERE id = 1").Scan(&v); err != nil {
					errs <- err
					return
				}
				reads.Add(1)
				if v < before {
					// Stale since the first commit after v returned.
					mu.Lock()
					at := committedAt[v+1]
					mu.Unlock()
					windowsMu.Lock()
					windows = append(windows, time.Duration(start-at))
					windowsMu.Unlock()
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := stmtStats(reader, "FROM counters WHERE")
	slices.Sort(windows)
	var p50, p99, worst time.Duration
	if n := len(windows); n > 0 {
		p50, p99, worst = windows[n/2], windows[n*99/100], windows[n-1]
	}
	t.Logf("EVIDENCE cross-instance L1 for %v: writes=%d reads=%d hits=%d (L1 %d); stale reads=%d (%.3f%%), window p50=%v p99=%v max=%v",
		run, committed.Load(), reads.Load(), st.Hits, st.L1Hits, len(windows),
		100*float64(len(windows))/float64(max(reads.Load(), 1)), p50, p99, worst)
	require.Positive(t, st.L1Hits)
	// The documented hard bound: a lost message costs at most L1.MaxAge.
	require.Less(t, worst, 10*time.Second)
}
