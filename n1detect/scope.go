package n1detect

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Scope is one unit of work whose statements are checked for N+1 patterns:
// an HTTP request, a test, a job, or any block the application marks. It
// counts statements by (application call site, statement shape) and keeps
// counts and a few hashes, never the statements themselves. It is safe for
// concurrent use, so a fan-out of goroutines counts in its parent's scope.
// Create one with Start; the zero Scope is not usable.
type Scope struct {
	name    string
	cfg     Config
	started time.Time

	mu           sync.Mutex
	groups       map[groupKey]*group
	order        []*group // in order of first statement
	repeats      map[repeatKey]*repeat
	statements   int
	ignored      int
	dropped      int // statements not grouped (MaxGroups reached)
	fingerprints map[uint64]int
	last         *group // group of the most recent statement
	seq          uint64 // grouped statements so far
	// recent are the groups that ran last, most recent first: a new group's
	// candidate parents (see parent.go).
	recent  [maxCandidates]*group
	nrecent int
	// sinks are where the findings go: one per statistics registry of the
	// tracers that traced the scope's statements.
	sinks    map[*scope.Sink]struct{}
	lastSink *scope.Sink // the last one added to sinks
	finished bool
	findings []Finding
	outer    *Scope // an enclosing scope that also counts these statements (Check)
}

// groupKey identifies statements that repeat "the same" work: issued from
// the same application frames, of the same kind, on the same tables. The
// tables (not the fingerprint) key the group so that a per-item query whose
// WHERE clause varies between items is still one group.
type groupKey struct {
	site   uint64
	kind   sqlinfo.Kind
	tables uint64
}

type group struct {
	key      groupKey
	sites    [siteDepth]uintptr
	info     *sqlinfo.Info // the first statement's analysis
	example  string        // its SQL text (cut to 2 KiB)
	args     []any         // its arguments, redacted; nil unless opted in
	count    int
	distinct map[uint64]struct{}
	perFP    map[uint64]int // statements per fingerprint: one-off statements of a list are not a loop
	maxPerFP int
	total    time.Duration
	cached   int // statements served by a result cache (scope.Stmt.Cached)
	// chunked: some statements were batch-shaped with several values, or two
	// or more of the group's statements went in one pgx.Batch.
	chunked   bool
	lastBatch uint64
	inBatch   int
	// pages: distinct values of the non-cursor arguments of paged
	// statements; one value means a page walk, several mean one query per item.
	paged   bool
	nonPage map[uint64]struct{}
	first   time.Time
	// Parents (see parent.go): the group's latest run, its candidate
	// parents, and the statement whose rows were being read when it started.
	lastSeq   uint64
	lastRows  int64
	lastStart int64 // Unix ns
	cands     []candidate
	encl      *group
	enclStart int64 // Unix ns
}

// repeatKey finds the same read with the same arguments from different call
// sites (redundant work across a unit of work).
type repeatKey struct {
	fingerprint uint64
	args        uint64
}

type repeat struct {
	groups []*group
}

const (
	maxDistinct = 1024 // argument sets remembered per group
	maxRepeats  = 4096
)

type scopeKey struct{}

// Start begins a scope named name (a route, a test, a job) and returns a
// context that carries it. Every statement traced with that context, or a
// context derived from it, counts in the scope. Call Finish when the unit of
// work is done. A scope started in another scope's context hides the outer
// one from the statements it sees.
func Start(ctx context.Context, name string, cfg Config) (context.Context, *Scope) {
	s := &Scope{
		name:         name,
		cfg:          cfg,
		started:      time.Now(),
		groups:       make(map[groupKey]*group),
		repeats:      make(map[repeatKey]*repeat),
		fingerprints: make(map[uint64]int),
		sinks:        make(map[*scope.Sink]struct{}),
	}
	ctx = context.WithValue(ctx, scopeKey{}, s)
	return scope.With(ctx, (*observer)(s)), s
}

