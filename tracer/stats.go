package tracer

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Role says which kind of server a pool talks to.
type Role uint8

// Pool roles. A Tracer created with New records RolePrimary; pgxperf.Pool
// gives the pools of its replicas Tracers that record RoleReplica into the
// primary's statistics.
const (
	RolePrimary Role = iota
	RoleReplica
)

// String returns "primary" or "replica".
func (r Role) String() string {
	if r == RoleReplica {
		return "replica"
	}
	return "primary"
}

// registry holds per-fingerprint statistics, the client-side counterpart of
// pg_stat_statements. It is safe for concurrent use; recording a statement takes
// one read-locked map lookup on one of 64 shards and one short per-entry lock.
// The zero value is not usable: create one with newRegistry (New does it).
type registry struct {
	mu     sync.RWMutex // guards since; held for writing by reset
	since  time.Time
	shards [registryShards]registryShard
	pool   poolStats
	// sink keeps the findings of scopes (n1detect) about these statements.
	sink *scope.Sink
	// perShard bounds the fingerprints kept per shard; beyond it statements are
	// counted in overflow, like pg_stat_statements.max.
	perShard int
	overflow atomic.Pointer[entry]
	// front maps an analysis (*sqlinfo.Info, one per distinct SQL text) to its
	// entry without taking a shard lock: a direct-mapped table checked by
	// pointer, invalidated by reset through gen.
	front [frontSlots]atomic.Pointer[frontRef]
	gen   atomic.Uint64
}

// frontRef pairs an analysis with its entry. A statement carries the pair
// from start to end, and a pool connection remembers its last one, so a
// repeated statement finds its entry without a table lookup.
type frontRef struct {
	info *sqlinfo.Info
	e    *entry
	gen  uint64
	reg  *registry // e's
}

const frontSlots = 1024

func frontIndex(info *sqlinfo.Info) uintptr {
	p := uintptr(unsafe.Pointer(info))
	return ((p >> 4) * 0x9E3779B97F4A7C15) >> (64 - 10) & (frontSlots - 1)
}

// defaultMaxFingerprints is the number of distinct fingerprints a registry
// keeps by default (pg_stat_statements.max has the same default).
const defaultMaxFingerprints = 5000

// overflowInfo stands for every statement recorded after the registry is full.
var overflowInfo = &sqlinfo.Info{
	FingerprintHex: "0000000000000000",
	Normalized:     "<other statements: fingerprint limit reached>",
	Kind:           sqlinfo.KindUnparsed,
	Reason:         "fingerprint limit reached",
}

const registryShards = 64

type registryShard struct {
	mu sync.RWMutex
	m  map[uint64]*entry
	_  [40]byte // keep shards on separate cache lines
}

// newRegistry returns an empty registry that keeps at most maxFingerprints
// distinct fingerprints (defaultMaxFingerprints when ≤ 0); statements beyond
// that are counted together under fingerprint 0.
func newRegistry(maxFingerprints int) *registry {
	if maxFingerprints <= 0 {
		maxFingerprints = defaultMaxFingerprints
	}
	r := &registry{since: time.Now(), perShard: (maxFingerprints + registryShards - 1) / registryShards}
	r.sink = scope.NewSink(r.countFinding)
	r.overflow.Store(&entry{info: overflowInfo})
	for i := range r.shards {
		r.shards[i].m = make(map[uint64]*entry)
	}
	return r
}

// entry is one fingerprint's statistics. Every field is guarded by mu.
type entry struct {
	mu          sync.Mutex
	fingerprint uint64
	info        *sqlinfo.Info // first text seen with this fingerprint

	calls, errs, rows int64
	errCodes          map[string]int64
	total, min, max   time.Duration
	mean, m2          float64 // Welford's running mean and sum of squares, in ns
	hist              histogram
	first, last       time.Time
	acquireWait       time.Duration
	acquires          int64
	prepareTime       time.Duration
	prepares          int64
	byRole            [2]int64
	batched           int64
	findings          int64
	slowest           Sample
	stale             bool        // dropped by reset: record looks the fingerprint up again
	cached            *cacheStats // reads served by a result cache; nil until the first
}

// ref returns the analysis paired with its entry.
func (r *registry) ref(info *sqlinfo.Info) *frontRef {
	slot := &r.front[frontIndex(info)]
	gen := r.gen.Load()
	if ref := slot.Load(); ref != nil && ref.info == info && ref.gen == gen {
		return ref
	}
	ref := &frontRef{info: info, e: r.lookup(info), gen: gen, reg: r}
	slot.Store(ref)
	return ref
}

// batchShapeSalt separates the statistics of a batch-shaped statement
// (id = ANY($1), id IN (…)) from those of its per-value form (id = $1), which
// pg_query fingerprints alike: the N+1 that n1detect flags and the batched
// query it recommends must not share one row of the report.
const batchShapeSalt = 0x6261746368656421 // "batched!"

// statKey is the registry key of an analysis: its fingerprint, salted when
// the statement is batch-shaped.
func statKey(info *sqlinfo.Info) uint64 {
	if info.BatchShaped {
		return info.Fingerprint ^ batchShapeSalt
	}
	return info.Fingerprint
}

