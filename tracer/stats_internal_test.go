package tracer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

func TestRegistryRecordWelford(t *testing.T) {
	r := newRegistry(0)
	info := sqlinfo.Analyze("SELECT * FROM users WHERE id = $1")
	durs := []time.Duration{2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond,
		5 * time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond, 9 * time.Millisecond}
	for i, d := range durs {
		ev := Event{info: info, Duration: d, Start: time.Unix(int64(i), 0), Rows: 1}
		r.record(&ev, nil)
	}
	snap := r.snapshot()
	require.Len(t, snap.Statements, 1)
	st := snap.Statements[0]
	require.EqualValues(t, 8, st.Calls)
	require.EqualValues(t, 8, st.Rows)
	require.Equal(t, 40*time.Millisecond, st.Total)
	require.Equal(t, 5*time.Millisecond, st.Mean)
	require.Equal(t, 2*time.Millisecond, st.Min)
	require.Equal(t, 9*time.Millisecond, st.Max)
	require.InDelta(t, float64(2*time.Millisecond), float64(st.StdDev), 1) // population stddev of the classic example
	require.Equal(t, time.Unix(0, 0), st.FirstSeen)
	require.Equal(t, time.Unix(7, 0), st.LastSeen)
	require.Equal(t, 9*time.Millisecond, st.Slowest.Duration)
	require.Equal(t, info.Normalized, st.Query)
	require.Positive(t, st.P95)
}

func TestRegistryErrorsByCode(t *testing.T) {
	r := newRegistry(0)
	info := sqlinfo.Analyze("SELECT 1")
	for _, err := range []error{nil, pgx.ErrNoRows, &pgconn.PgError{Code: "42601"}, &pgconn.PgError{Code: "42601"},
		errors.New("boom"), context.Canceled} {
		ev := Event{info: info, Err: err}
		r.record(&ev, nil)
	}
	st := r.snapshot().Statements[0]
	require.EqualValues(t, 6, st.Calls)
	require.EqualValues(t, 4, st.Errors)
	require.Equal(t, map[string]int64{"42601": 2, "client": 1, "canceled": 1}, st.ErrorsByCode)
}

func TestRegistryBoundedAndReset(t *testing.T) {
	r := newRegistry(128)
	for i := 0; i < 10_000; i++ {
		info := &sqlinfo.Info{Fingerprint: uint64(i)*0x9E3779B97F4A7C15 + 1, Normalized: "q"}
		ev := Event{info: info, Duration: time.Microsecond}
		r.record(&ev, nil)
	}
	require.LessOrEqual(t, r.len(), 128)
	snap := r.snapshot()
	var total int64
	for _, st := range snap.Statements {
		total += st.Calls
	}
	require.EqualValues(t, 10_000, total, "overflow keeps counting")
	r.reset()
	require.Zero(t, r.len())
	require.Empty(t, r.snapshot().Statements)
}

func TestRegistryConcurrent(t *testing.T) {
	r := newRegistry(0)
	infos := []*sqlinfo.Info{sqlinfo.Analyze("SELECT 1"), sqlinfo.Analyze("SELECT * FROM users"), sqlinfo.Analyze("UPDATE users SET name = $1")}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				ev := Event{info: infos[i%3], Duration: time.Duration(i) * time.Microsecond}
				r.record(&ev, nil)
				if i%500 == 0 {
					_ = r.snapshot()
				}
			}
		}()
	}
	wg.Wait()
	var calls int64
	for _, st := range r.snapshot().Statements {
		calls += st.Calls
	}
	require.EqualValues(t, 16000, calls)
}

func TestSnapshotSort(t *testing.T) {
	s := Snapshot{Statements: []StatementStats{
		{Fingerprint: 1, Calls: 10, Total: 10, Mean: 1, P95: 5},
		{Fingerprint: 2, Calls: 1, Total: 50, Mean: 50, P95: 50},
		{Fingerprint: 4, Calls: 1, Total: 20, BatchShaped: true},
		{Fingerprint: 3, Calls: 100, Total: 20, Mean: 0, P95: 1},
		{Fingerprint: 4, Calls: 1, Total: 20},
	}}
	type key struct {
		fp      uint64
		batched bool
	}
	keys := func(s Snapshot) []key {
		var out []key
		for _, st := range s.Statements {
			out = append(out, key{st.Fingerprint, st.BatchShaped})
		}
		return out
	}
	sortByTotal(s.Statements)
	require.Equal(t, []key{{2, false}, {3, false}, {4, false}, {4, true}, {1, false}}, keys(s))
	st, ok := s.Lookup(4)
	require.True(t, ok)
	require.False(t, st.BatchShaped, "Lookup prefers the per-value form")
	_, ok = s.Lookup(5)
	require.False(t, ok)
}

// The zero Config's slow-query threshold is 100 ms (documented on the field).
func TestDefaultSlowThreshold(t *testing.T) {
	if got := New(Config{}).slow; got != 100*time.Millisecond {
		t.Fatalf("slow threshold %v, want 100ms", got)
	}
}
