package sqlinfo

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestCacheMemoryBound feeds 100,000 distinct texts to an analyzer bounded
// at 4 MiB and checks that the cache stays within its weight bound, keeps a
// plausible number of entries, and that the heap grows by no more than a
// small multiple of the bound.
func TestCacheMemoryBound(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("100,000 cold analyses take too long under -race or -short")
	}
	const (
		maxBytes = 4 << 20
		texts    = 100_000
		workers  = 2
	)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	a := New(Config{MaxBytes: maxBytes})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < texts; i += workers {
				sql := fmt.Sprintf("SELECT title FROM content WHERE id = %d", i)
				if a.Analyze(sql).Kind != KindSelect {
					t.Errorf("bad analysis of %q", sql)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	a.cache.CleanUp()

	weight, n := a.weightedSize(), a.Len()
	t.Logf("entries=%d weight=%d bytes (bound %d), mean weight %d", n, weight, maxBytes, int(weight)/max(n, 1))
	require.LessOrEqual(t, weight, uint64(maxBytes))
	require.Greater(t, n, 1000, "the cache should hold thousands of small entries")
	require.Less(t, n, texts/4, "the cache must have evicted most entries")

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth %d bytes (%.2f x bound, %d bytes per entry)", growth, float64(growth)/maxBytes, growth/int64(max(n, 1)))
	require.Less(t, growth, int64(2*maxBytes), "heap grew far beyond the cache bound")
	runtime.KeepAlive(a)
}

// TestWeight checks the weigher's accounting.
func TestWeight(t *testing.T) {
	sql := "SELECT * FROM users WHERE id = $1"
	in := analyze(sql)
	require.Same(t, unsafeStringData(sql), unsafeStringData(in.Normalized), "normalized text should share the key")
	w := weight(sql, in)
	require.GreaterOrEqual(t, w, uint32(entryOverhead+len(sql)))
	require.Less(t, w, uint32(entryOverhead+2*len(sql)+200))

	withConst := "SELECT * FROM users WHERE id = 42"
	in = analyze(withConst)
	require.Equal(t, "SELECT * FROM users WHERE id = $1", in.Normalized)
	require.Greater(t, weight(withConst, in), uint32(entryOverhead+2*len(withConst)))
}

func unsafeStringData(s string) *byte { return unsafe.StringData(s) }

// TestAnalyzePanicIsContained checks that a panic during analysis yields an
// unparsed, not read-only result instead of crashing the caller.
func TestAnalyzePanicIsContained(t *testing.T) {
	testHook = func(string) { panic("boom") }
	defer func() { testHook = nil }()
	in := analyze("SELECT 1")
	require.Equal(t, KindUnparsed, in.Kind)
	require.True(t, in.Fallback)
	require.False(t, in.ReadOnly)
	require.ErrorContains(t, in.ParseError, "boom")
	require.Equal(t, "select ?", in.Normalized)
}
