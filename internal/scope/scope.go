// Package scope is the plumbing between package tracer and package n1detect:
// a Scope carried by a context.Context receives every statement a tracer
// traces with that context, and a Sink keeps the findings a scope reports
// for the statistics of one tracer registry.
//
// n1detect implements Scope (an unexported type); tracer looks it up in the
// context of each statement and owns one Sink per registry. Neither the
// interface nor the statement type is part of the public API.
package scope

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Stmt is a finished statement as a scope sees it.
type Stmt struct {
	Info *sqlinfo.Info
	// SQL is the text as the application sent it; Args its arguments (pgx's
	// leading option arguments removed). Args is only valid during the call.
	SQL  string
	Args []any
	// Start is when the statement started; Duration its execution time
	// (prepare time excluded).
	Start       time.Time
	Duration    time.Duration
	PrepareTime time.Duration
	Rows        int64
	// Cached is true for a read a result cache served.
	Cached bool
	// Batch is true for a statement of a pgx.Batch; BatchID tells batches apart.
	Batch   bool
	BatchID uint64
}

// Scope receives every statement run with a context that carries it (see
// With). Statements run with a context derived from the scope's, including
// in goroutines, reach the same Scope, so its methods must be safe for
// concurrent use and fast.
type Scope interface {
	// WantCallers reports whether ObserveStatement needs the program counters
	// of the statement's callers; capturing them costs a stack walk.
	WantCallers() bool
	// ObserveStatement is called when a statement ends, on its goroutine.
	// sink is where findings about it go (the registry of the tracer that
	// traced it; nil when there is none). pcs are the callers' program
	// counters captured when it started (nil unless WantCallers), as
	// runtime.Callers gives them. It must not retain st.Args or pcs.
	ObserveStatement(ctx context.Context, sink *Sink, st Stmt, pcs []uintptr)
}

type key struct{}

// box lets With store a nil Scope that still hides outer ones.
type box struct{ s Scope }

// used is false until the first With: until then no statement pays for the
// context lookup.
var used atomic.Bool

// With returns a context that carries s. Statements traced with that context
// (or one derived from it) are reported to s; a nil s hides an enclosing scope.
func With(ctx context.Context, s Scope) context.Context {
	used.Store(true)
	return context.WithValue(ctx, key{}, box{s})
}

// From returns the scope ctx carries, or nil.
func From(ctx context.Context) Scope {
	if !used.Load() {
		return nil
	}
	if b, ok := ctx.Value(key{}).(box); ok {
		return b.s
	}
	return nil
}

// Record is a finding kept by a Sink. Records with the same ID are merged:
// Occurrences counts how many scopes reported it, and the other fields are
// those of the report with the largest Count.
type Record struct {
	ID          string
	Fingerprint uint64
	Count       int
	Total       time.Duration
	// Finding is the reporter's own value (an n1detect.Finding).
	Finding     any
	FirstSeen   time.Time
	LastSeen    time.Time
	Occurrences int64
}

// maxRecords bounds the distinct findings a Sink keeps.
const maxRecords = 256

// Sink keeps the findings reported for one statistics registry. It is safe
// for concurrent use.
type Sink struct {
	mu    sync.Mutex
	byID  map[string]*Record
	count func(fingerprint uint64)
}

// NewSink returns an empty sink; count, when not nil, is called once per
// recorded finding with its statement's fingerprint.
func NewSink(count func(fingerprint uint64)) *Sink { return &Sink{count: count} }

// Record adds a finding (its ID, Fingerprint, Count, Total and Finding),
// merging it with an earlier one of the same ID, and counts it against its
// fingerprint. Beyond 256 distinct findings new IDs are only counted.
func (s *Sink) Record(r Record) {
	now := time.Now()
	s.mu.Lock()
	if s.byID == nil {
		s.byID = make(map[string]*Record)
	}
	if cur, ok := s.byID[r.ID]; ok {
		cur.Occurrences++
		cur.LastSeen = now
		if r.Count > cur.Count {
			occ, first := cur.Occurrences, cur.FirstSeen
			*cur = r
			cur.Occurrences, cur.FirstSeen, cur.LastSeen = occ, first, now
		}
	} else if len(s.byID) < maxRecords {
		r.Occurrences, r.FirstSeen, r.LastSeen = 1, now, now
		s.byID[r.ID] = &r
	}
	s.mu.Unlock()
	if s.count != nil {
		s.count(r.Fingerprint)
	}
}

// Snapshot returns a copy of the records, largest total time first (ties by ID).
func (s *Sink) Snapshot() []Record {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	out := make([]Record, 0, len(s.byID))
	for _, v := range s.byID {
		out = append(out, *v)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Reset discards every record.
func (s *Sink) Reset() {
	s.mu.Lock()
	s.byID = nil
	s.mu.Unlock()
}
