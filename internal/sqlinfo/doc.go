// Package sqlinfo is pgxperf's statement analyzer: one analysis per distinct
// SQL text, shared by the tracer, N+1 detection, the replica router and the
// result cache.
//
// Parsing a statement with the real Postgres parser (pg_query) costs tens of
// microseconds, about as much as a loopback round trip, so it must not
// happen on every query. [Analyze] parses a text the first time it is seen
// and afterwards answers from a bounded in-process cache in tens of
// nanoseconds without allocating. The result, an [Info], is immutable and
// shared: callers must never modify it, slices included.
//
// # What an Info holds
//
//   - Fingerprint, FingerprintHex: pg_query's fingerprint, which groups texts
//     that differ only in constants (the pg_stat_statements notion of "the
//     same query"); per-fingerprint statistics key on it. For text pg_query
//     cannot parse it is a stable FNV-1a hash of a fallback-normalized form,
//     and Fallback is true.
//   - Normalized: the text with constants replaced by $n, for reports.
//   - Kind and TxOp: what the statement is (select, insert, ddl,
//     transaction, utility, multi, empty, unparsed) and, for transaction
//     control, which operation (begin, commit, savepoint, …), so that the
//     router can keep transactions on one node.
//   - ReadOnly and Reason: true only when the statement is proven to neither
//     write, lock, nor have side effects, so that it may run on a hot-standby
//     replica or be served from the result cache. "Unknown means primary":
//     a parse error, a locking clause, a writable CTE, SELECT INTO, a call of
//     nextval, an advisory lock or any function not on the built-in
//     allow-list ([IsKnownReadOnlyFunction]) makes it false, and so does a
//     reference to session state made on another connection (EXPLAIN
//     EXECUTE of a prepared statement, WHERE CURRENT OF a cursor, FETCH,
//     MOVE, CLOSE). Reason says why in a few words.
//   - TablesRead, TablesWritten: relations as written in the SQL, for cache
//     invalidation and reports. CTE names are not tables.
//   - Functions, UnknownFunctions: functions called; the unknown ones are
//     user functions the analyzer cannot vouch for. Calls: the same calls
//     with their argument counts (to narrow pg_proc overloads) and the
//     SQL-standard value functions marked as such.
//   - Text: the text analyzed. One Info describes one exact text, so a
//     result cache keys on it: Fingerprint and Normalized drop constants.
//   - Volatile: a construct whose value changes from call to call without
//     a function call: a clock-relative date/time literal ('now', 'today',
//     … see [HasClockWord]), TABLESAMPLE, a system column.
//   - Locking: the FOR UPDATE / FOR SHARE … clause, if any.
//   - SQLCName, SQLCCommand: from a leading sqlc "-- name: GetUser :one"
//     comment, to name queries in reports after the code that runs them.
//   - BatchShaped: the statement works on a set of values in one round trip
//     (= ANY($1), IN lists, multi-row VALUES, unnest($1)). pg_query gives
//     "id = $1" and "id = ANY($1)" the same fingerprint; N+1 advice needs
//     to tell them apart.
//   - Params and NamedArgs: the highest $n, and pgx named arguments (@name),
//     which are analyzed as the $n pgx.NamedArgs turns them into.
//   - ParseError: why pg_query rejected the text.
//
// # Usage
//
//	info := sqlinfo.Analyze(sql) // process-wide cache, never nil
//	if info.ReadOnly {
//		// may go to a replica
//	}
//	stats.Record(info.Fingerprint, elapsed)
//
// A component that wants its own bound creates an [Analyzer] with [New].
//
// # Why otter
//
// The cache is a github.com/maypok86/otter/v2 cache keyed by the SQL text.
// An application may issue millions of distinct texts (literals inlined by
// an ORM, generated IN lists), so the cache must be bounded, and bounded by
// bytes rather than entries because texts range from ten bytes to
// megabytes: each entry is weighed (key, normalized text, lists and a fixed
// overhead) and otter evicts to stay under Config.MaxBytes. Its W-TinyLFU
// policy keeps the frequently used statements of an application resident
// while a burst of one-off texts passes through, and its reads are lock-free
// and allocation-free, which keeps a cache hit on the query hot path cheap.
package sqlinfo
