package sqlinfo_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

const typicalSQL = "SELECT id, title, published_at FROM content WHERE project_id = $1 AND status = 'published' ORDER BY published_at DESC LIMIT 20"

// TestAnalyzeCaches checks that a repeated text is answered from the cache
// with the same immutable result, and that it equals the uncached analysis.
func TestAnalyzeCaches(t *testing.T) {
	a := sqlinfo.New(sqlinfo.Config{})
	first := a.Analyze(typicalSQL)
	require.Equal(t, 1, a.Len())
	require.Same(t, first, a.Analyze(typicalSQL))
	require.Equal(t, 1, a.Len())
	require.Equal(t, sqlinfo.AnalyzeUncached(typicalSQL), first)

	// A text that fails to parse is cached as well.
	bad := a.Analyze("SELEC 1")
	require.True(t, bad.Fallback)
	require.Same(t, bad, a.Analyze("SELEC 1"))
	require.Equal(t, 2, a.Len())
}

// TestAnalyzeNoAllocOnHit checks that a cache hit does not allocate.
func TestAnalyzeNoAllocOnHit(t *testing.T) {
	a := sqlinfo.New(sqlinfo.Config{})
	a.Analyze(typicalSQL)
	allocs := testing.AllocsPerRun(1000, func() { a.Analyze(typicalSQL) })
	require.Zero(t, allocs)
}

// TestDefault checks the process-wide analyzer and the package function.
func TestDefault(t *testing.T) {
	require.NotNil(t, sqlinfo.Default())
	require.Same(t, sqlinfo.Default(), sqlinfo.Default())
	in := sqlinfo.Analyze("SELECT 42 FROM default_test")
	require.Same(t, in, sqlinfo.Default().Analyze("SELECT 42 FROM default_test"))
	require.GreaterOrEqual(t, sqlinfo.Default().Len(), 1)
}

// TestNoCache checks analyzers that do not cache: a negative bound, the
// zero value and a nil pointer.
func TestNoCache(t *testing.T) {
	for name, a := range map[string]*sqlinfo.Analyzer{
		"negative": sqlinfo.New(sqlinfo.Config{MaxBytes: -1}),
		"zero":     {},
		"nil":      nil,
	} {
		in := a.Analyze(typicalSQL)
		require.NotNil(t, in, name)
		require.Equal(t, sqlinfo.KindSelect, in.Kind, name)
		require.NotSame(t, in, a.Analyze(typicalSQL), name)
		require.Zero(t, a.Len(), name)
	}
}

// TestOversizedNotCached checks that a text heavier than 1/8 of the bound is
// analyzed but not cached.
func TestOversizedNotCached(t *testing.T) {
	a := sqlinfo.New(sqlinfo.Config{MaxBytes: 64 << 10})
	big := "SELECT * FROM users WHERE name = '" + strings.Repeat("x", 10<<10) + "'"
	in := a.Analyze(big)
	require.Equal(t, sqlinfo.KindSelect, in.Kind)
	require.Zero(t, a.Len())
	require.NotSame(t, in, a.Analyze(big))

	small := "SELECT * FROM users WHERE name = '" + strings.Repeat("x", 1<<10) + "'"
	a.Analyze(small)
	require.Equal(t, 1, a.Len())
}

// TestConcurrentAnalyze hammers a small cache (so that entries are evicted
// and re-analyzed) from several goroutines; run with -race.
func TestConcurrentAnalyze(t *testing.T) {
	var stmts []string
	for _, s := range loadCorpus(t) {
		stmts = append(stmts, s...)
	}
	want := make([]*sqlinfo.Info, len(stmts))
	for i, s := range stmts {
		want[i] = sqlinfo.AnalyzeUncached(s)
	}
	a := sqlinfo.New(sqlinfo.Config{MaxBytes: 32 << 10})
	const workers = 8
	rounds := 5
	if testing.Short() {
		rounds = 3
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				for i := range stmts {
					j := (i*7 + g*13 + r) % len(stmts)
					got := a.Analyze(stmts[j])
					if !reflect.DeepEqual(got, want[j]) {
						errs <- fmt.Errorf("%q: got %+v, want %+v", stmts[j], *got, *want[j])
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Positive(t, a.Len())
}

// BenchmarkAnalyze compares a cold analysis (three pg_query calls and a
// tree walk) with a cache hit.
func BenchmarkAnalyze(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sqlinfo.AnalyzeUncached(typicalSQL)
		}
	})
	b.Run("cached", func(b *testing.B) {
		a := sqlinfo.New(sqlinfo.Config{})
		a.Analyze(typicalSQL)
		b.ReportAllocs()
		for b.Loop() {
			a.Analyze(typicalSQL)
		}
	})
	// The floor a cache hit cannot beat: a plain map lookup with the same key
	// (hash and compare the text). Compare ratios, not absolute times.
	b.Run("map-baseline", func(b *testing.B) {
		m := map[string]*sqlinfo.Info{strings.Clone(typicalSQL): sqlinfo.AnalyzeUncached(typicalSQL)}
		b.ReportAllocs()
		for b.Loop() {
			_ = m[typicalSQL]
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		a := sqlinfo.New(sqlinfo.Config{})
		a.Analyze(typicalSQL)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a.Analyze(typicalSQL)
			}
		})
	})
}
