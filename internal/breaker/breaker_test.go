package breaker

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClockBreaker returns a breaker whose clock advance moves.
func fakeClockBreaker(cfg Config) (*Breaker, func(time.Duration)) {
	b := New(cfg)
	var mu sync.Mutex
	var now int64
	b.now = func() int64 { mu.Lock(); defer mu.Unlock(); return now }
	return b, func(d time.Duration) { mu.Lock(); now += int64(d); mu.Unlock() }
}

func breakerFail(b *Breaker, n int) {
	for range n {
		probe, ok := b.Allow()
		if ok {
			b.Done(probe, Fail)
		}
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	cfg := Config{Failures: 3, Window: time.Second, Cooldown: 100 * time.Millisecond, MaxCooldown: 350 * time.Millisecond}

	t.Run("opens after consecutive failures", func(t *testing.T) {
		b, _ := fakeClockBreaker(cfg)
		breakerFail(b, 2)
		require.Equal(t, Closed, b.State())
		breakerFail(b, 1)
		require.Equal(t, Open, b.State())
		_, ok := b.Allow()
		require.False(t, ok, "open breaker must not allow calls")
		require.EqualValues(t, 1, b.opens.Load())
	})

	t.Run("a success resets the run", func(t *testing.T) {
		b, _ := fakeClockBreaker(cfg)
		breakerFail(b, 2)
		b.Done(false, OK)
		breakerFail(b, 2)
		require.Equal(t, Closed, b.State())
	})

	t.Run("failures outside the window start a new run", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 2)
		advance(2 * time.Second)
		breakerFail(b, 2)
		require.Equal(t, Closed, b.State())
		breakerFail(b, 1)
		require.Equal(t, Open, b.State())
	})

	t.Run("half-open lets one probe through; success closes", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		probe, ok := b.Allow()
		require.True(t, ok)
		require.True(t, probe)
		require.Equal(t, HalfOpen, b.State())
		_, ok = b.Allow()
		require.False(t, ok, "only one probe at a time")
		b.Done(false, OK) // a late non-probe result must not close it
		require.Equal(t, HalfOpen, b.State())
		b.Done(true, OK)
		require.Equal(t, Closed, b.State())
		probe, ok = b.Allow()
		require.True(t, ok)
		require.False(t, probe)
	})

	t.Run("failed probes double the cooldown up to the cap", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		for _, want := range []time.Duration{200, 350, 350} {
			probe, ok := b.Allow()
			require.True(t, ok && probe)
			b.Done(probe, Fail)
			require.Equal(t, Open, b.State())
			advance(want*time.Millisecond - time.Millisecond)
			_, ok = b.Allow()
			require.False(t, ok, "still cooling down before %v ms", want)
			advance(time.Millisecond)
		}
		probe, ok := b.Allow()
		require.True(t, ok)
		b.Done(probe, OK)
		breakerFail(b, 3) // a fresh open uses the base cooldown again
		advance(100 * time.Millisecond)
		_, ok = b.Allow()
		require.True(t, ok)
	})

	t.Run("an abandoned probe frees the slot", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		probe, ok := b.Allow()
		require.True(t, ok && probe)
		b.Done(probe, Ignore)
		probe, ok = b.Allow()
		require.True(t, ok && probe)
	})

	t.Run("a lost probe is replaced after MaxCooldown", func(t *testing.T) {
		b, advance := fakeClockBreaker(cfg)
		breakerFail(b, 3)
		advance(100 * time.Millisecond)
		_, ok := b.Allow()
		require.True(t, ok)
		advance(350 * time.Millisecond)
		probe, ok := b.Allow()
		require.True(t, ok && probe)
	})

	t.Run("negative Failures disables it", func(t *testing.T) {
		b, _ := fakeClockBreaker(Config{Failures: -1})
		breakerFail(b, 100)
		require.Equal(t, Closed, b.State())
	})
}

func TestBreakerConcurrent(t *testing.T) {
	t.Parallel()
	b := New(Config{Failures: 5, Cooldown: time.Millisecond, MaxCooldown: 4 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				probe, ok := b.Allow()
				if !ok {
					continue
				}
				if (i+g)%3 == 0 {
					b.Done(probe, OK)
				} else {
					b.Done(probe, Fail)
				}
			}
		})
	}
	wg.Wait()
	require.Contains(t, []State{Closed, Open, HalfOpen}, b.State())
}

// recovered (a pending invalidation's retry got through) closes an open
// breaker at once, without waiting for its cooldown.
func TestBreakerRecovered(t *testing.T) {
	t.Parallel()
	b, _ := fakeClockBreaker(Config{Failures: 2, Cooldown: 10 * time.Second, MaxCooldown: 30 * time.Second})
	breakerFail(b, 2)
	require.Equal(t, Open, b.State())
	_, ok := b.Allow()
	require.False(t, ok)
	b.Recovered()
	require.Equal(t, Closed, b.State())
	probe, ok := b.Allow()
	require.True(t, ok)
	require.False(t, probe)
	// A failure after recovery starts a new run from zero.
	breakerFail(b, 1)
	require.Equal(t, Closed, b.State())
}
