package expiry

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The TTL stays within its jitter band and at least a millisecond; the
// refresh point is the last early fraction of it, or none.
func TestJittered(t *testing.T) {
	for _, tc := range []struct {
		ttl           time.Duration
		jitter, early float64
	}{
		{time.Minute, 0, 0}, {time.Minute, 0.1, 0}, {time.Minute, 0.1, 0.1},
		{time.Hour, 0.5, 0.9}, {0, 0.1, 0.1}, {time.Microsecond, 0, 0},
	} {
		for range 200 {
			start := time.Now()
			d, refresh := Jittered(tc.ttl, tc.jitter, tc.early)
			lo := max(time.Duration(float64(tc.ttl)*(1-tc.jitter)), time.Millisecond)
			hi := max(time.Duration(float64(tc.ttl)*(1+tc.jitter)), time.Millisecond)
			require.GreaterOrEqual(t, d, lo, "%+v", tc)
			require.LessOrEqual(t, d, hi, "%+v", tc)
			if tc.early <= 0 {
				require.Zero(t, refresh)
				continue
			}
			soft := d - time.Duration(float64(d)*tc.early)
			require.InDelta(t, start.Add(soft).UnixMilli(), refresh, 5, "%+v", tc)
		}
	}
}
