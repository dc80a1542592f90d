package rediscache

import (
	"time"

	"github.com/pgxperf/pgxperf/internal/expiry"
)

// expiry returns the jittered TTL to give Redis for an entry written now and
// the entry's refresh-at time in Unix milliseconds (0: no early refresh).
func (m *Cache) expiry(ttl time.Duration) (time.Duration, int64) {
	return expiry.Jittered(ttl, m.jitter, m.early)
}
