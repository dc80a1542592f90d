package tracer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramBuckets(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1500 * time.Nanosecond, 37 * time.Microsecond,
		time.Millisecond, 99 * time.Millisecond, 3 * time.Second, 10 * time.Minute} {
		i := histIndex(d)
		require.GreaterOrEqual(t, i, 0)
		require.Less(t, i, histBuckets)
		if d >= 1<<histMinShift && i < histUnitMaxIdx {
			require.LessOrEqual(t, histLower(i), d, "lower bound of %v", d)
			require.Greater(t, histUpper(i), d, "upper bound of %v", d)
			// relative width of a bucket is at most 1/8
			require.LessOrEqual(t, float64(histUpper(i)-histLower(i))/float64(histLower(i)), 0.125+1e-9)
		}
	}
	require.Equal(t, histUnitMaxIdx, histIndex(1<<62))
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	// 1..1000 ms, uniformly.
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	within := func(got, want time.Duration) {
		t.Helper()
		require.InEpsilon(t, float64(want), float64(got), 0.125, "got %v want %v", got, want)
	}
	within(h.quantile(0.50, 1000, time.Millisecond, time.Second), 500*time.Millisecond)
	within(h.quantile(0.95, 1000, time.Millisecond, time.Second), 950*time.Millisecond)
	within(h.quantile(0.99, 1000, time.Millisecond, time.Second), 990*time.Millisecond)
	require.Equal(t, time.Second, h.quantile(1, 1000, time.Millisecond, time.Second))
	var empty histogram
	require.Zero(t, empty.quantile(0.5, 0, 0, 0))
}