func (r *registry) lookup(info *sqlinfo.Info) *entry {
	key := statKey(info)
	sh := &r.shards[key%registryShards]
	sh.mu.RLock()
	e := sh.m[key]
	sh.mu.RUnlock()
	if e != nil {
		return e
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e = sh.m[key]; e == nil {
		if len(sh.m) >= r.perShard {
			return r.overflow.Load()
		}
		e = &entry{fingerprint: info.Fingerprint, info: info}
		sh.m[key] = e
	}
	return e
}

// record adds one finished statement to e, its info's entry (nil: look it
// up). It returns the entry and true when the statement is the slowest seen
// for its fingerprint: the caller then builds the sample off the lock and
// stores it with setSlowest.
func (r *registry) record(ev *Event, e *entry) (*entry, bool) {
	if e == nil {
		e = r.ref(ev.info).e
	}
	d := ev.Duration
	e.mu.Lock()
	for e.stale { // e was looked up before a reset
		e.mu.Unlock()
		e = r.ref(ev.info).e
		e.mu.Lock()
	}
	if ev.Cached {
		e.recordCached(ev)
		e.mu.Unlock()
		return e, false
	}
	e.calls++
	if e.calls == 1 {
		e.first = ev.Start
		e.min, e.max = d, d
	} else {
		if d < e.min {
			e.min = d
		}
		if d > e.max {
			e.max = d
		}
	}
	e.last = ev.Start
	e.total += d
	delta := float64(d) - e.mean
	e.mean += delta / float64(e.calls)
	e.m2 += delta * (float64(d) - e.mean)
	e.hist.record(d)
	e.rows += ev.Rows
	if ev.Err != nil {
		if code := errorCode(ev.Err); code != "" {
			e.errs++
			if e.errCodes == nil {
				e.errCodes = make(map[string]int64, 2)
			}
			e.errCodes[code]++
		}
	}
	if ev.AcquireWait > 0 {
		e.acquireWait += ev.AcquireWait
		e.acquires++
	}
	if ev.PrepareTime > 0 {
		e.prepareTime += ev.PrepareTime
		e.prepares++
	}
	e.byRole[ev.Role&1]++
	if ev.Batch {
		e.batched++
	}
	slowest := d > e.slowest.Duration || e.calls == 1
	if slowest {
		e.slowest = Sample{Duration: d, At: ev.Start, Role: ev.Role}
	}
	e.mu.Unlock()
	return e, slowest
}

// setSlowest stores s as the slowest sample unless a slower one arrived meanwhile.
func (e *entry) setSlowest(s Sample) {
	e.mu.Lock()
	if e.slowest.Duration == s.Duration && e.slowest.At.Equal(s.At) {
		e.slowest = s
	}
	e.mu.Unlock()
}

// Sample is one recorded execution: the slowest of a fingerprint.
type Sample struct {
	Duration time.Duration
	At       time.Time
	// SQL is the statement text as sent (at most 4 KiB; longer texts are cut).
	SQL string
	// Args holds the arguments as returned by Config.RedactArgs; nil unless the
	// application opted in by setting it.
	Args     []any
	CallSite CallSite
	Role     Role
	Err      string
}

// StatementStats is a copy of one fingerprint's statistics.
type StatementStats struct {
	Fingerprint    uint64
	FingerprintHex string
	// Query is the normalized text of the first statement seen with this fingerprint.
	Query    string
	SQLCName string
	Kind     string
	ReadOnly bool
	Tables   []string

	Calls  int64
	Errors int64 // errors, by SQLSTATE in ErrorsByCode; pgx.ErrNoRows is not an error
	// ErrorsByCode counts errors by SQLSTATE, or "canceled", "timeout", "connection",
	// "pool closed" or "client" (a Scan or encode error) for errors that are not from the server.
	ErrorsByCode map[string]int64
	Rows         int64

	// Execution time: from the start of the call to the end of reading its result,
	// less any prepare time. Connection-acquire wait is not included.
	Total, Min, Max, Mean, StdDev time.Duration
	P50, P95, P99                 time.Duration

	FirstSeen, LastSeen time.Time

	// AcquireWait is the total time spent waiting for a pool connection before
	// the statements of this fingerprint (Acquires of them waited at all).
	AcquireWait time.Duration
	Acquires    int64
	// PrepareTime is the total time spent preparing this statement (Prepares times).
	PrepareTime time.Duration
	Prepares    int64

	PrimaryCalls, ReplicaCalls int64
	// BatchCalls counts executions inside a pgx.Batch.
	BatchCalls int64
	// Findings counts the detector findings (N+1 …) about this statement.
	Findings int64

	// BatchShaped is true for the statistics of the statement's batch-shaped
	// form (id = ANY($1), id IN (…), multi-row VALUES). pg_query, like
	// pg_stat_statements, gives it the fingerprint of the per-value form
	// (id = $1); pgxperf keeps the two apart, so a fingerprint may have two
	// entries, told apart by this field.
	BatchShaped bool

	// Cache holds the reads of this statement served by a result cache (the
	// query cache): they are not in Calls, Rows nor the latencies above, which
	// count executions on a database server only.
	Cache CacheStats

	Slowest Sample
}

func (e *entry) snapshot() StatementStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := StatementStats{
		Fingerprint:    e.fingerprint,
		FingerprintHex: e.info.FingerprintHex,
		Query:          e.info.Normalized,
		SQLCName:       e.info.SQLCName,
		Kind:           e.info.Kind.String(),
		ReadOnly:       e.info.ReadOnly,
		Calls:          e.calls,
		Errors:         e.errs,
		Rows:           e.rows,
		Total:          e.total,
		Min:            e.min,
		Max:            e.max,
		FirstSeen:      e.first,
		LastSeen:       e.last,
		AcquireWait:    e.acquireWait,
		Acquires:       e.acquires,
		PrepareTime:    e.prepareTime,
		Prepares:       e.prepares,
		PrimaryCalls:   e.byRole[RolePrimary],
		ReplicaCalls:   e.byRole[RoleReplica],
		BatchCalls:     e.batched,
		Findings:       e.findings,
		BatchShaped:    e.info.BatchShaped,
		Slowest:        e.slowest,
	}
	if e.cached != nil {
		s.Cache = e.cached.snapshot()
	}
	s.Tables = append(append([]string(nil), e.info.TablesRead...), e.info.TablesWritten...)
	if len(e.errCodes) > 0 {
		s.ErrorsByCode = make(map[string]int64, len(e.errCodes))
		for k, v := range e.errCodes {
			s.ErrorsByCode[k] = v
		}
	}
	if e.calls > 0 {
		s.Mean = time.Duration(e.mean)
		if e.calls > 1 {
			s.StdDev = time.Duration(math.Sqrt(e.m2 / float64(e.calls)))
		}
		s.P50 = e.hist.quantile(0.50, e.calls, e.min, e.max)
		s.P95 = e.hist.quantile(0.95, e.calls, e.min, e.max)
		s.P99 = e.hist.quantile(0.99, e.calls, e.min, e.max)
	}
	if e.slowest.Args != nil {
		s.Slowest.Args = append([]any(nil), e.slowest.Args...)
	}
	return s
}

