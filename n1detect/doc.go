// Package n1detect finds N+1 query patterns: the same statement run again
// and again from one place in the application within one unit of work (an
// HTTP request, a test, a job), where one statement for all items would do.
//
// # Scopes
//
// A Scope is carried by context.Context. Every statement traced by a pgxperf
// tracer (pgxperf.Pool installs one; tracer.New works on any pgx connection,
// pgxpool or database/sql through pgx/v5/stdlib) with that context, or a
// context derived from it, counts in the scope — including statements of
// goroutines it starts, batches and CopyFrom:
//
//	ctx, scope := n1detect.Start(ctx, "nightly export", n1detect.Config{})
//	rows, _ := pool.Query(ctx, "SELECT id FROM projects")
//	ids, _ := pgx.CollectRows(rows, pgx.RowTo[int64])
//	for _, id := range ids { // one query per project: an N+1
//		var n int
//		_ = pool.QueryRow(ctx, "SELECT count(*) FROM tasks WHERE project_id = $1", id).Scan(&n)
//	}
//	for _, f := range scope.Finish() {
//		log.Print(f) // readable; json.Marshal(f) for machines
//	}
//
// Statements with no scope cost one context lookup. In a scope, the tracer
// captures the callers' program counters when a statement starts; they are
// resolved to file:line once per distinct counter, and only when needed.
//
// # What is a finding
//
// Statements are grouped by their application call site (the first frames
// outside pgx, pgxperf, database/sql and generated files such as sqlc's, so a
// loop calling a generated method points at the loop) and by what they touch
// (statement kind and tables, so a per-item query whose WHERE clause varies is
// still one group). A group run at least Config.Threshold times (2 by
// default; 5 and together at least Config.MinTotal, 50 ms, by default in
// Middleware) is:
//
//   - NPlusOne: a read with different arguments each time;
//   - NPlusOneWrite: an INSERT, UPDATE, DELETE or MERGE per row;
//   - Redundant: the same statement with the same arguments (also across
//     call sites, for reads).
//
// Not findings: batch-shaped statements repeated over chunks (= ANY($1), IN
// lists, multi-row VALUES, unnest), page walks (keyset or OFFSET
// pagination), the statements of one pgx.Batch (one round trip), statements
// run once per call site, and anything under Ignore(ctx). Nested loops give
// one finding per level. Each Finding has the normalized SQL, an example, the
// count and distinct argument sets, the total time, the call site and the
// frames above it, its parent, a concrete fix and a stable ID for
// Config.Allow.
//
// The parent is the statement whose rows the loop walks (the projects query
// of a loop over projects), and the fix proposes to join into it. Other
// statements of the same iteration are siblings, never parents: in a loop
// that looks up each project's owner and then counts its content, both
// lookups name the projects query. The scope sees statements, not loops, so
// it infers the parent: of the statements that ran before the loop's first
// statement, the latest after one run of which the loop's statement ran at
// least twice (a sibling runs in step with it, once per iteration),
// preferring one that returned at least as many rows; or the statement whose
// rows were being read (rows.Next()) while the loop ran. In nested loops each
// level names the level above: for each project the content query, for each
// content row a per-item query, whose parent is the content query. A loop
// with nothing to iterate (a range over a slice built in Go) may have no
// parent; a loop with exactly one item per outer item names the outer
// loop's statement.
//
// # Finding IDs and the allow-list
//
// A finding's ID names its problem in Config.Allow and in pgxperf.Pool's
// report, which merges findings by ID. It hashes the kind, the statement's
// fingerprint, and the position of the call site and of its caller: each
// frame's file name (not its directory) and the frame's place in its
// function. With the source readable, that is the text of the line, and when
// lines above it in the same top-level function read the same (two identical
// loops in one function), how many do: "…#1" for the second. Without the
// source (a binary deployed without it), it is the line's offset from the
// start of its function. So an ID stays the same from run to run and when
// code moves around the function: edits in other functions, lines added
// above the function or in other files, a renamed directory. It changes when
// the line itself, its caller's line, or (without the source) the lines
// above it in its function change. When two findings of a scope would
// still share an ID (a helper reached from two loops), more frames are
// hashed until they differ. Config.Allow matches an ID at any of those
// depths, so an entry copied from a report where the helper's ID was short
// (one caller) or deep (several) silences it in both.
//
// Config.Allow also takes a fingerprint, a call site's function, or a
// "file.go:line" suffix of a call site; a line moves with any edit above it.
//
// # In tests
//
//	const projectSQL = "SELECT name FROM projects WHERE id = $1"
//
//	func TestDashboard(t *testing.T) {
//		ctx := n1detect.ForTest(t) // fails the test at cleanup on any N+1
//		n1detect.Check(t, ctx, func(ctx context.Context) {
//			for _, id := range []int64{1, 2, 3} { // an N+1: the test fails
//				var name string
//				_ = pool.QueryRow(ctx, projectSQL, id).Scan(&name)
//			}
//		}, n1detect.MaxStatements(4), n1detect.MaxCalls(projectSQL, 1))
//	}
//
// # In production
//
// Middleware gives each (sampled) request a scope, logs findings through
// log/slog with the route, and records them in the statistics of the pgxperf
// tracers that served the request, so pgxperf.Pool's report lists them. It
// never changes or fails a response.
package n1detect
