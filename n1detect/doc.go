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
//	runExport(ctx, pool)
//	for _, f := range scope.Finish() {
//		log.Print(f) // readable; f.JSON() for machines
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
// default, 5 and 50 ms in ProductionConfig) is:
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
// frames above it, the statement that preceded the loop, a concrete fix and a
// stable ID for Config.Allow.
//
// # In tests
//
//	func TestDashboard(t *testing.T) {
//		ctx := n1detect.ForTest(t) // fails the test at cleanup on any N+1
//		n1detect.Check(t, ctx, func(ctx context.Context) {
//			renderDashboard(ctx, pool, userID)
//		}, n1detect.MaxStatements(4), n1detect.MaxCalls(getProjectSQL, 1))
//	}
//
// # In production
//
// Middleware gives each (sampled) request a scope, logs findings through
// log/slog with the route, and records them in the statistics of the pgxperf
// tracers that served the request, so pgxperf.Pool's report lists them. It
// never changes or fails a response.
package n1detect