// Snapshot is a copy of a Tracer's statistics at one moment (see
// Tracer.Snapshot). Each StatementStats is internally consistent (copied
// under its entry's lock). Sort Statements with slices.SortFunc for another
// order than total time.
type Snapshot struct {
	// Since is when the Tracer started counting (New or the last Reset).
	Since time.Time
	// Taken is when the snapshot was taken.
	Taken time.Time
	// Statements are sorted by total time, largest first, ties by
	// fingerprint (the per-value form before the batch-shaped one).
	Statements []StatementStats
	Pool       PoolStats
}

// Lookup returns the statistics of one fingerprint: those of its per-value
// form when both it and its batch-shaped form ran (see StatementStats.BatchShaped).
func (s Snapshot) Lookup(fingerprint uint64) (StatementStats, bool) {
	var found StatementStats
	ok := false
	for _, st := range s.Statements {
		if st.Fingerprint == fingerprint && (!ok || found.BatchShaped && !st.BatchShaped) {
			found, ok = st, true
		}
	}
	return found, ok
}

// snapshot copies the registry, sorted by total time.
func (r *registry) snapshot() Snapshot {
	r.mu.RLock()
	since := r.since
	r.mu.RUnlock()
	snap := Snapshot{Since: since, Taken: time.Now(), Pool: r.pool.snapshot()}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		entries := make([]*entry, 0, len(sh.m))
		for _, e := range sh.m {
			entries = append(entries, e)
		}
		sh.mu.RUnlock()
		for _, e := range entries {
			snap.Statements = append(snap.Statements, e.snapshot())
		}
	}
	if ov := r.overflow.Load().snapshot(); ov.Calls > 0 {
		snap.Statements = append(snap.Statements, ov)
	}
	sortByTotal(snap.Statements)
	return snap
}

// sortByTotal orders statements by total time, largest first, ties broken by
// fingerprint and then the per-value form before the batch-shaped one.
func sortByTotal(sts []StatementStats) {
	sort.SliceStable(sts, func(i, j int) bool {
		a, b := &sts[i], &sts[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		if a.Fingerprint != b.Fingerprint {
			return a.Fingerprint < b.Fingerprint
		}
		return !a.BatchShaped && b.BatchShaped
	})
}

// reset discards every statistic and restarts the clock.
func (r *registry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := []*entry{r.overflow.Load()}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			old = append(old, e)
		}
		sh.m = make(map[uint64]*entry)
		sh.mu.Unlock()
	}
	r.overflow.Store(&entry{info: overflowInfo})
	r.gen.Add(1)
	// Statements hold entries from before (see frontRef): send them to the new ones.
	for _, e := range old {
		e.mu.Lock()
		e.stale = true
		e.mu.Unlock()
	}
	r.pool.reset()
	r.sink.Reset()
	r.since = time.Now()
}

// len returns the number of fingerprints recorded.
func (r *registry) len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