// fromContext returns the scope ctx carries, or nil.
func fromContext(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// Ignore returns a context whose statements are not checked for N+1
// patterns: mark a loop that is repetitive on purpose. They still count
// toward the scope's statement budgets. Without a scope in ctx it returns ctx.
func Ignore(ctx context.Context) context.Context {
	s := fromContext(ctx)
	if s == nil {
		return ctx
	}
	return scope.With(ctx, ignored{s})
}

func (s *Scope) setName(name string) {
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
}

// observer is the Scope as the tracers see it (internal/scope.Scope): its
// methods are not part of the Scope's API.
type observer Scope

var _ scope.Scope = (*observer)(nil)

// WantCallers implements scope.Scope.
func (*observer) WantCallers() bool { return true }

// ObserveStatement implements scope.Scope.
func (o *observer) ObserveStatement(_ context.Context, sink *scope.Sink, ev scope.Stmt, pcs []uintptr) {
	(*Scope)(o).observe(sink, ev, pcs)
}

// observe counts a statement and groups it by call site.
func (s *Scope) observe(sink *scope.Sink, ev scope.Stmt, pcs []uintptr) {
	if s.outer != nil {
		// An enclosing scope counts the statement for its budgets; the
		// verdict on it is this scope's.
		s.outer.count(sink, ev.Info)
	}
	info := ev.Info
	counted := countable(info)
	var (
		site  uint64
		sites [siteDepth]uintptr
		ok    bool
		args  uint64
	)
	if counted {
		site, sites, ok = callSite(pcs)
		args = hashArgs(ev.SQL, ev.Args)
	}
	multi := info.BatchShaped && multiValued(ev.Args)
	var nonPage uint64
	if info.Paged {
		nonPage = hashArgsExcept(ev.Args, info.CursorParams)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.countLocked(sink, info)
	if !counted || !ok {
		return
	}
	g := s.last // a loop's statements: the group of the previous one
	if g == nil || g.info != info || g.key.site != site {
		g = s.group(groupKey{site: site, kind: info.Kind, tables: tablesHash(info)}, sites, ev)
		if g == nil {
			return
		}
	}
	g.count++
	g.total += ev.Duration
	if ev.Cached {
		g.cached++
	}
	if len(g.distinct) < maxDistinct {
		g.distinct[args] = struct{}{}
	}
	if n, seen := g.perFP[info.Fingerprint]; seen || len(g.perFP) < 64 {
		g.perFP[info.Fingerprint] = n + 1
		g.maxPerFP = max(g.maxPerFP, n+1)
	}
	if multi {
		g.chunked = true
	}
	if ev.Batch {
		if ev.BatchID == g.lastBatch {
			g.inBatch++
			if g.inBatch >= 2 {
				g.chunked = true // several of them in one round trip
			}
		} else {
			g.lastBatch, g.inBatch = ev.BatchID, 1
		}
	}
	if info.Paged {
		g.paged = true
		if g.nonPage == nil {
			g.nonPage = make(map[uint64]struct{}, 2)
		}
		if len(g.nonPage) < maxDistinct {
			g.nonPage[nonPage] = struct{}{}
		}
	}
	s.last = g
	s.followLocked(g, ev.Rows, ev.Start)
	s.encloseLocked(g, &ev)
	if info.Kind == sqlinfo.KindSelect && !ev.Batch {
		rk := repeatKey{fingerprint: info.Fingerprint, args: args}
		r := s.repeats[rk]
		if r == nil && len(s.repeats) < maxRepeats {
			r = &repeat{}
			s.repeats[rk] = r
		}
		if r != nil && !slices.Contains(r.groups, g) && len(r.groups) < 8 {
			r.groups = append(r.groups, g)
		}
	}
}

// group returns the group of key, created for the statement ev (first seen
// at sites) unless the scope keeps MaxGroups already: then it returns nil.
func (s *Scope) group(key groupKey, sites [siteDepth]uintptr, ev scope.Stmt) *group {
	if g := s.groups[key]; g != nil {
		return g
	}
	if len(s.groups) >= s.cfg.maxGroups() {
		s.dropped++
		return nil
	}
	g := &group{key: key, sites: sites, info: ev.Info, example: cut(ev.SQL, 2048), first: ev.Start,
		distinct: make(map[uint64]struct{}, 4), perFP: make(map[uint64]int, 1)}
	if s.cfg.RedactArgs != nil && len(ev.Args) > 0 {
		g.args = s.cfg.RedactArgs(ev.SQL, ev.Args)
	}
	g.cands = s.candidatesLocked()
	s.groups[key] = g
	s.order = append(s.order, g)
	return g
}

// countLocked counts a statement for the budgets (s.mu held), and
// remembers the sink of the statistics it was traced into.
func (s *Scope) countLocked(sink *scope.Sink, info *sqlinfo.Info) {
	s.statements++
	s.fingerprints[info.Fingerprint]++
	if sink != nil && sink != s.lastSink {
		s.sinks[sink] = struct{}{}
		s.lastSink = sink
	}
}

// count records a statement for budgets only.
func (s *Scope) count(sink *scope.Sink, info *sqlinfo.Info) {
	if s.outer != nil {
		s.outer.count(sink, info)
	}
	s.mu.Lock()
	s.countLocked(sink, info)
	s.mu.Unlock()
}

// notLoop says why a group is not an N+1 even though it repeats: it works in
// chunks, or it walks the pages of one result.
func (g *group) notLoop() bool {
	return g.chunked || (g.paged && len(g.nonPage) <= 1)
}

// countable says whether a statement can be part of an N+1 pattern: reads
// and writes of rows. Transaction control, DDL, SET … are not.
func countable(info *sqlinfo.Info) bool {
	switch info.Kind {
	case sqlinfo.KindSelect, sqlinfo.KindInsert, sqlinfo.KindUpdate, sqlinfo.KindDelete, sqlinfo.KindMerge:
		return true
	case sqlinfo.KindUnparsed:
		return true // counted under its fallback fingerprint
	}
	return false
}

// ignored is the scope of a region marked with Ignore.
type ignored struct{ s *Scope }

func (ignored) WantCallers() bool { return false }

func (i ignored) ObserveStatement(_ context.Context, sink *scope.Sink, ev scope.Stmt, _ []uintptr) {
	i.s.count(sink, ev.Info)
	i.s.mu.Lock()
	i.s.ignored++
	i.s.mu.Unlock()
}

// Statements returns how many statements ran in the scope so far (ignored
// regions, batches and cache hits included). It is safe for concurrent use.
func (s *Scope) Statements() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statements
}

// calls returns how many statements with sql's fingerprint ran in the scope.
func (s *Scope) calls(sql string) int {
	fp := sqlinfo.Analyze(sql).Fingerprint
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fingerprints[fp]
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
