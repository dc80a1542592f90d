// Package snippets holds the test that compiles the code shown to users —
// every package's doc comment and the README — from a module outside this
// one, the way an application would use it: through the public API only.
//
// A doc comment's snippet is a tab-indented block; a README snippet is a
// ```go fence. "…" stands for code left out and is dropped. A block with a
// line that starts a func, type or import declaration is compiled as a
// file's declarations; any other block as the body of a
// function returning an error; either is given what an application has at hand there: ctx, pool
// (a *pgxperf.Pool), cfg (a *pgxpool.Config), rdb (a *redis.Client), id and
// userID (int64), name (string), w and r (an HTTP handler's) and t (a test's). A block whose first line
// is "// not compiled" is skipped.
package snippets
