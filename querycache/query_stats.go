package querycache

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// StatementStats are the query cache's counts for one fingerprint.
type StatementStats struct {
	Fingerprint string // 16 hex digits, as in the tracer's statistics
	Normalized  string // a normalized text of the statement
	SQLCName    string

	Hits      int64 // served from the cache (Redis or in-process)
	L1Hits    int64 // of Hits, served from process memory
	Misses    int64 // opted in, cacheable, not found (or stale): read from the database
	Coalesced int64 // misses that waited for another caller's load instead of querying
	Stale     int64 // entries found but invalidated by a write since they were stored
	Stores    int64 // results written to Redis
	TooLarge  int64 // results above MaxResultBytes, served but not stored
	Bypasses  int64 // opted in but not cached: see LastBypass
	Errors    int64 // Redis errors met on this statement's calls (the call itself succeeded)
	// Invalidations counts this statement's committed writes that
	// invalidated cached results.
	Invalidations int64
	// LastBypass is why the last bypass happened ("calls function now,
	// which is not IMMUTABLE", "redis unavailable", …).
	LastBypass string
}

// TableStats count the invalidations of one table (database/relation).
type TableStats struct {
	Table         string
	Invalidations int64
}

// Stats is a snapshot of a QueryCache's figures.
type Stats struct {
	Statements []StatementStats // by Hits+Misses, then Bypasses, descending
	Tables     []TableStats     // by Invalidations, descending
	Breaker    BreakerState
	// RedisErrors counts every failed Redis call; PendingInvalidations the
	// tables whose invalidation is waiting for Redis to come back.
	RedisErrors          int64
	PendingInvalidations int
	// L1Entries and L1Bytes describe the in-process cache (0 when off);
	// L1Live is false while the invalidation channel is not subscribed.
	L1Entries int
	L1Bytes   uint64
	L1Live    bool
}

// maxStatsStatements bounds the fingerprints counted one by one; the rest
// share one row whose Fingerprint is "(other)".
const maxStatsStatements = 4096

type fpCounters struct {
	fingerprint, normalized, sqlc string

	hits, l1Hits, misses, coalesced, stale, stores, tooLarge, bypasses, errors, invalidations atomic.Int64
	lastBypass                                                                                atomic.Pointer[string]
}

func (f *fpCounters) bypass(reason string) {
	f.bypasses.Add(1)
	if p := f.lastBypass.Load(); p == nil || *p != reason {
		f.lastBypass.Store(&reason)
	}
}

type queryStats struct {
	mu     sync.RWMutex
	m      map[uint64]*fpCounters
	other  *fpCounters
	tables map[string]int64

	redisErrors atomic.Int64
}

func (s *queryStats) init() {
	s.m = map[uint64]*fpCounters{}
	s.other = &fpCounters{fingerprint: "(other)"}
	s.tables = map[string]int64{}
}

func (s *queryStats) of(info *sqlinfo.Info) *fpCounters {
	s.mu.RLock()
	f := s.m[info.Fingerprint]
	s.mu.RUnlock()
	if f != nil {
		return f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f = s.m[info.Fingerprint]; f != nil {
		return f
	}
	if len(s.m) >= maxStatsStatements {
		return s.other
	}
	norm := info.Normalized
	if len(norm) > 2048 {
		norm = norm[:2048]
	}
	f = &fpCounters{fingerprint: info.FingerprintHex, normalized: norm, sqlc: info.SQLCName}
	s.m[info.Fingerprint] = f
	return f
}

func (s *queryStats) countTables(tags []string) {
	s.mu.Lock()
	for _, t := range tags {
		if _, ok := s.tables[t]; ok || len(s.tables) < maxStatsStatements {
			s.tables[t]++
		}
	}
	s.mu.Unlock()
}

func (f *fpCounters) snapshot() StatementStats {
	st := StatementStats{
		Fingerprint: f.fingerprint, Normalized: f.normalized, SQLCName: f.sqlc,
		Hits: f.hits.Load(), L1Hits: f.l1Hits.Load(), Misses: f.misses.Load(), Coalesced: f.coalesced.Load(),
		Stale: f.stale.Load(), Stores: f.stores.Load(), TooLarge: f.tooLarge.Load(), Bypasses: f.bypasses.Load(),
		Errors: f.errors.Load(), Invalidations: f.invalidations.Load(),
	}
	if p := f.lastBypass.Load(); p != nil {
		st.LastBypass = *p
	}
	return st
}

// Stats returns a snapshot of the cache's figures. Safe for concurrent use;
// each counter is read atomically, but the snapshot as a whole is not taken
// at one instant.
func (c *QueryCache) Stats() Stats {
	s := &c.stats
	out := Stats{Breaker: BreakerState(c.breaker.State()), RedisErrors: s.redisErrors.Load(), L1Live: c.l1Live.Load()}
	s.mu.RLock()
	for _, f := range s.m {
		out.Statements = append(out.Statements, f.snapshot())
	}
	if o := s.other.snapshot(); o.Hits+o.Misses+o.Bypasses+o.Invalidations > 0 {
		out.Statements = append(out.Statements, o)
	}
	for t, n := range s.tables {
		out.Tables = append(out.Tables, TableStats{Table: t, Invalidations: n})
	}
	s.mu.RUnlock()
	sort.Slice(out.Statements, func(i, j int) bool {
		a, b := out.Statements[i], out.Statements[j]
		if a.Hits+a.Misses != b.Hits+b.Misses {
			return a.Hits+a.Misses > b.Hits+b.Misses
		}
		if a.Bypasses != b.Bypasses {
			return a.Bypasses > b.Bypasses
		}
		return a.Fingerprint < b.Fingerprint
	})
	sort.Slice(out.Tables, func(i, j int) bool {
		if out.Tables[i].Invalidations != out.Tables[j].Invalidations {
			return out.Tables[i].Invalidations > out.Tables[j].Invalidations
		}
		return out.Tables[i].Table < out.Tables[j].Table
	})
	c.inval.pendingMu.Lock()
	out.PendingInvalidations = len(c.inval.pending)
	c.inval.pendingMu.Unlock()
	if c.l1 != nil {
		out.L1Entries = c.l1.c.EstimatedSize()
		out.L1Bytes = c.l1.c.WeightedSize()
	}
	return out
}

// ResetStats zeroes the per-statement and per-table counts (RedisErrors and
// the breaker's state are kept). Safe for concurrent use with every other
// method; counts of calls in flight while it runs may be lost.
func (c *QueryCache) ResetStats() {
	s := &c.stats
	s.mu.Lock()
	s.m = map[uint64]*fpCounters{}
	s.other = &fpCounters{fingerprint: "(other)"}
	s.tables = map[string]int64{}
	s.mu.Unlock()
}
