package rediscache

import (
	"math/rand/v2"
	"time"
)

// expiry returns the jittered TTL to give Redis for an entry written now and
// the entry's refresh-at time in Unix milliseconds (0: no early refresh).
func (m *Cache) expiry(ttl time.Duration) (time.Duration, int64) {
	return jitteredExpiry(ttl, m.jitter, m.early)
}

// jitteredExpiry multiplies ttl by a random factor in [1-jitter, 1+jitter]
// (no jitter when jitter ≤ 0) and returns it with the refresh-at time, in
// Unix milliseconds, at which the last early fraction of it begins (0 when
// early ≤ 0). Package querycache jitters its entries the same way.
func jitteredExpiry(ttl time.Duration, jitter, early float64) (time.Duration, int64) {
	d := ttl
	if jitter > 0 {
		d = time.Duration(float64(ttl) * (1 + jitter*(2*rand.Float64()-1)))
	}
	d = max(d, time.Millisecond) // Redis's resolution; PX 0 is an error
	if early <= 0 {
		return d, 0
	}
	soft := d - time.Duration(float64(d)*early)
	return d, time.Now().Add(soft).UnixMilli()
}
