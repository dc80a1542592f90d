package n1detect_test

// Classification from synthetic statements: no server, no tracer. A
// synthScope hands the scope statements as a tracer would, with the
// callers of the line that "ran" them.

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/bridge"
	iscope "github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/tracer"
)

// synth runs synthetic statements in the scope ctx carries.
type synth struct {
	ctx   context.Context
	sink  *iscope.Sink
	clock time.Time
	each  time.Duration // each statement's duration
	batch uint64        // non-zero: the statements are of this pgx.Batch
}

func newSynth(ctx context.Context) *synth {
	return &synth{ctx: ctx, sink: iscope.NewSink(nil), clock: time.Unix(1_700_000_000, 0), each: time.Millisecond}
}

// run "runs" sql with args, returning rows, from the caller's line.
func (s *synth) run(sql string, rows int64, args ...any) {
	var buf [24]uintptr
	pcs := buf[:runtime.Callers(2, buf[:])]
	s.stmt(iscope.Stmt{SQL: sql, Args: args, Rows: rows}, pcs)
}

// cached is run for a read a result cache served.
func (s *synth) cached(sql string, args ...any) {
	var buf [24]uintptr
	pcs := buf[:runtime.Callers(2, buf[:])]
	s.stmt(iscope.Stmt{SQL: sql, Args: args, Rows: 1, Cached: true}, pcs)
}

func (s *synth) stmt(st iscope.Stmt, pcs []uintptr) {
	st.Info = sqlinfo.Analyze(st.SQL)
	st.Start, st.Duration = s.clock, s.each
	if s.batch != 0 {
		st.Batch, st.BatchID = true, s.batch
	}
	s.clock = s.clock.Add(s.each + time.Microsecond)
	sc := iscope.From(s.ctx)
	if sc == nil {
		panic("no scope in the context")
	}
	sc.ObserveStatement(s.ctx, s.sink, st, pcs)
}

const (
	synthProjects = "SELECT id, owner FROM projects WHERE org = $1"
	synthOwner    = "SELECT email FROM users WHERE id = $1"
	synthCount    = "SELECT count(*) FROM content WHERE project = $1"
	synthUpdate   = "UPDATE content SET words = $2 WHERE id = $1"
)

