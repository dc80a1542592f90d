package querycache

import (
	"math/rand/v2"
	"strings"
	"time"
)

// Named TTLs for the kinds of values the Manager holds. Pass them as the ttl
// argument of GetOrLoad, GetMany, Set and Warm; any positive duration works.
const (
	TTLSession          = 24 * time.Hour   // SESSION: login sessions
	TTLGitHubAPI        = 15 * time.Minute // GITHUB_API: external API responses
	TTLGeneratedContent = time.Hour        // GENERATED_CONTENT: rendered or generated output
	TTLPlatformMetadata = 24 * time.Hour   // PLATFORM_METADATA: slow-changing platform data
	TTLUserQuota        = time.Hour        // USER_QUOTA: per-user quotas and prefixCounters
	TTLQueryResults     = 5 * time.Minute  // QUERY_RESULTS: SQL query results
)

var namedTTLs = map[string]time.Duration{
	"SESSION":           TTLSession,
	"GITHUB_API":        TTLGitHubAPI,
	"GENERATED_CONTENT": TTLGeneratedContent,
	"PLATFORM_METADATA": TTLPlatformMetadata,
	"USER_QUOTA":        TTLUserQuota,
	"QUERY_RESULTS":     TTLQueryResults,
}

// NamedTTL returns the TTL for a class name such as "SESSION" or "github_api"
// (case-insensitive), for TTLs chosen in configuration files. It reports
// false for an unknown name.
func NamedTTL(name string) (time.Duration, bool) {
	d, ok := namedTTLs[strings.ToUpper(strings.TrimSpace(name))]
	return d, ok
}

// expiry returns the jittered TTL to give Redis for an entry written now and
// the entry's refresh-at time in Unix milliseconds (0: no early refresh).
func (m *Manager) expiry(ttl time.Duration) (time.Duration, int64) {
	return jitteredExpiry(ttl, m.jitter, m.early)
}

// jitteredExpiry multiplies ttl by a random factor in [1-jitter, 1+jitter]
// (no jitter when jitter ≤ 0) and returns it with the refresh-at time, in
// Unix milliseconds, at which the last early fraction of it begins (0 when
// early ≤ 0). Shared by the Manager and the QueryCache.
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
