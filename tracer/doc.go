// Package tracer is a pgx tracer that keeps per-statement statistics and a
// slow-query log.
//
// It works on its own with any pgx connection, pgxpool or pgx/v5/stdlib
// database:
//
//	cfg, _ := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
//	t := tracer.New(tracer.Config{SlowThreshold: 50 * time.Millisecond})
//	cfg.ConnConfig.Tracer = t
//	pool, _ := pgxpool.NewWithConfig(ctx, cfg)
//	…
//	top := t.Snapshot().Statements // largest total time first
//	for _, st := range top[:min(10, len(top))] {
//		fmt.Println(st.Calls, st.Total, st.P95, st.Query)
//	}
//
// pgxperf.Pool installs one for you.
//
// # Statistics
//
// Statements are grouped by their pg_query fingerprint: SELECT * FROM users
// WHERE id = 1 and … id = 2 are one entry. The grouping is close to
// pg_stat_statements' on the server, with these differences:
//   - a batch-shaped form (id = ANY($1), id IN (1, 2, 3), a multi-row VALUES)
//     has an entry of its own (StatementStats.BatchShaped), apart from the
//     per-value form id = $1 that pg_query fingerprints alike, so that an N+1
//     and the batched query that fixes it are two rows;
//   - the key is computed from the text the client sends, not from the parsed
//     and resolved query: two texts naming one table differently (users and
//     public.users) are two entries, one text meaning different tables on two
//     search_paths is one;
//   - a statement that fails is counted (with its error), which
//     pg_stat_statements does not do;
//   - reads a result cache served are counted apart (StatementStats.Cache,
//     see ObserveCacheHit): Calls, Rows and the latencies are the database's;
//   - pgxperf's own catalog lookups (a leading /* pgxperf:catalog */) are
//     never recorded.
//
// Each entry (StatementStats) counts calls, rows and errors by
// SQLSTATE (pgx.ErrNoRows is not an error), and keeps total, min, max, mean and
// standard deviation of the execution time (Welford's method), p50/p95/p99 from
// a fixed-size log-linear histogram (±12.5%), first and last seen, the
// normalized SQL, the sqlc query name, the slowest execution with its
// application call site, and which pool role (primary or replica) served it.
// Connection-acquire wait and prepare time are kept apart from execution time.
// A Tracer keeps at most Config.MaxFingerprints entries (5000 by default);
// beyond that, statements are counted together under fingerprint 0.
// Tracer.Snapshot copies them, sorted by total time; sort the copy with
// slices.SortFunc for another order. Config.Observers see each statement as
// an Event when it ends.
//
// pgx traces the end of a query when its rows are closed, so the execution time
// of Query includes the time the application spends iterating the rows.
//
// # Slow-query log
//
// Every statement that runs for at least Config.SlowThreshold (100 ms by
// default) is logged through log/slog as one "slow query" record with its
// fingerprint, duration, rows, normalized SQL and the application's call site
// (the first frame outside pgx, pgxperf and database/sql). Argument values are
// never logged or stored unless Config.RedactArgs is set, and then only what it
// returns.
//
// # What pgx hands a tracer
//
// The tracer copes with pgx's quirks: the SQL of a statement prepared under a
// name is looked up when the application executes it by name (as database/sql
// does through stdlib); leading QueryExecMode/QueryResultFormats arguments are
// skipped; @name placeholders of pgx.NamedArgs are analyzed as the $n the
// server receives, and other query rewriters are applied first; a
// statement-cache miss that prepares inside a query is charged as prepare time;
// BEGIN/COMMIT/ROLLBACK are recorded as transaction statements; an end event
// without its start (another tracer's context) is ignored, never a panic.
//
// # Call stacks
//
// The tracer captures the program counters of a statement's callers when an
// n1detect scope is in its context (to find the application's call site of
// each statement), and for cache hits in a scope. On amd64 it walks the
// frame pointers for that instead of calling runtime.Callers: a load and a
// table lookup per frame once a return address has been seen. What each
// return address stands for (its inlined calls) is learnt from
// runtime.Callers the first time it is seen, so both give the same stacks; a
// stack that does not come out the same falls back to runtime.Callers, and
// the walk is checked against it when the package starts. Capturing the 12
// frames a scope keeps took 0.13 µs with the walk and 1.4 µs with
// runtime.Callers (BenchmarkCallers, a shared 2-core VM).
//
// Set the environment variable PGXPERF_STACKWALK=runtime to turn the walk
// off; it is read once, when the program starts. Every capture then calls
// runtime.Callers. Turn it off if call sites in n1detect findings look
// wrong, with code that breaks the frame-pointer chain (hand-written
// assembly, unusual cgo callbacks), or to rule the walk out when debugging.
// It costs the difference above, about a microsecond, on every statement run
// in a scope, and nothing on statements outside one. Other architectures
// always use runtime.Callers. The call site of slow statements and of each
// fingerprint's slowest one is always found with runtime.Callers.
//
// # Combining with other tracers
//
// pgx has one ConnConfig.Tracer field. Use github.com/jackc/pgx/v5/multitracer
// to install this tracer next to others such as otelpgx or tracelog (see the
// examples). Every method is safe for concurrent use, and the hot path takes
// one allocation per statement (the context that carries its start time).
package tracer
