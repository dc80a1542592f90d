package n1detect_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	iscope "github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/pgxperf"
)

// ---- helpers ----

// n1FakeTB records what the assertions report instead of failing the test.
type n1FakeTB struct {
	name     string
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *n1FakeTB) Helper()      {}
func (f *n1FakeTB) Name() string { return f.name }
func (f *n1FakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *n1FakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// finish runs the cleanups, last registered first, as testing does.
func (f *n1FakeTB) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

func (f *n1FakeTB) errs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errors...)
}

var _ n1detect.TB = (*n1FakeTB)(nil)

// n1SharedPool opens a pgxperf.Pool on the shared seeded database (read only).
func n1SharedPool(t testing.TB) *pgxperf.Pool {
	t.Helper()
	dsn := testenv.SharedSeededDatabase(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxperf.NewFromConfig(context.Background(), &pgxperf.Config{Pool: cfg, Tracer: gtQuietTracer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// n1OwnersLoop is an N+1: the owners of the first n projects, one query each.
// It returns the line of the per-item query.
func n1OwnersLoop(t testing.TB, ctx context.Context, db gtDB, n int) int {
	t.Helper()
	ps, err := gtProjects(ctx, db, n)
	if err != nil {
		t.Fatal(err)
	}
	line := 0
	for _, p := range ps {
		var email string
		line = gtLine() + 1
		if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), &email); err != nil {
			t.Fatal(err)
		}
	}
	return line
}

func n1IsRace() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

func n1TestCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ---- ForTest and Check ----

func TestForTestFailsWithCallSiteAndFix(t *testing.T) {
	pool := n1SharedPool(t)
	ftb := &n1FakeTB{name: "TestListProjects"}
	ctx := n1detect.ForTest(ftb)
	line := n1OwnersLoop(t, ctx, pool, gtN)
	if len(ftb.errs()) != 0 {
		t.Fatalf("ForTest reported before cleanup: %q", ftb.errs())
	}
	ftb.finish()
	errs := ftb.errs()
	if len(errs) != 1 {
		t.Fatalf("want 1 failure, got %d: %q", len(errs), errs)
	}
	msg := errs[0]
	t.Logf("failure message:\n%s", msg)
	for _, want := range []string{
		"1 N+1 pattern(s) in TestListProjects",
		fmt.Sprintf("n1detect_test.go:%d", line),
		"N+1 query [",
		"10 statements (10 distinct argument sets)",
		"SELECT email FROM users WHERE id = ANY($1)", // the fix
		"n1detect.Ignore(ctx)",
		"Allow",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q", want)
		}
	}
}

func TestForTestPassesCleanAndRedundantCode(t *testing.T) {
	pool := n1SharedPool(t)
	ftb := &n1FakeTB{name: "TestClean"}
	ctx := n1detect.ForTest(ftb)
	if _, err := gtProjects(ctx, pool, gtN); err != nil {
		t.Fatal(err)
	}
	for range 3 { // redundant: reported, never failed
		if _, err := gtOwnerEmail(ctx, pool, 1); err != nil {
			t.Fatal(err)
		}
	}
	ftb.finish()
	if errs := ftb.errs(); len(errs) != 0 {
		t.Fatalf("want no failure, got %q", errs)
	}
}

func TestCheckBudgets(t *testing.T) {
	pool := n1SharedPool(t)
	ctx := n1TestCtx(t)

	t.Run("MaxStatements", func(t *testing.T) {
		ftb := &n1FakeTB{name: "TestBudget"}
		fs := n1detect.Check(ftb, ctx, func(ctx context.Context) {
			for id := range int64(3) {
				if err := gtScan(pool.QueryRow(ctx, "SELECT count(*) FROM content WHERE project_id = $1", id+1), new(int64)); err != nil {
					t.Fatal(err)
				}
			}
		}, n1detect.MaxStatements(2), n1detect.AllowNPlusOne())
		if len(fs) != 1 || fs[0].Kind != n1detect.NPlusOne {
			t.Errorf("Check returned %v, want the N+1", fs)
		}
		errs := ftb.errs()
		if len(errs) != 1 || !strings.Contains(errs[0], "ran 3 statements, budget is 2") ||
			!strings.Contains(errs[0], "3 × SELECT count(*) FROM content WHERE project_id = $1") {
			t.Fatalf("want one budget failure with the statement summary, got %q", errs)
		}
	})

	t.Run("MaxStatements counts transactions, batches and CopyFrom", func(t *testing.T) {
		ftb := &n1FakeTB{name: "TestBudgetAll"}
		var statements int
		n1detect.Check(ftb, ctx, func(ctx context.Context) {
			tx, err := pool.Begin(ctx) // BEGIN
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "CREATE TEMP TABLE n1_copy (id bigint) ON COMMIT DROP"); err != nil {
				t.Fatal(err)
			}
			b := &pgx.Batch{}
			for id := range 3 {
				b.Queue(gtUserEmailSQL, id+1)
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil { // 3 statements
				t.Fatal(err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"n1_copy"}, []string{"id"}, pgx.CopyFromRows([][]any{{int64(1)}, {int64(2)}})); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(ctx); err != nil { // ROLLBACK
				t.Fatal(err)
			}
			statements = n1detect.FromContext(ctx).Statements()
		}, n1detect.MaxStatements(6))
		if statements != 7 {
			t.Errorf("scope counted %d statements, want 7 (BEGIN, CREATE, 3 batched, COPY, ROLLBACK)", statements)
		}
		errs := ftb.errs()
		if len(errs) != 1 || !strings.Contains(errs[0], "ran 7 statements, budget is 6") {
			t.Fatalf("want the budget failure, got %q", errs)
		}
	})

	t.Run("MaxCalls", func(t *testing.T) {
		ftb := &n1FakeTB{name: "TestCalls"}
		n1detect.Check(ftb, ctx, func(ctx context.Context) {
			for id := range 5 { // literals: the fingerprint is what counts
				if err := gtScan(pool.QueryRow(ctx, fmt.Sprintf("SELECT email FROM users WHERE id = %d", id+1)), new(string)); err != nil {
					t.Fatal(err)
				}
			}
		}, n1detect.MaxCalls(gtUserEmailSQL, 3), n1detect.AllowNPlusOne())
		errs := ftb.errs()
		if len(errs) != 1 || !strings.Contains(errs[0], "5 times, budget is 3") {
			t.Fatalf("want one MaxCalls failure, got %q", errs)
		}
	})

	t.Run("within budget", func(t *testing.T) {
		ftb := &n1FakeTB{name: "TestWithin"}
		n1detect.Check(ftb, ctx, func(ctx context.Context) {
			if _, err := gtProjects(ctx, pool, gtN); err != nil {
				t.Fatal(err)
			}
		}, n1detect.MaxStatements(1), n1detect.MaxCalls(gtUserEmailSQL, 0))
		if errs := ftb.errs(); len(errs) != 0 {
			t.Fatalf("want no failure, got %q", errs)
		}
	})

	t.Run("N+1 fails Check unless AllowNPlusOne", func(t *testing.T) {
		ftb := &n1FakeTB{name: "TestCheckN1"}
		n1detect.Check(ftb, ctx, func(ctx context.Context) { n1OwnersLoop(t, ctx, pool, 4) })
		if errs := ftb.errs(); len(errs) != 1 || !strings.Contains(errs[0], "N+1 pattern(s)") {
			t.Fatalf("want one N+1 failure, got %q", errs)
		}
		ftb = &n1FakeTB{name: "TestCheckN1Allowed"}
		fs := n1detect.Check(ftb, ctx, func(ctx context.Context) { n1OwnersLoop(t, ctx, pool, 4) }, n1detect.AllowNPlusOne())
		if errs := ftb.errs(); len(errs) != 0 {
			t.Fatalf("AllowNPlusOne: want no failure, got %q", errs)
		}
		if len(fs) != 1 {
			t.Fatalf("AllowNPlusOne still returns the findings: got %v", fs)
		}
	})

	t.Run("Ignore counts toward budgets", func(t *testing.T) {
		ftb := &n1FakeTB{name: "TestIgnoreBudget"}
		n1detect.Check(ftb, ctx, func(ctx context.Context) {
			n1OwnersLoop(t, n1detect.Ignore(ctx), pool, 5)
		}, n1detect.MaxStatements(5))
		errs := ftb.errs()
		if len(errs) != 1 || !strings.Contains(errs[0], "ran 6 statements, budget is 5") {
			t.Fatalf("want only the budget failure, got %q", errs)
		}
	})
}

// Check inside ForTest: the outer scope still counts the block's statements,
// and the block's own verdict (AllowNPlusOne, an allow-list) is not overruled
// by the outer scope finding the same loop again.
func TestCheckNestedInForTest(t *testing.T) {
	pool := n1SharedPool(t)
	outer := &n1FakeTB{name: "TestOuter"}
	ctx := n1detect.ForTest(outer, n1detect.MaxStatements(100))
	inner := &n1FakeTB{name: "TestOuter"}
	n1detect.Check(inner, ctx, func(ctx context.Context) { n1OwnersLoop(t, ctx, pool, gtN) },
		n1detect.AllowNPlusOne(), n1detect.MaxStatements(11))
	if errs := inner.errs(); len(errs) != 0 {
		t.Fatalf("Check: want no failure, got %q", errs)
	}
	if n := n1detect.FromContext(ctx).Statements(); n != 11 {
		t.Errorf("the outer scope counted %d statements, want the block's 11", n)
	}
	outer.finish()
	if errs := outer.errs(); len(errs) != 0 {
		t.Errorf("ForTest failed on the N+1 that the nested Check allowed (AllowNPlusOne):\n%s", strings.Join(errs, "\n"))
	}
}

// ---- thresholds ----

const n1SlowOwnerSQL = "SELECT u.email FROM users u, pg_sleep($2::float8) WHERE u.id = $1"

func n1SlowLoop(t *testing.T, ctx context.Context, db gtDB, n int, sleep time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for i := range n {
		if err := gtScan(db.QueryRow(ctx, n1SlowOwnerSQL, int64(i*7+1), sleep.Seconds()), new(string)); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

func TestProductionThresholds(t *testing.T) {
	pool := n1SharedPool(t)
	prod := n1detect.ProductionConfig()
	if prod.Threshold != 5 || prod.MinTotal != 50*time.Millisecond {
		t.Fatalf("ProductionConfig() = %+v, want 5 repeats and 50ms", prod)
	}

	t.Run("4 slow repeats: not a finding", func(t *testing.T) {
		fs := gtRunScope(t, "prod4", prod, func(ctx context.Context) error {
			n1SlowLoop(t, ctx, pool, 4, 20*time.Millisecond) // 80 ms ≥ 50 ms, but only 4
			return nil
		})
		if len(fs) != 0 {
			t.Fatalf("want no finding, got:\n%s", gtFindingsText(fs))
		}
	})

	t.Run("5 repeats under MinTotal: not a finding", func(t *testing.T) {
		// The production threshold with a MinTotal no machine reaches, so the
		// verdict does not depend on how busy this one is.
		cfg := prod
		cfg.MinTotal = time.Hour
		var wall time.Duration
		fs := gtRunScope(t, "prod5fast", cfg, func(ctx context.Context) error {
			wall = n1SlowLoop(t, ctx, pool, 5, 0)
			return nil
		})
		if len(fs) != 0 {
			t.Fatalf("want no finding (total %v < MinTotal), got:\n%s", wall, gtFindingsText(fs))
		}
	})

	t.Run("5 slow repeats: a finding", func(t *testing.T) {
		fs := gtRunScope(t, "prod5slow", prod, func(ctx context.Context) error {
			n1SlowLoop(t, ctx, pool, 5, 12*time.Millisecond) // ≥ 60 ms
			return nil
		})
		if len(fs) != 1 || fs[0].Kind != n1detect.NPlusOne || fs[0].Count != 5 || fs[0].Total < prod.MinTotal {
			t.Fatalf("want one N+1 of 5 statements ≥ 50ms, got:\n%s", gtFindingsText(fs))
		}
	})

	t.Run("strict default: 2 repeats", func(t *testing.T) {
		fs := gtRunScope(t, "strict", n1detect.Config{}, func(ctx context.Context) error {
			n1SlowLoop(t, ctx, pool, 2, 0)
			return nil
		})
		if len(fs) != 1 || fs[0].Kind != n1detect.NPlusOne {
			t.Fatalf("want one N+1, got:\n%s", gtFindingsText(fs))
		}
	})
}

// ---- concurrency, cancellation, memory ----

func TestScopeSharedByGoroutines(t *testing.T) {
	pool := n1SharedPool(t)
	ctx, scope := n1detect.Start(n1TestCtx(t), "fan-out", n1detect.Config{})
	const workers, per = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				if err := gtScan(pool.QueryRow(ctx, gtUserEmailSQL, int64(w*per+i+1)), new(string)); err != nil {
					errs <- err
					return
				}
				_ = scope.Findings() // read while others write
				_ = scope.Statements()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fs := scope.Finish()
	if len(fs) != 1 || fs[0].Kind != n1detect.NPlusOne || fs[0].Count != workers*per || fs[0].Distinct != workers*per {
		t.Fatalf("want one N+1 of %d statements, got:\n%s", workers*per, gtFindingsText(fs))
	}
	if n := scope.Statements(); n != workers*per {
		t.Errorf("Statements() = %d, want %d", n, workers*per)
	}
}

func TestConcurrentScopesDoNotMix(t *testing.T) {
	pool := n1SharedPool(t)
	const scopes = 8
	var wg sync.WaitGroup
	results := make([][]n1detect.Finding, scopes)
	for i := range scopes {
		wg.Go(func() {
			ctx, scope := n1detect.Start(context.Background(), fmt.Sprintf("request %d", i), n1detect.Config{})
			// Each request looks up one user: together they would be an N+1.
			_ = gtScan(pool.QueryRow(ctx, gtUserEmailSQL, int64(i+1)), new(string))
			results[i] = scope.Finish()
		})
	}
	wg.Wait()
	for i, fs := range results {
		if len(fs) != 0 {
			t.Errorf("request %d: want no finding, got:\n%s", i, gtFindingsText(fs))
		}
	}
}

func TestCancelledContextStillReports(t *testing.T) {
	pool := n1SharedPool(t)

	t.Run("cancelled after the loop", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx, scope := n1detect.Start(parent, "cancelled", n1detect.Config{})
		n1OwnersLoop(t, ctx, pool, gtN)
		cancel()
		fs := scope.Finish()
		if len(fs) != 1 || fs[0].Kind != n1detect.NPlusOne || fs[0].Count != gtN {
			t.Fatalf("want the N+1, got:\n%s", gtFindingsText(fs))
		}
	})

	t.Run("cancelled during the loop", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx, scope := n1detect.Start(parent, "cancelled midway", n1detect.Config{})
		for i := range gtN {
			if i == 5 {
				cancel()
			}
			_ = gtScan(pool.QueryRow(ctx, gtUserEmailSQL, int64(i+1)), new(string)) // fails once cancelled
		}
		fs := scope.Finish()
		if len(fs) != 1 || fs[0].Kind != n1detect.NPlusOne || fs[0].Count < 5 {
			t.Fatalf("want the N+1 of the statements that ran, got:\n%s", gtFindingsText(fs))
		}
	})

	t.Run("middleware, client gone", func(t *testing.T) {
		var logs n1LogBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := n1detect.Middleware(n1detect.MiddlewareConfig{
			Config: n1detect.Config{Threshold: 2},
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n1OwnersLoop(t, r.Context(), pool, 5)
			cancel() // the client goes away before the handler returns
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/gone", nil).WithContext(ctx))
		if recs := logs.records(t); len(recs) != 1 {
			t.Fatalf("want one log record, got %d: %s", len(recs), logs.String())
		}
	})
}

// n1ObserveSite returns program counters as the tracer captures them for a
// statement issued here, to feed Scope.ObserveStatement directly.
func n1ObserveSite() []uintptr {
	pcs := make([]uintptr, 24)
	return pcs[:runtime.Callers(1, pcs)]
}

func TestMillionStatementsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a million statements")
	}
	if n1IsRace() {
		t.Skip("slow under -race; make test (CI) runs it again without -race")
	}
	const n = 1_000_000
	info := sqlinfo.Analyze(gtUserEmailSQL)
	writeInfo := sqlinfo.Analyze("UPDATE content SET word_count = $2 WHERE id = $1")
	readPCs, writePCs := n1ObserveSite(), n1ObserveSite()
	_, scope := n1detect.Start(context.Background(), "million", n1detect.Config{})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	t0 := time.Now()
	for i := range n {
		ev := iscope.Stmt{Info: info, SQL: gtUserEmailSQL, Args: []any{int64(i)}, Start: t0, Duration: time.Microsecond}
		pcs := readPCs
		if i%4 == 3 {
			ev.Info, ev.SQL, ev.Args = writeInfo, "UPDATE content SET word_count = $2 WHERE id = $1", []any{int64(i), int32(i)}
			pcs = writePCs
		}
		scope.ObserveStatement(context.Background(), nil, ev, pcs)
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d statements in %v (%v each); heap grew %.1f KiB", n, elapsed.Round(time.Millisecond), elapsed/n, float64(growth)/1024)
	if growth > 16<<20 {
		t.Errorf("heap grew %d bytes for %d statements, want < 16 MiB: the scope must keep counts, not statements", growth, n)
	}
	if got := scope.Statements(); got != n {
		t.Errorf("Statements() = %d, want %d", got, n)
	}
	fs := scope.Finish()
	if len(fs) != 2 {
		t.Fatalf("want 2 findings (read, write), got:\n%s", gtFindingsText(fs))
	}
	total := 0
	for _, f := range fs {
		total += f.Count
	}
	if total != n {
		t.Errorf("findings count %d statements, want %d", total, n)
	}
	runtime.KeepAlive(scope)
}

func TestMaxGroupsBoundsGroups(t *testing.T) {
	const tables = 40
	pcs := n1ObserveSite()
	_, scope := n1detect.Start(context.Background(), "groups", n1detect.Config{MaxGroups: 10})
	for i := range tables {
		sql := fmt.Sprintf("SELECT name FROM table_%d WHERE id = $1", i)
		info := sqlinfo.Analyze(sql)
		for j := range 3 {
			scope.ObserveStatement(context.Background(), nil, iscope.Stmt{Info: info, SQL: sql, Args: []any{int64(j)}, Duration: time.Microsecond}, pcs)
		}
	}
	fs := scope.Finish()
	if len(fs) != 10 {
		t.Errorf("want 10 findings (MaxGroups), got %d", len(fs))
	}
	if n := scope.Statements(); n != tables*3 {
		t.Errorf("Statements() = %d, want %d: statements beyond MaxGroups are still counted", n, tables*3)
	}
}

// ---- rendering ----

func TestFindingJSON(t *testing.T) {
	pool := n1SharedPool(t)
	ctx, scope := n1detect.Start(n1TestCtx(t), "GET /projects", n1detect.Config{
		RedactArgs: func(sql string, args []any) []any { return []any{"<redacted>"} },
	})
	line := n1OwnersLoop(t, ctx, pool, gtN)
	fs := scope.Finish()
	if len(fs) != 1 {
		t.Fatalf("want one finding, got:\n%s", gtFindingsText(fs))
	}
	f := fs[0]
	raw := f.JSON()
	t.Logf("%s", raw)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JSON() is not JSON: %v\n%s", err, raw)
	}
	want := map[string]any{
		"kind":          "n+1",
		"scope":         "GET /projects",
		"query":         gtUserEmailSQL,
		"count":         float64(gtN),
		"distinct_args": float64(gtN),
		"id":            f.ID,
		"fingerprint":   f.Fingerprint,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(f.Fingerprint) != 16 {
		t.Errorf("fingerprint %q, want 16 hex digits", f.Fingerprint)
	}
	if ns, _ := m["total_ns"].(float64); ns <= 0 || time.Duration(ns) != f.Total {
		t.Errorf("total_ns = %v, want %d", m["total_ns"], f.Total)
	}
	site, _ := m["call_site"].(map[string]any)
	if site == nil || site["line"] != float64(line) || !strings.HasSuffix(fmt.Sprint(site["file"]), "n1detect_test.go") {
		t.Errorf("call_site = %v, want n1detect_test.go:%d", m["call_site"], line)
	}
	if p, _ := m["parent"].(map[string]any); p == nil || !strings.Contains(fmt.Sprint(p["query"]), "projects") {
		t.Errorf("parent = %v, want the projects query", m["parent"])
	}
	if args, _ := m["example_args"].([]any); len(args) != 1 || args[0] != "<redacted>" {
		t.Errorf("example_args = %v, want what RedactArgs returned", m["example_args"])
	}
	if !strings.Contains(fmt.Sprint(m["fix"]), "= ANY($1)") {
		t.Errorf("fix = %v", m["fix"])
	}
	// Without RedactArgs, argument values are never kept.
	ctx2, scope2 := n1detect.Start(n1TestCtx(t), "no args", n1detect.Config{})
	n1OwnersLoop(t, ctx2, pool, 3)
	if fs := scope2.Finish(); len(fs) != 1 || fs[0].ExampleArgs != nil || bytes.Contains(fs[0].JSON(), []byte("example_args")) {
		t.Errorf("arguments kept without RedactArgs:\n%s", gtFindingsText(fs))
	}
	// encoding/json gives the same fields as JSON().
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var again map[string]any
	if err := json.Unmarshal(b, &again); err != nil || again["id"] != f.ID || again["kind"] != "n+1" {
		t.Errorf("json.Marshal(finding) = %s, want the finding's fields", b)
	}
}

// ---- middleware ----

// n1LogBuffer is a log sink safe for concurrent writes.
type n1LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *n1LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *n1LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *n1LogBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func n1ProjectsHandler(t *testing.T, db gtDB, line *int) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /projects/{id}", func(w http.ResponseWriter, r *http.Request) {
		*line = n1OwnersLoop(t, r.Context(), db, gtN)
		w.Header().Set("X-Projects", r.PathValue("id"))
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "projects of %s\n", r.PathValue("id"))
	})
	return mux
}

