// Package expiry computes the TTL both Redis caches (querycache and
// rediscache) give an entry: jittered, so that entries written together do
// not expire together, and with the time from which a hit refreshes it
// early.
package expiry

import (
	"math/rand/v2"
	"time"
)

// Jittered multiplies ttl by a random factor in [1-jitter, 1+jitter] (no
// jitter when jitter ≤ 0) and returns it with the refresh-at time, in Unix
// milliseconds, at which the last early fraction of it begins (0 when
// early ≤ 0). The TTL is at least a millisecond, Redis's resolution.
func Jittered(ttl time.Duration, jitter, early float64) (time.Duration, int64) {
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
