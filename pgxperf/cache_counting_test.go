package pgxperf_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/querycache"
)

// Reads served by the query cache are counted: in the statistics (apart
// from the database's calls, with their own latencies), in n1detect scopes
// (an N+1 whose reads are all hits is still reported, marked as cached) and
// in statement budgets. The cache's own catalog lookups are counted nowhere.
func TestCacheHitsAreCounted(t *testing.T) {
	p, _, _ := cachePool(t, querycache.Config{},
		"INSERT INTO users (id, email, display_name) SELECT g, 'u' || g || '@x', 'U' || g FROM generate_series(1, 8) g",
		"INSERT INTO projects (owner_id, name, slug) SELECT g, 'p' || g, 'p' || g FROM generate_series(1, 8) g")
	ctx := querycache.WithTTL(context.Background(), time.Minute)
	const owner = "SELECT email FROM users WHERE id = $1"
	loop := func(ctx context.Context) {
		rows, err := p.Query(ctx, "SELECT owner_id FROM projects ORDER BY id")
		require.NoError(t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		for _, id := range ids {
			var email string
			require.NoError(t, p.QueryRow(ctx, owner, id).Scan(&email))
		}
	}
	loop(ctx) // fills the cache: 9 database calls
	p.Tracer().Reset()

	// Every read of the loop is a hit now.
	ctxScope, scope := n1detect.Start(ctx, "cached loop", n1detect.Config{})
	loop(ctxScope)
	findings := scope.Finish()

	snap := p.Tracer().Snapshot()
	st, ok := snap.Lookup(sqlinfo.Analyze(owner).Fingerprint)
	require.True(t, ok, "a statement served only from the cache has statistics")
	require.Zero(t, st.Calls, "no database call")
	require.Equal(t, int64(8), st.Cache.Hits)
	require.Equal(t, int64(8), st.Cache.Rows)
	require.Positive(t, st.Cache.Mean)
	for _, s := range snap.Statements {
		require.NotContains(t, s.Query, "pgxperf:catalog", "the cache's catalog lookups are not the application's")
	}

	require.Len(t, findings, 1, "%v", findings)
	f := findings[0]
	require.Equal(t, n1detect.NPlusOne, f.Kind)
	require.Equal(t, 8, f.Count)
	require.Equal(t, 8, f.Cached)
	require.Contains(t, f.String(), "served from the query cache")

	// Budgets count hits.
	ft := &fakeTB{TB: t}
	n1detect.Check(ft, ctx, loop, n1detect.MaxStatements(5), n1detect.Config{})
	require.True(t, ft.failed, "9 reads, all hits, break a budget of 5 statements")
}

// fakeTB records failures instead of failing the test.
type fakeTB struct {
	n1detect.TB
	failed bool
}

func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