func TestMiddleware(t *testing.T) {
	pool := n1SharedPool(t)

	t.Run("logs findings with the route, response unchanged", func(t *testing.T) {
		var line int
		mux := n1ProjectsHandler(t, pool, &line)
		var logs n1LogBuffer
		var got []n1detect.Finding
		h := n1detect.Middleware(n1detect.MiddlewareConfig{
			Config:     n1detect.Config{Threshold: 2},
			Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
			OnFindings: func(_ *http.Request, fs []n1detect.Finding) { got = fs },
		})(mux)

		plain := httptest.NewRecorder()
		mux.ServeHTTP(plain, httptest.NewRequest("GET", "/projects/7", nil))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/projects/7", nil))
		if rec.Code != plain.Code || rec.Body.String() != plain.Body.String() || rec.Header().Get("X-Projects") != "7" {
			t.Errorf("response changed: %d %q %v, want %d %q", rec.Code, rec.Body.String(), rec.Header(), plain.Code, plain.Body.String())
		}
		recs := logs.records(t)
		if len(recs) != 1 {
			t.Fatalf("want 1 log record, got %d:\n%s", len(recs), logs.String())
		}
		r := recs[0]
		t.Logf("log record: %v", r)
		for k, v := range map[string]any{"level": "WARN", "msg": "n+1 query", "route": "GET /projects/{id}", "kind": "n+1", "count": float64(gtN), "sql": gtUserEmailSQL} {
			if r[k] != v {
				t.Errorf("log %s = %v, want %v", k, r[k], v)
			}
		}
		if c := fmt.Sprint(r["caller"]); !strings.Contains(c, fmt.Sprintf("n1detect_test.go:%d", line)) {
			t.Errorf("log caller = %s, want n1detect_test.go:%d", c, line)
		}
		if !strings.Contains(fmt.Sprint(r["fix"]), "= ANY($1)") || r["id"] == "" || r["total"] == nil {
			t.Errorf("log record lacks fix, id or total: %v", r)
		}
		if len(got) != 1 || got[0].Scope != "GET /projects/{id}" {
			t.Fatalf("OnFindings got %v, want one finding in scope GET /projects/{id}", got)
		}
		gtCheckStacks(t, got) // no net/http frames above the handler
		// The pool's report lists it, under the route.
		found := false
		for _, f := range pool.Report().Findings {
			if f.ID == got[0].ID && f.Scope == "GET /projects/{id}" {
				found = true
			}
		}
		if !found {
			t.Errorf("pool.Report().Findings lacks the request's finding: %+v", pool.Report().Findings)
		}
	})

	t.Run("SampleRate 0.0001 skips requests", func(t *testing.T) {
		var line int
		var logs n1LogBuffer
		var checked int
		var mu sync.Mutex
		h := n1detect.Middleware(n1detect.MiddlewareConfig{
			Config:     n1detect.Config{Threshold: 2},
			SampleRate: 0.0001,
			Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
			OnFindings: func(*http.Request, []n1detect.Finding) { mu.Lock(); checked++; mu.Unlock() },
		})(n1ProjectsHandler(t, pool, &line))
		const requests = 20
		for range requests {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/projects/1", nil))
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status %d", rec.Code)
			}
		}
		// P(two or more of 20 sampled at 1e-4) ≈ 2e-6.
		if checked > 1 || len(logs.records(t)) > 1 {
			t.Errorf("%d of %d requests checked at SampleRate 0.0001", checked, requests)
		}
	})

	t.Run("zero config uses production thresholds", func(t *testing.T) {
		// 4 repeats that take ≥ 50 ms: a finding with the test thresholds (2),
		// none with the production ones (5); whatever the machine's speed.
		var logs n1LogBuffer
		h := n1detect.Middleware(n1detect.MiddlewareConfig{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n1SlowLoop(t, r.Context(), pool, 4, 20*time.Millisecond)
			}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/projects/1", nil))
		if recs := logs.records(t); len(recs) != 0 {
			t.Errorf("4 repeats were logged with production thresholds (5): %v", recs)
		}
	})

	t.Run("a panicking handler still reports", func(t *testing.T) {
		var logs n1LogBuffer
		h := n1detect.Middleware(n1detect.MiddlewareConfig{
			Config: n1detect.Config{Threshold: 2},
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n1OwnersLoop(t, r.Context(), pool, 3)
			panic("boom")
		}))
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("panic %v, want boom to go on", r)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
		}()
		recs := logs.records(t)
		if len(recs) != 1 || recs[0]["route"] != "POST /x" {
			t.Errorf("want one record for route POST /x, got %v", recs)
		}
	})
}