func synthKinds(fs []n1detect.Finding) []n1detect.Kind {
	var out []n1detect.Kind
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

// A loop is a finding from Config.Threshold repeats (2 by default) and
// Config.MinTotal of total time.
func TestSynthThresholds(t *testing.T) {
	loop := func(cfg n1detect.Config, n int, each time.Duration) []n1detect.Finding {
		ctx, sc := n1detect.Start(context.Background(), "loop", cfg)
		s := newSynth(ctx)
		s.each = each
		for i := range n {
			s.run(synthOwner, 1, int64(i))
		}
		return sc.Finish()
	}
	require.Empty(t, loop(n1detect.Config{}, 1, time.Millisecond), "one statement is no loop")
	fs := loop(n1detect.Config{}, 2, time.Millisecond)
	require.Equal(t, []n1detect.Kind{n1detect.NPlusOne}, synthKinds(fs))
	require.Equal(t, 2, fs[0].Count)
	require.Equal(t, 2, fs[0].Distinct)
	require.Equal(t, 2*time.Millisecond, fs[0].Total)
	require.Equal(t, "synthetic_test.go", fs[0].CallSite.File[strings.LastIndex(fs[0].CallSite.File, "/")+1:])
	require.Contains(t, fs[0].CallSite.Function, "TestSynthThresholds")
	require.Equal(t, sqlinfo.Analyze(synthOwner).FingerprintHex, fs[0].Fingerprint)
	require.Contains(t, fs[0].Fix, "= ANY($1)")

	prod := n1detect.Config{Threshold: 5, MinTotal: 50 * time.Millisecond}
	require.Empty(t, loop(prod, 4, 20*time.Millisecond), "4 < 5 repeats")
	require.Empty(t, loop(prod, 5, time.Millisecond), "5 repeats, 5 ms < 50 ms")
	require.Len(t, loop(prod, 5, 10*time.Millisecond), 1, "5 repeats, 50 ms")
	require.Len(t, loop(n1detect.Config{Threshold: 1}, 2, time.Millisecond), 1, "a threshold ≤ 1 means 2")
}

// The same read with the same arguments is redundant, from one call site
// or from two; a write per row is an N+1 write.
func TestSynthRedundantAndWrites(t *testing.T) {
	ctx, sc := n1detect.Start(context.Background(), "redundant", n1detect.Config{})
	s := newSynth(ctx)
	for range 3 {
		s.run(synthOwner, 1, int64(7))
	}
	fs := sc.Finish()
	require.Equal(t, []n1detect.Kind{n1detect.Redundant}, synthKinds(fs))
	require.Equal(t, 1, fs[0].Distinct)
	require.Contains(t, fs[0].Fix, "run it once")

	ctx, sc = n1detect.Start(context.Background(), "two sites", n1detect.Config{})
	s = newSynth(ctx)
	s.run(synthCount, 1, int64(3))
	s.run(synthCount, 1, int64(3))
	fs = sc.Finish()
	require.Equal(t, []n1detect.Kind{n1detect.Redundant}, synthKinds(fs))
	require.Len(t, fs[0].Also, 1, "the other call site")
	require.NotEqual(t, fs[0].CallSite.Line, fs[0].Also[0].Line)

	ctx, sc = n1detect.Start(context.Background(), "writes", n1detect.Config{})
	s = newSynth(ctx)
	for i := range 4 {
		s.run(synthUpdate, 1, int64(i), int64(i*10))
	}
	fs = sc.Finish()
	require.Equal(t, []n1detect.Kind{n1detect.NPlusOneWrite}, synthKinds(fs))
	require.Contains(t, fs[0].Fix, "unnest")
	require.Contains(t, fs[0].String(), "N+1 write")
}

// The parent of a loop is the statement whose rows it walks, for each of
// its statements (siblings are not parents).
func TestSynthParent(t *testing.T) {
	ctx, sc := n1detect.Start(context.Background(), "parent", n1detect.Config{})
	s := newSynth(ctx)
	s.run("SELECT name FROM orgs WHERE id = $1", 1, int64(1))
	s.run(synthProjects, 3, int64(1))
	for i := range 3 {
		s.run(synthOwner, 1, int64(i))
		s.run(synthCount, 1, int64(i))
	}
	fs := sc.Finish()
	require.Len(t, fs, 2)
	projects := sqlinfo.Analyze(synthProjects).Normalized
	for _, f := range fs {
		require.Equal(t, n1detect.NPlusOne, f.Kind)
		require.NotNil(t, f.Parent, "%s", f)
		require.Equal(t, projects, f.Parent.Query, "the loop walks the projects")
		require.Contains(t, f.Parent.CallSite.Function, "TestSynthParent")
		require.Contains(t, f.Fix, "JOIN it into the query that produced the values")
	}

	// A loop over a slice built in Go: no statement produced the values.
	ctx, sc = n1detect.Start(context.Background(), "no parent", n1detect.Config{})
	s = newSynth(ctx)
	for i := range 3 {
		s.run(synthOwner, 1, int64(i))
	}
	fs = sc.Finish()
	require.Len(t, fs, 1)
	require.Nil(t, fs[0].Parent)
}

// synthTwoLoops runs two loops of one statement on two lines.
func synthTwoLoops(s *synth) {
	for i := range 3 {
		s.run(synthOwner, 1, int64(i))
	}
	for i := range 3 {
		s.run(synthOwner, 1, int64(i+100))
	}
}

// IDs are stable from scope to scope and tell two loops apart; the
// allow-list takes an ID, a fingerprint or a function.
func TestSynthIDsAndAllowList(t *testing.T) {
	run := func(cfg n1detect.Config) []n1detect.Finding {
		ctx, sc := n1detect.Start(context.Background(), "ids", cfg)
		synthTwoLoops(newSynth(ctx))
		return sc.Finish()
	}
	a, b := run(n1detect.Config{}), run(n1detect.Config{})
	require.Len(t, a, 2)
	require.Len(t, b, 2)
	require.NotEqual(t, a[0].ID, a[1].ID, "two loops, two IDs")
	ids := map[string]bool{a[0].ID: true, a[1].ID: true}
	require.True(t, ids[b[0].ID] && ids[b[1].ID], "the same IDs in another scope")
	require.Len(t, a[0].ID, 12)

	left := run(n1detect.Config{Allow: []string{a[0].ID}})
	require.Len(t, left, 1)
	require.Equal(t, a[1].ID, left[0].ID)
	require.Empty(t, run(n1detect.Config{Allow: []string{a[0].Fingerprint}}), "by fingerprint")
	require.Empty(t, run(n1detect.Config{Allow: []string{a[0].CallSite.Function}}), "by function")
}

// Statements of one pgx.Batch are one round trip, batch-shaped statements
// over chunks are not one per item, and Ignore silences a loop; all count
// toward the scope's statements.
func TestSynthNotLoops(t *testing.T) {
	ctx, sc := n1detect.Start(context.Background(), "not loops", n1detect.Config{})
	s := newSynth(ctx)
	s.batch = 1
	for i := range 4 {
		s.run(synthOwner, 1, int64(i))
	}
	s.batch = 0
	for i := range 3 {
		s.run("SELECT email FROM users WHERE id = ANY($1)", 2, []int64{int64(2 * i), int64(2*i + 1)})
	}
	ignored := newSynth(n1detect.Ignore(ctx))
	for i := range 3 {
		ignored.run(synthOwner, 1, int64(i))
	}
	require.Empty(t, sc.Finish())
	require.Equal(t, 10, sc.Statements())
	require.Equal(t, context.Background(), n1detect.Ignore(context.Background()), "no scope: ctx itself")
}

// Reads a result cache served are statements: a loop of them is an N+1.
func TestSynthCachedHits(t *testing.T) {
	ctx, sc := n1detect.Start(context.Background(), "cached", n1detect.Config{})
	s := newSynth(ctx)
	for i := range 3 {
		s.cached(synthOwner, int64(i))
	}
	s.run(synthOwner+" ", 1, int64(5)) // the same statement from the database, another line
	fs := sc.Finish()
	require.Len(t, fs, 1)
	require.Equal(t, n1detect.NPlusOne, fs[0].Kind)
	require.Equal(t, 3, fs[0].Count)
	require.Equal(t, 3, fs[0].Cached)
	require.Contains(t, fs[0].String(), "served from the query cache")
	require.Equal(t, 4, sc.Statements())
}

// Check fails the test on an N+1 (unless AllowNPlusOne) and on a broken
// budget; ForTest does it at cleanup.
func TestSynthBudgets(t *testing.T) {
	check := func(fn func(s *synth), opts ...n1detect.Option) []string {
		ft := &n1FakeTB{name: "budget"}
		n1detect.Check(ft, context.Background(), func(ctx context.Context) { fn(newSynth(ctx)) }, opts...)
		return ft.errs()
	}
	three := func(s *synth) {
		for i := range 3 {
			s.run(synthOwner, 1, int64(i))
		}
	}
	once := func(s *synth) {
		s.run(synthProjects, 3, int64(1))
		s.run(synthCount, 1, int64(1))
	}
	errs := check(three)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "1 N+1 pattern(s) in budget")
	require.Empty(t, check(three, n1detect.AllowNPlusOne()))
	require.Empty(t, check(three, n1detect.Config{Threshold: 4}), "a Config is an option")

	require.Empty(t, check(once, n1detect.MaxStatements(2), n1detect.MaxCalls(synthCount, 1)))
	errs = check(once, n1detect.MaxStatements(1))
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "ran 2 statements, budget is 1")
	errs = check(three, n1detect.AllowNPlusOne(), n1detect.MaxCalls("SELECT email FROM users WHERE id = 42", 2))
	require.Len(t, errs, 1, "constants do not matter: every id counts")
	require.Contains(t, errs[0], "3 times, budget is 2")

	// Check nested in a ForTest scope: the outer scope counts the statements too.
	ft := &n1FakeTB{name: "outer"}
	ctx := n1detect.ForTest(ft, n1detect.MaxStatements(2))
	n1detect.Check(ft, ctx, func(ctx context.Context) { once(newSynth(ctx)) })
	newSynth(ctx).run(synthCount, 1, int64(2))
	require.Empty(t, ft.errs(), "nothing fails before cleanup")
	ft.finish()
	errs = ft.errs()
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "ran 3 statements, budget is 2")
}

