package rediscache

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// PrefixStats is a snapshot of the Cache's counters for one key prefix.
//
// A key's prefix is the part of the key (as the caller passed it, without
// Config.Prefix) before its first ':'; keys without a ':' count under "".
// "gh:repos:1" and "gh:users:2" both count under "gh". After 256 distinct
// prefixes, new ones count under the prefix "(other)", so a key scheme
// without a fixed first segment cannot grow the table forever.
//
// All counters are cumulative since New.
type PrefixStats struct {
	Prefix string

	Hits   uint64 // calls answered from Redis (a single-flight follower of a hit counts)
	Misses uint64 // calls not answered from Redis, including Bypasses

	Loads      uint64 // keys requested from a loader: one per key, so a GetMany load of 3 keys counts 3
	LoadErrors uint64 // of Loads, the ones whose loader returned an error or panicked
	Refreshes  uint64 // background early refreshes started

	RedisErrors uint64 // failed Redis calls (redis.Nil, a miss, is not an error)
	CodecErrors uint64 // values that could not be encoded, entries that could not be decoded
	Bypasses    uint64 // calls that skipped Redis because the breaker was open

	Sets        uint64 // entries written (GetOrLoad, GetMany, Set, Warm, refreshes)
	Deletes     uint64 // keys passed to Delete
	Invalidated uint64 // keys removed by InvalidatePattern
}

// otherPrefix is the PrefixStats.Prefix under which keys count once the
// table of prefixes is full.
const otherPrefix = "(other)"

const maxStatsPrefixes = 256

type prefixCounters struct {
	hits, misses, loads, loadErrors, refreshes atomic.Uint64
	redisErrors, codecErrors, bypasses         atomic.Uint64
	sets, deletes, invalidated                 atomic.Uint64
}

// statsTable maps prefixes to prefixCounters. Reads are lock-free (a copy-on-write
// map behind an atomic pointer); adding a prefix copies the map under mu.
type statsTable struct {
	m  atomic.Pointer[map[string]*prefixCounters]
	mu sync.Mutex
}

func keyPrefix(key string) string {
	if i := strings.IndexByte(key, ':'); i >= 0 {
		return key[:i]
	}
	return ""
}

// of returns the prefixCounters for key's prefix.
func (t *statsTable) of(key string) *prefixCounters {
	p := keyPrefix(key)
	if m := t.m.Load(); m != nil {
		if c, ok := (*m)[p]; ok {
			return c
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.m.Load()
	if old != nil {
		if c, ok := (*old)[p]; ok {
			return c
		}
		if len(*old) >= maxStatsPrefixes {
			if c, ok := (*old)[otherPrefix]; ok {
				return c
			}
			p = otherPrefix
		}
	}
	next := make(map[string]*prefixCounters)
	if old != nil {
		maps.Copy(next, *old)
	}
	c := new(prefixCounters)
	next[strings.Clone(p)] = c // don't pin the caller's key in memory
	t.m.Store(&next)
	return c
}

func (t *statsTable) snapshot() []PrefixStats {
	m := t.m.Load()
	if m == nil {
		return nil
	}
	out := make([]PrefixStats, 0, len(*m))
	for p, c := range *m {
		out = append(out, PrefixStats{
			Prefix:      p,
			Hits:        c.hits.Load(),
			Misses:      c.misses.Load(),
			Loads:       c.loads.Load(),
			LoadErrors:  c.loadErrors.Load(),
			Refreshes:   c.refreshes.Load(),
			RedisErrors: c.redisErrors.Load(),
			CodecErrors: c.codecErrors.Load(),
			Bypasses:    c.bypasses.Load(),
			Sets:        c.sets.Load(),
			Deletes:     c.deletes.Load(),
			Invalidated: c.invalidated.Load(),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

// Stats returns a snapshot of the counters, one PrefixStats per key prefix
// seen so far, sorted by prefix. Safe for concurrent use; each counter is
// read atomically, but the snapshot as a whole is not taken at one instant.
func (m *Cache) Stats() []PrefixStats { return m.stats.snapshot() }

// BreakerStats reports the breaker's state and how many times it has opened
// since New.
type BreakerStats struct {
	State BreakerState
	Opens uint64
}

// BreakerStats returns the circuit breaker's state. Safe for concurrent use.
func (m *Cache) BreakerStats() BreakerStats {
	return BreakerStats{State: BreakerState(m.breaker.State()), Opens: m.breaker.Opens()}
}
