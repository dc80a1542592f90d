// Package querycache caches in Redis: the results of opted-in read queries,
// keyed by normalized SQL, and, through a Manager, any other value with a
// typed get-or-load API.
//
// # Get-or-load cache
//
// For values that are not query results (external API responses, sessions,
// quotas), a Manager offers a typed get-or-load cache:
//
//	m, err := querycache.NewManager(querycache.Config{Client: rdb, Prefix: "app:"})
//	repo, err := querycache.GetOrLoad(ctx, m, "gh:repo:"+name, querycache.TTLGitHubAPI,
//		func(ctx context.Context) (Repo, error) { return gh.Repo(ctx, name) })
//
// The loader runs only on a miss, once per key at a time in a process
// (concurrent callers share the Redis read and the load). GetMany reads many
// keys with one MGET, loads all the missing ones with one call and caches them
// with one pipeline. Warm, Set, Get, Delete (UNLINK) and InvalidatePattern
// (SCAN + UNLINK, never KEYS) complete the API. Named TTLs (TTLSession,
// TTLGitHubAPI, TTLGeneratedContent, TTLPlatformMetadata, TTLUserQuota,
// TTLQueryResults) are jittered by ±10%, and a hit in the last 10% of an
// entry's TTL refreshes it in the background while callers keep the cached
// value. Keys are the caller's, under Config.Prefix: they are neither hashed
// nor escaped, so keep personal data out of them.
//
// # Failures
//
// Redis errors never fail GetOrLoad or GetMany: the loader answers, the error
// goes to Config.OnError and to Stats. After 5 consecutive failures a circuit
// breaker stops calling Redis for a cooldown (1 s, doubling to 30 s), then
// lets one probe through; while it is open a call adds about a microsecond to
// the loader. Set the go-redis client's ContextTimeoutEnabled so that
// Config.Timeout also bounds socket reads. Get, Set, Warm, Delete and
// InvalidatePattern, which have no loader, return errors wrapping
// ErrUnavailable. Stats are kept per key prefix (the part before the first
// ':').
//
// # Query results
//
// A query result is stored row-faithfully: Capture reads a pgx.Rows into a
// Result (field descriptions, raw values, command tag; ErrTooLarge above a
// size limit), Encode and Decode give it a compact, versioned binary form (S2
// compression above 1 KiB: klauspost/compress, chosen because it decodes 5–10×
// faster than compress/flate for a 15–20% larger output, and a cache hit is
// all decoding), and Replay and ReplayRow give back a pgx.Rows and a pgx.Row
// that scan exactly as the database's own, so sqlc code, pgx.CollectRows and
// RowToStructByName work unchanged on a hit.
//
// Plugging this into pgxperf.Pool (opt-in per call, per fingerprint or by SQL
// comment; default-deny by the parse tree; keys hashed over the fingerprint,
// normalized SQL, typed arguments, database, role, search_path and tenant
// settings; invalidation of written tables after commit; an in-process L1
// kept consistent over pub/sub) is the next step.
package querycache
