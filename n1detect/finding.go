package n1detect

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/tracer"
)

// Kind classifies a finding.
type Kind string

// Finding kinds.
const (
	// NPlusOne: the same read from one call site with different arguments —
	// one query per item where one query for all items would do.
	NPlusOne Kind = "n+1"
	// NPlusOneWrite: an INSERT, UPDATE, DELETE or MERGE per row from one call site.
	NPlusOneWrite Kind = "n+1 write"
	// Redundant: the same statement with the same arguments run again, from
	// one call site or several; a hoist or a cache would remove it.
	Redundant Kind = "redundant"
)

// Finding is one pattern found in a scope. String renders it for a person;
// json.Marshal for a machine.
type Finding struct {
	// ID names the finding in Config.Allow and in the pool's report: it
	// hashes the kind, the fingerprint and the positions of the call site and
	// its caller within their functions, so it is stable across runs and
	// edits elsewhere, and tells apart identical lines of one function (see
	// "Finding IDs" in the package documentation).
	ID    string `json:"id"`
	Kind  Kind   `json:"kind"`
	Scope string `json:"scope"`
	// Query is the normalized SQL; Example one statement as sent, with its
	// arguments in ExampleArgs only when Config.RedactArgs opted in.
	Query       string `json:"query"`
	Fingerprint string `json:"fingerprint"`
	SQLCName    string `json:"sqlc_name,omitempty"`
	Example     string `json:"example"`
	ExampleArgs []any  `json:"example_args,omitempty"`
	// Count statements with Distinct argument sets took Total.
	Count    int           `json:"count"`
	Distinct int           `json:"distinct_args"`
	Total    time.Duration `json:"total_ns"`
	// Cached of the Count statements were served by a result cache (the query
	// cache: tracer.Event.Cached), not by the database. They are still one
	// round trip each, to the cache: the loop remains.
	Cached int `json:"cached,omitempty"`
	// CallSite is where the application issued the statements; Stack adds
	// the application frames above it (the loop, when a helper issued it).
	CallSite tracer.CallSite   `json:"call_site"`
	Stack    []tracer.CallSite `json:"stack,omitempty"`
	// Parent is the statement whose rows the loop walks (the one that
	// produced the values), never another statement of the same iteration;
	// nil when no statement did (see the package documentation).
	Parent *Statement `json:"parent,omitempty"`
	// Also lists the other call sites of a redundant statement.
	Also []tracer.CallSite `json:"also,omitempty"`
	Fix  string            `json:"fix"`

	// Occurrences, FirstSeen and LastSeen are set in the findings of a
	// pool's report (pgxperf.Report.Findings), which merges the findings of
	// many scopes by ID: how many scopes reported it, and when first and
	// last. The other fields are those of the occurrence with the largest
	// Count. A scope's own findings leave them zero.
	Occurrences int64     `json:"occurrences,omitempty"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`

	fp     uint64    // the statement's fingerprint (Fingerprint in hex)
	frames []idFrame // the call site and the application frames above it, for IDs
}

// Statement identifies a statement in a finding (Finding.Parent).
type Statement struct {
	Query    string          `json:"query"`
	SQLCName string          `json:"sqlc_name,omitempty"`
	CallSite tracer.CallSite `json:"call_site"`
}

// isNPlusOne reports whether the finding is an N+1 read or write (what
// ForTest fails on); redundant statements are reported but not failed.
func (f Finding) isNPlusOne() bool { return f.Kind == NPlusOne || f.Kind == NPlusOneWrite }

