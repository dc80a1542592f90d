package querycache

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClockBreaker returns a breaker whose clock advance moves.
func fakeClockBreaker(cfg BreakerConfig) (*breaker, func(time.Duration)) {
	b := newBreaker(cfg)
	var mu sync.Mutex
	var now int64
	b.now = func() int64 { mu.Lock(); defer mu.Unlock(); return now }
	return b, func(d time.Duration) { mu.Lock(); now += int64(d); mu.Unlock() }
}

func breakerFail(b *breaker, n int) {
	for range n {
		probe, ok := b.allow()
		if ok {
			b.done(probe, outcomeFail)
		}
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	cfg := BreakerConfig{Failures: 3, Window: time.Second, Cooldown: 100 * time.Millisecond, MaxCooldown: 350 * time.Millisecond}

	t.Run("opens after consecutive failures", func(t *testing.T) {
		b, _ := fakeClockBreaker(cfg)
		breakerFail(b, 2)
		require.Equal(t, BreakerClosed, b.State())
		breakerFail(b, 1)
		require.Equal(t, BreakerOpen, b.State())
		_, ok := b.allow()
		require.False(t, ok, "open breaker must not allow calls")
		require.EqualValues(t, 1, b.opens.Load())
	})

	t.Run("a success resets the run", func(t *testing.T) {
		b, _ := fakeClockBreaker(cfg)
		breakerFail(b, 2)
		b.done(false, outcomeOK)
		breakerFail(b, 2)
		require.Equal(t, BreakerClosed, b.State())
	})

	t.Run("failures outside the window start a new run", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 2)
		advance(2 * time.Second)
		breakerFail(b, 2)
		require.Equal(t, BreakerClosed, b.State())
		breakerFail(b, 1)
		require.Equal(t, BreakerOpen, b.State())
	})

	t.Run("half-open lets one probe through; success closes", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		probe, ok := b.allow()
		require.True(t, ok)
		require.True(t, probe)
		require.Equal(t, BreakerHalfOpen, b.State())
		_, ok = b.allow()
		require.False(t, ok, "only one probe at a time")
		b.done(false, outcomeOK) // a late non-probe result must not close it
		require.Equal(t, BreakerHalfOpen, b.State())
		b.done(true, outcomeOK)
		require.Equal(t, BreakerClosed, b.State())
		probe, ok = b.allow()
		require.True(t, ok)
		require.False(t, probe)
	})

	t.Run("failed probes double the cooldown up to the cap", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		for _, want := range []time.Duration{200, 350, 350} {
			probe, ok := b.allow()
			require.True(t, ok && probe)
			b.done(probe, outcomeFail)
			require.Equal(t, BreakerOpen, b.State())
			advance(want*time.Millisecond - time.Millisecond)
			_, ok = b.allow()
			require.False(t, ok, "still cooling down before %v ms", want)
			advance(time.Millisecond)
		}
		probe, ok := b.allow()
		require.True(t, ok)
		b.done(probe, outcomeOK)
		breakerFail(b, 3) // a fresh open uses the base cooldown again
		advance(100 * time.Millisecond)
		_, ok = b.allow()
		require.True(t, ok)
	})

	t.Run("an abandoned probe frees the slot", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		probe, ok := b.allow()
		require.True(t, ok && probe)
		b.done(probe, outcomeIgnore)
		probe, ok = b.allow()
		require.True(t, ok && probe)
	})

	t.Run("a lost probe is replaced after MaxCooldown", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		_, ok := b.allow()
		require.True(t, ok)
		advance(350 * time.Millisecond)
		probe, ok := b.allow()
		require.True(t, ok && probe)
	})

	t.Run("negative Failures disables it", func(t *testing.T) {
		b, _ := fakeClockBreaker(BreakerConfig{Failures: -1})
		breakerFail(b, 100)
		require.Equal(t, BreakerClosed, b.State())
	})
}

func TestBreakerConcurrent(t *testing.T) {
	t.Parallel()
	b := newBreaker(BreakerConfig{Failures: 5, Cooldown: time.Millisecond, MaxCooldown: 4 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				probe, ok := b.allow()
				if !ok {
					continue
				}
				if (i+g)%3 == 0 {
					b.done(probe, outcomeOK)
				} else {
					b.done(probe, outcomeFail)
				}
			}
		})
	}
	wg.Wait()
	require.Contains(t, []BreakerState{BreakerClosed, BreakerOpen, BreakerHalfOpen}, b.State())
}

func TestEscapeGlob(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"app:":      "app:",
		"a*b?[c]\\": `a\*b\?\[c\]\\`,
	} {
		require.Equal(t, want, escapeGlob(in))
	}
}

func TestNamedTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want time.Duration
	}{
		{"SESSION", 24 * time.Hour},
		{"github_api", 15 * time.Minute},
		{"GENERATED_CONTENT", time.Hour},
		{"PLATFORM_METADATA", 24 * time.Hour},
		{"USER_QUOTA", time.Hour},
		{" QUERY_RESULTS ", 5 * time.Minute},
	} {
		got, ok := NamedTTL(tc.name)
		require.True(t, ok, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
	_, ok := NamedTTL("nope")
	require.False(t, ok)
}

// recovered (a pending invalidation's retry got through) closes an open
// breaker at once, without waiting for its cooldown.
func TestBreakerRecovered(t *testing.T) {
	t.Parallel()
	b, _ := fakeClockBreaker(BreakerConfig{Failures: 2, Cooldown: 10 * time.Second, MaxCooldown: 30 * time.Second})
	breakerFail(b, 2)
	require.Equal(t, BreakerOpen, b.State())
	_, ok := b.allow()
	require.False(t, ok)
	b.recovered()
	require.Equal(t, BreakerClosed, b.State())
	probe, ok := b.allow()
	require.True(t, ok)
	require.False(t, probe)
	// A failure after recovery starts a new run from zero.
	breakerFail(b, 1)
	require.Equal(t, BreakerClosed, b.State())
}