// ---- pool report ----

func TestFinishRecordsInPoolReport(t *testing.T) {
	pool := n1SharedPool(t)
	run := func() []n1detect.Finding {
		ctx, scope := n1detect.Start(n1TestCtx(t), "job: owners", n1detect.Config{})
		n1OwnersLoop(t, ctx, pool, gtN)
		fs := scope.Finish()
		if again := scope.Finish(); len(again) != len(fs) {
			t.Errorf("a second Finish returned %d findings, want the same %d", len(again), len(fs))
		}
		return fs
	}
	fs := run()
	if len(fs) != 1 {
		t.Fatalf("want one finding, got:\n%s", gtFindingsText(fs))
	}
	find := func() *n1detect.Finding {
		for _, f := range pool.Report().Findings {
			if f.ID == fs[0].ID {
				return &f
			}
		}
		return nil
	}
	rf := find()
	if rf == nil {
		t.Fatalf("the pool's report lacks finding %s: %+v", fs[0].ID, pool.Report().Findings)
	}
	if rf.Kind != "n+1" || rf.Count != gtN || rf.Scope != "job: owners" || rf.Occurrences != 1 ||
		filepath.Base(rf.CallSite.File) != "n1detect_test.go" || !strings.Contains(rf.String(), "N+1 query") || rf.Fix == "" {
		t.Errorf("recorded finding %+v", *rf)
	}
	inReport := false
	for _, f := range pool.Report().Findings {
		inReport = inReport || f.ID == fs[0].ID
	}
	if !inReport {
		t.Errorf("pool.Report().Findings lacks %s", fs[0].ID)
	}
	for _, st := range pool.Report().Statements {
		if st.FingerprintHex == fs[0].Fingerprint && st.Findings < 1 {
			t.Errorf("statement %s counts %d findings, want ≥ 1", st.FingerprintHex, st.Findings)
		}
	}
	// The same loop in another scope: one finding, two occurrences.
	run()
	if rf := find(); rf == nil || rf.Occurrences != 2 {
		t.Errorf("after a second scope: %+v, want 2 occurrences", rf)
	}
}