// String renders the finding for a person: what, where, how often, and how to fix it.
func (f Finding) String() string {
	var b strings.Builder
	what := map[Kind]string{
		NPlusOne:      "N+1 query",
		NPlusOneWrite: "N+1 write",
		Redundant:     "redundant query",
	}[f.Kind]
	fmt.Fprintf(&b, "%s [%s]: %d statements", what, f.ID, f.Count)
	if f.Kind != Redundant || f.Distinct > 1 {
		fmt.Fprintf(&b, " (%d distinct argument sets)", f.Distinct)
	}
	fmt.Fprintf(&b, " took %v", f.Total.Round(time.Microsecond))
	if f.Scope != "" {
		fmt.Fprintf(&b, " in %s", f.Scope)
	}
	b.WriteString("\n")
	if f.CallSite.File != "" {
		fmt.Fprintf(&b, "  at %s:%d (%s)\n", f.CallSite.File, f.CallSite.Line, shortFunc(f.CallSite.Function))
		for _, s := range f.Stack {
			fmt.Fprintf(&b, "     called from %s:%d (%s)\n", s.File, s.Line, shortFunc(s.Function))
		}
	}
	for _, s := range f.Also {
		fmt.Fprintf(&b, "  also at %s:%d (%s)\n", s.File, s.Line, shortFunc(s.Function))
	}
	label := ""
	if f.SQLCName != "" {
		label = f.SQLCName + ": "
	}
	fmt.Fprintf(&b, "  query:   %s%s\n", label, sqlinfo.OneLine(sqlinfo.StripLeadingComments(f.Query), 200))
	if f.Cached > 0 {
		fmt.Fprintf(&b, "  cached:  %d of %d served from the query cache: each still costs a round trip to the cache (Redis)\n", f.Cached, f.Count)
	}
	if len(f.ExampleArgs) > 0 {
		fmt.Fprintf(&b, "  example args: %v\n", f.ExampleArgs)
	}
	if f.Parent != nil {
		fmt.Fprintf(&b, "  after:   %s", sqlinfo.OneLine(sqlinfo.StripLeadingComments(f.Parent.Query), 160))
		if f.Parent.CallSite.File != "" {
			fmt.Fprintf(&b, " (%s:%d)", filepath.Base(f.Parent.CallSite.File), f.Parent.CallSite.Line)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  fix:     %s\n", strings.ReplaceAll(f.Fix, "\n", "\n           "))
	return b.String()
}

// findingsSoFar returns the scope's findings so far, most expensive first.
// Allowed findings (Config.Allow) are left out.
func (s *Scope) findingsSoFar() []Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.classifyLocked()
}

// Finish ends the scope: it computes the findings, most expensive first,
// records them in the statistics of every pgxperf tracer that saw the
// scope's statements (StatementStats.Findings, and pgxperf.Pool's report),
// and returns them. Allowed findings (Config.Allow) are left out. Later calls
// return the same findings; statements that run after the first call are
// counted but not classified. It is safe for concurrent use.
func (s *Scope) Finish() []Finding {
	s.mu.Lock()
	if s.finished {
		defer s.mu.Unlock()
		return s.findings
	}
	s.finished = true
	s.findings = s.classifyLocked()
	sinks := make([]*scope.Sink, 0, len(s.sinks))
	for sink := range s.sinks {
		sinks = append(sinks, sink)
	}
	out := s.findings
	s.mu.Unlock()
	for _, sink := range sinks { // one per statistics registry
		for _, f := range out {
			sink.Record(scope.Record{ID: f.ID, Fingerprint: f.fp, Count: f.Count, Total: f.Total, Finding: f})
		}
	}
	return out
}

// recorded returns the findings recorded in a tracer's statistics (by
// Finish), merged by ID, largest total time first.
func recorded(recs []scope.Record) []Finding {
	if len(recs) == 0 {
		return nil
	}
	out := make([]Finding, 0, len(recs))
	for _, r := range recs {
		f, ok := r.Finding.(Finding)
		if !ok {
			continue
		}
		f.Occurrences, f.FirstSeen, f.LastSeen = r.Occurrences, r.FirstSeen, r.LastSeen
		out = append(out, f)
	}
	return out
}

func (s *Scope) classifyLocked() []Finding {
	th := s.cfg.threshold()
	var out []Finding
	reported := map[*group]bool{}
	for _, g := range s.order {
		if g.count < th || g.total < s.cfg.MinTotal || g.notLoop() {
			continue
		}
		distinct := len(g.distinct)
		var kind Kind
		switch {
		case distinct == 1:
			kind = Redundant
		case g.maxPerFP < th:
			// A list of different statements, each run fewer than threshold
			// times from one line (a loop over report queries): not one
			// query per item.
			continue
		case g.info.Kind == sqlinfo.KindSelect || g.info.Kind == sqlinfo.KindUnparsed:
			kind = NPlusOne
		default:
			kind = NPlusOneWrite
		}
		reported[g] = true
		f := s.finding(kind, g)
		f.Count, f.Distinct, f.Total, f.Cached = g.count, distinct, g.total, g.cached
		out = append(out, f)
	}
	// The same read with the same arguments from several call sites: one
	// finding per pair of sites, leaving out groups already reported.
	type pair struct{ a, b *group }
	merged := map[pair]*Finding{}
	var pairs []pair
	for _, r := range s.repeats {
		if len(r.groups) < 2 {
			continue
		}
		skip := false
		for _, g := range r.groups {
			if reported[g] || g.notLoop() {
				skip = true
				break
			}
		}
		if skip || len(r.groups) < th {
			continue
		}
		var total time.Duration
		cached := 0 // call sites whose statements the cache served
		for _, g := range r.groups {
			total += g.total / time.Duration(max(g.count, 1))
			if g.cached == g.count {
				cached++
			}
		}
		k := pair{r.groups[0], r.groups[1]}
		if f := merged[k]; f != nil {
			f.Count += len(r.groups)
			f.Total += total
			f.Cached += cached
			continue
		}
		f := s.finding(Redundant, r.groups[1])
		f.Count, f.Distinct, f.Total, f.Cached = len(r.groups), 1, total, cached
		for _, g := range r.groups {
			if g != r.groups[1] {
				f.Also = append(f.Also, resolve(g.sites[0]))
			}
		}
		merged[k] = &f
		pairs = append(pairs, k)
	}
	for _, k := range pairs {
		if f := merged[k]; f.Total >= s.cfg.MinTotal {
			out = append(out, *f)
		}
	}
	uniqueIDs(out)
	out = s.allowed(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

func (s *Scope) finding(kind Kind, g *group) Finding {
	site := resolve(g.sites[0])
	f := Finding{
		Kind:        kind,
		Scope:       s.name,
		Query:       g.info.Normalized,
		Fingerprint: g.info.FingerprintHex,
		SQLCName:    g.info.SQLCName,
		Example:     g.example,
		ExampleArgs: g.args,
		CallSite:    site,
		fp:          g.info.Fingerprint,
	}
	for _, pc := range g.sites {
		if pc == 0 {
			continue
		}
		fr := classify(pc)
		if len(f.frames) > 0 {
			f.Stack = append(f.Stack, fr.site)
		}
		f.frames = append(f.frames, idFrame{site: fr.site, start: fr.start})
	}
	if p := g.parentGroup(); p != nil {
		f.Parent = &Statement{Query: p.info.Normalized, SQLCName: p.info.SQLCName, CallSite: resolve(p.sites[0])}
	}
	f.ID = findingID(kind, g.info.Fingerprint, f.frames, 2)
	f.Fix = suggestFix(kind, g.info, f.Parent)
	return f
}

func resolve(pc uintptr) tracer.CallSite {
	if pc == 0 {
		return tracer.CallSite{}
	}
	return classify(pc).site
}

var eqParam = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_."]*)\s*=\s*\$(\d+)`)

// suggestFix proposes a concrete rewrite.
func suggestFix(kind Kind, info *sqlinfo.Info, parent *Statement) string {
	q := sqlinfo.OneLine(sqlinfo.StripLeadingComments(info.Normalized), 300)
	switch kind {
	case NPlusOne:
		var b strings.Builder
		if m := eqParam.FindStringSubmatchIndex(q); m != nil {
			col, n := q[m[2]:m[3]], q[m[4]:m[5]]
			batched := q[:m[0]] + col + " = ANY($" + n + ")" + q[m[1]:]
			if aggregates(info) && !strings.Contains(strings.ToUpper(q), "GROUP BY") {
				// One aggregate per value: group by the column instead.
				batched = strings.Replace(batched, "SELECT ", "SELECT "+col+", ", 1) + " GROUP BY " + col
			}
			fmt.Fprintf(&b, "collect the values and run one query for all of them:\n  %s\n(pass a slice as $%s; with sqlc, write = ANY(@ids::bigint[]) or sqlc.slice)", batched, n)
		} else {
			b.WriteString("collect the values and run one query for all of them (WHERE … = ANY($1) with a slice), or JOIN this table in the query that produced them")
		}
		if parent != nil {
			fmt.Fprintf(&b, "\nor JOIN it into the query that produced the values: %s", sqlinfo.OneLine(sqlinfo.StripLeadingComments(parent.Query), 120))
		}
		return b.String()
	case NPlusOneWrite:
		switch info.Kind {
		case sqlinfo.KindInsert:
			return "insert all rows at once: pgx CopyFrom, a multi-row INSERT … VALUES, or INSERT … SELECT * FROM unnest($1::bigint[], $2::text[], …)"
		case sqlinfo.KindUpdate:
			return "update all rows in one statement: UPDATE t SET col = v.col FROM unnest($1::bigint[], $2::text[]) AS v(id, col) WHERE t.id = v.id"
		case sqlinfo.KindDelete:
			if m := eqParam.FindStringSubmatchIndex(q); m != nil {
				return "delete all rows in one statement: " + q[:m[0]] + q[m[2]:m[3]] + " = ANY($" + q[m[4]:m[5]] + ")" + q[m[1]:]
			}
			return "delete all rows in one statement: DELETE … WHERE id = ANY($1)"
		}
		return "write all rows in one statement (unnest arrays, or pgx CopyFrom), or send them in one pgx.Batch"
	default:
		return "run it once and reuse the result: hoist it out of the loop, pass the value down, or cache it"
	}
}

func aggregates(info *sqlinfo.Info) bool {
	for _, f := range info.Functions {
		switch f {
		case "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "array_agg", "string_agg", "jsonb_agg", "json_agg":
			return true
		}
	}
	return false
}

func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
