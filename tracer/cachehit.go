package tracer

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/selfsql"
)

// isInternal reports whether sql is one of pgxperf's own statements (its
// catalog lookups, marked by a leading /* pgxperf:catalog */ comment). A
// Tracer records none of them: they are not the application's statements, in
// the statistics or in a scope.
func isInternal(sql string) bool { return selfsql.Is(sql) }

// CacheHit describes a read that a result cache answered without a round trip
// to the database (see Tracer.ObserveCacheHit).
type CacheHit struct {
	// SQL is the statement as the application sent it; Args its arguments
	// (not retained unless Config.RedactArgs keeps a redacted copy).
	SQL  string
	Args []any
	// Start is when the lookup began; Duration how long the cache took to
	// answer, decoding included.
	Start    time.Time
	Duration time.Duration
	// Rows is the number of rows the cached result holds.
	Rows int64
}

// CacheStats are the reads of one statement served by a result cache.
type CacheStats struct {
	Hits int64
	Rows int64
	// Latency of the cache's answers, lookup and decoding included.
	Total, Min, Max, Mean time.Duration
	P50, P95, P99         time.Duration
}

// cacheStats is an entry's record of cache hits, guarded by the entry's mutex.
type cacheStats struct {
	hits, rows      int64
	total, min, max time.Duration
	hist            histogram
}

func (e *entry) recordCached(ev *Event) {
	c := e.cached
	if c == nil {
		c = new(cacheStats)
		e.cached = c
	}
	d := ev.Duration
	c.hits++
	if c.hits == 1 || d < c.min {
		c.min = d
	}
	if d > c.max {
		c.max = d
	}
	c.total += d
	c.rows += ev.Rows
	c.hist.record(d)
	if e.calls == 0 && (e.first.IsZero() || ev.Start.Before(e.first)) {
		e.first = ev.Start
	}
	if ev.Start.After(e.last) {
		e.last = ev.Start
	}
}

func (c *cacheStats) snapshot() CacheStats {
	s := CacheStats{Hits: c.hits, Rows: c.rows, Total: c.total, Min: c.min, Max: c.max}
	if c.hits > 0 {
		s.Mean = c.total / time.Duration(c.hits)
		s.P50 = c.hist.quantile(0.50, c.hits, c.min, c.max)
		s.P95 = c.hist.quantile(0.95, c.hits, c.min, c.max)
		s.P99 = c.hist.quantile(0.99, c.hits, c.min, c.max)
	}
	return s
}

// cacheCallers bounds the stack captured for a cache hit: a hit is observed
// deeper inside the library than a statement's start (the cache's own frames
// sit between the application and this method).
const cacheCallers = 24

// ObserveCacheHit records a read that a result cache served instead of the
// database: in its statement's statistics (StatementStats.Cache, apart from
// the database's Calls and latencies), for the observers (Event.Cached is
// true) and for the n1detect scope ctx carries, which counts it like any statement:
// a loop of reads served from a cache is still an N+1 (each costs a round trip
// to the cache), and the hits count toward statement budgets. Hits are never
// logged as slow. The query cache of a pgxperf.Pool calls it for every hit;
// a cache of your own may call it too. It is safe for
// concurrent use; a nil Tracer does nothing.
func (t *Tracer) ObserveCacheHit(ctx context.Context, hit CacheHit) {
	if t == nil || isInternal(hit.SQL) {
		return
	}
	sql, args := hit.SQL, hit.Args
	for len(args) > 0 { // pgx's leading option arguments are not arguments
		switch args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			args = args[1:]
			continue
		}
		break
	}
	ev := Event{
		Op:       OpQuery,
		info:     t.analyzer.Analyze(sql),
		SQL:      sql,
		Args:     args,
		Start:    hit.Start,
		Duration: hit.Duration,
		Rows:     hit.Rows,
		Role:     t.role,
		Cached:   true,
	}
	ev.Fingerprint = ev.info.Fingerprint
	t.reg.record(&ev, nil)
	for _, o := range t.observers {
		o(ctx, ev)
	}
	if sc := scope.From(ctx); sc != nil {
		var buf [cacheCallers]uintptr
		var pcs []uintptr
		if sc.WantCallers() {
			pcs = buf[:callers(2, buf[:])]
		}
		sc.ObserveStatement(ctx, t.reg.sink, ev.stmt(), pcs)
	}
}