// ---- finding IDs ----

// n1OwnerAndEditorLoop looks up each project's owner and its editor (here: the
// owner of the next project) on two lines: two N+1 patterns in one function.
func n1OwnerAndEditorLoop(t *testing.T, ctx context.Context, db gtDB) {
	ps, err := gtProjects(ctx, db, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), new(string)); err != nil {
			t.Fatal(err)
		}
		if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner+int64(i)+1000), new(string)); err != nil {
			t.Fatal(err)
		}
	}
}

// Two N+1 loops at two lines of one function are two problems: they need
// two IDs, stable from run to run, so that allowing one does not allow the
// other and the pool's report lists both.
func TestFindingIDsTellCallSitesApart(t *testing.T) {
	pool := n1SharedPool(t)
	pool.Tracer().Reset()
	run := func(cfg n1detect.Config) []n1detect.Finding {
		return gtRunScope(t, "ids", cfg, func(ctx context.Context) error { n1OwnerAndEditorLoop(t, ctx, pool); return nil })
	}
	fs := run(n1detect.Config{})
	if len(fs) != 2 || fs[0].Kind != n1detect.NPlusOne || fs[1].Kind != n1detect.NPlusOne {
		t.Fatalf("want two N+1 findings, got:\n%s", gtFindingsText(fs))
	}
	again := run(n1detect.Config{})
	ids := func(fs []n1detect.Finding) map[string]bool {
		m := map[string]bool{}
		for _, f := range fs {
			m[f.ID] = true
		}
		return m
	}
	if fmt.Sprint(ids(fs)) != fmt.Sprint(ids(again)) {
		t.Errorf("IDs changed between runs: %v, then %v", ids(fs), ids(again))
	}
	if fs[0].ID == fs[1].ID {
		t.Errorf("both findings have ID %s:\n%s", fs[0].ID, gtFindingsText(fs))
	}
	if left := run(n1detect.Config{Allow: []string{fs[0].ID}}); len(left) != 1 {
		t.Errorf("allowing %s (the loop at line %d) left %d findings, want the other loop's:\n%s",
			fs[0].ID, fs[0].CallSite.Line, len(left), gtFindingsText(left))
	}
	if n := len(pool.Report().Findings); n != 2 {
		t.Errorf("the pool's report lists %d findings, want 2", n)
	}
}