// Finish records its findings once in the sink of each statistics it saw;
// through a real Tracer, they reach the statement's statistics and the
// pool's report (bridge.N1detectFindings), merged by ID across scopes.
func TestSynthFinishRecords(t *testing.T) {
	ctx, sc := n1detect.Start(context.Background(), "record", n1detect.Config{})
	s := newSynth(ctx)
	for i := range 3 {
		s.run(synthOwner, 1, int64(i))
	}
	fs := sc.Finish()
	require.Len(t, fs, 1)
	require.Equal(t, fs, sc.Finish(), "a second Finish returns the same findings")
	recs := s.sink.Snapshot()
	require.Len(t, recs, 1, "recorded once")
	require.Equal(t, fs[0].ID, recs[0].ID)
	require.Equal(t, sqlinfo.Analyze(synthOwner).Fingerprint, recs[0].Fingerprint)
	require.EqualValues(t, 1, recs[0].Occurrences)

	tr := tracer.New(tracer.Config{SlowThreshold: -1})
	hits := func(name string) n1detect.Finding {
		ctx, sc := n1detect.Start(context.Background(), name, n1detect.Config{})
		for i := range 3 {
			tr.ObserveCacheHit(ctx, tracer.CacheHit{SQL: synthOwner, Args: []any{int64(i)}, Start: time.Now(), Duration: time.Millisecond, Rows: 1})
		}
		fs := sc.Finish()
		require.Len(t, fs, 1)
		return fs[0]
	}
	var f n1detect.Finding
	for _, name := range []string{"first", "second"} { // one loop, one ID
		f = hits(name)
	}
	reported, ok := bridge.N1detectFindings(tr).([]n1detect.Finding)
	require.True(t, ok)
	require.Len(t, reported, 1)
	require.Equal(t, f.ID, reported[0].ID)
	require.EqualValues(t, 2, reported[0].Occurrences)
	require.False(t, reported[0].FirstSeen.After(reported[0].LastSeen))
	st, ok := tr.Snapshot().Lookup(sqlinfo.Analyze(synthOwner).Fingerprint)
	require.True(t, ok)
	require.EqualValues(t, 2, st.Findings)
	require.EqualValues(t, 6, st.Cache.Hits)

	tr.Reset()
	empty, _ := bridge.N1detectFindings(tr).([]n1detect.Finding)
	require.Empty(t, empty)
}
