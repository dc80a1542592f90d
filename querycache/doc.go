// Package querycache is the transparent query-result cache that pgxperf.Pool
// puts in front of Query and QueryRow: opted-in reads, proven safe to cache,
// kept in Redis (and optionally in process memory), and invalidated after
// every committed write seen on the pool's connections. (For an
// application's other values, such as API responses, sessions and quotas,
// see package rediscache.)
//
// # Using it
//
// Turn it on through the Pool: pgxperf.Config.RedisURL (the Pool makes and
// closes the client) or Config.Cache.Client, with Config.Cache for the rest
// of this package's Config. Then opt calls in, and read the figures from Pool.Cache:
//
//	pool, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
//		RedisURL: os.Getenv("REDIS_URL"),
//		Cache: querycache.Config{
//			Rules:          []querycache.Rule{{Name: "ProjectMetrics", TTL: time.Hour}}, // an sqlc query
//			TenantSettings: []string{"app.tenant_id"},                                  // read by RLS policies
//		},
//	})
//	if err != nil {
//		return err
//	}
//	defer pool.Close()
//	var n int
//	err = pool.QueryRow(querycache.WithTTL(ctx, time.Minute),
//		"SELECT count(*) FROM content WHERE project_id = $1", id).Scan(&n)
//	st := pool.Cache().Stats() // hits, misses, and why a statement was not cached
//
// A QueryCache serves reads only through the Pool, which installs what it
// needs on the pool's connections (the invalidator, the catalog lookups).
//
// # What is cached
//
// The cache is opt-in: a statement is cached only when the call asks for it,
//
//	ctx = querycache.WithTTL(ctx, 30*time.Second)                    // per call
//	rule := querycache.Rule{Name: "ListPublishedContent"}            // per sqlc name or fingerprint (Config.Rules)
//	rows, err := pool.Query(ctx, "SELECT /* pgxperf:cache ttl=1m */ status, count(*) FROM content GROUP BY 1") // per statement
//
// and only when the cache can prove it safe (default deny). It refuses, with
// the reason counted per statement (Stats, and the Pool's report):
//
//   - anything but a single SELECT, VALUES or TABLE that parses, and any call
//     inside a transaction;
//   - locking and writing: FOR UPDATE/SHARE, writable CTEs, SELECT INTO, and
//     built-ins with side effects (nextval, setval, setseed, txid_current,
//     advisory locks, set_config, …);
//   - a function that is not proven pure: every overload the call can
//     resolve to by its argument count must be an IMMUTABLE built-in in
//     pg_catalog, or the function must be listed in
//     Config.ImmutableFunctions as the statement calls it; user
//     functions are never trusted for what they declare (now(), random(),
//     current_setting, to_char, concat and unlisted user functions are
//     refused);
//   - SQL-value functions: CURRENT_DATE/TIME/TIMESTAMP, LOCALTIME[STAMP]
//     (the clock), CURRENT_USER/CURRENT_ROLE/USER/SESSION_USER,
//     CURRENT_SCHEMA, CURRENT_CATALOG;
//   - clock-relative date/time input: a string constant or a string
//     argument holding the word now, today, tomorrow or yesterday, in any
//     case (conservative: such strings are refused even when not converted
//     to a date);
//   - TABLESAMPLE, and system columns (ctid, xmin, xmax, cmin, cmax,
//     tableoid), which change without a write the cache sees;
//   - system catalogs (pg_*, information_schema), temporary and foreign
//     tables, sequences, and names the catalog cannot resolve;
//   - a view whose own definition fails any of the above (analyzed
//     recursively through nested views) or depends on a user function or
//     operator that is not listed;
//   - a table under row-level security whose policies read a setting not
//     in Config.TenantSettings, call a function the key cannot cover,
//     or fail the checks above;
//   - session state the key does not hold (see Session state below), and
//     arguments the key cannot encode (channels, functions, nesting deeper
//     than 32).
//
// LIMIT without ORDER BY is allowed: every answer the server could give is
// a valid one.
//
// Keys are prefix + "r:" + a SHA-256 over a framed, typed encoding of the
// fingerprint, the normalized SQL, the statement's whole text (the
// fingerprint and the normalized SQL leave constants out: "id = 1" and
// "id = 2" share them), every argument, the pool's host, port,
// database, user and RuntimeParams (search_path, role, …), and the settings
// of Config.TenantSettings: no SQL or argument value is ever part of a
// key name. A table under row-level security is cached only when every
// setting its policies read (current_setting('…')) is in TenantSettings and
// has a value for the call (WithSettings, or RuntimeParams), and its
// policies call nothing else the key cannot cover.
//
// Results are stored row-faithfully: the field descriptions, every value's
// wire bytes and the command tag, in a compact versioned encoding (S2
// compression above Config.CompressAbove, 1 KiB: klauspost/compress, chosen
// because it decodes 5–10× faster than compress/flate for a 15–20% larger
// output, and a hit is all decoding). Hits are replayed as pgx.Rows without a
// connection, decoded with the same pgtype calls a live pgx.Rows makes, so
// sqlc code, pgx.CollectRows and RowToStructByName work unchanged on a hit.
// Results above Config.MaxResultBytes (1 MiB) are passed through uncached.
//
// # Invalidation and staleness
//
// Every table has a generation counter in Redis; an entry records those of
// the tables it depends on (a view's base tables, partitions and ancestors,
// tables whose deletes cascade into it, tables its policies read, and every
// view or table with a rule over them, so that a write through a view
// invalidates reads of its base tables), as they were before its statement
// ran, and is served only while they are unchanged. The invalidator, which
// the Pool installs on its connections, increments the generations of the
// tables a write names after it commits, before the
// call returns (immediately for autocommit; at COMMIT for transactions,
// batches and CopyFrom; nothing on ROLLBACK), so a read that starts after a
// committed write never sees an older entry, and a read that started before
// it cannot store its old rows where a later read would find them. Writes
// whose tables the analyzer cannot name (DDL, DO, CALL, user functions in
// writes, unparsable text) invalidate the whole database, and so does a
// SELECT that calls a user function not listed in ImmutableFunctions, also
// one shadowing a built-in's name (the catalog's set of user function
// names is read when the pool is made and after DDL). Misses are filled
// on the primary, once per key and generation at a time in a process
// (single-flight); one caller refreshes an entry in the last 10% of its TTL
// while the others are still served it; TTLs are jittered by ±10%.
//
// The staleness bound of writes the Pool does not see — other services,
// psql, triggers that write other tables, functions reached only through
// other functions — is the entry's TTL: choose TTLs for what such writes can
// tolerate, or invalidate explicitly by writing through the Pool.
//
// The optional in-process cache (Config.L1, bounded by weight with
// otter's W-TinyLFU) answers hits in about a microsecond. Each instance
// publishes its invalidations on a Redis pub/sub channel; the others drop
// their in-process entries for those tables on receipt, and use no
// in-process entry while they are not subscribed (every resubscription
// flushes them). Across instances an in-process entry can therefore outlive
// a remote write by the time the message takes to reach the other process
// and be read there — measured on a 2-core machine whose CPUs the readers
// kept busy: 2–3 ms at the median, 17 ms at most
// (TestEvidenceCrossInstanceL1Window); an idle process reads it sooner —
// and by at most L1.MaxAge (10 s) should a message be lost; within one
// instance it never outlives a write. Leave L1 off where that
// bound is too loose: Redis hits always check the generations.
//
// Redis failures never fail a query: the call runs on the database, the
// error goes to Config.OnError and Stats, and after repeated failures the
// breaker skips Redis altogether (a call then costs a microsecond or two
// over the uncached path).
//
// # Redis faults
//
// No caller waits for a sick Redis longer than the cache's timeouts. A read
// waits at most Timeout (100 ms) in all: its lookup and, after a miss, the
// store of the result share it (the store is skipped when the lookup left
// less than half), callers that join another's fill of the same key get
// its rows without waiting for its store, and a read never waits for an
// invalidation; past Timeout it goes to the database. A write's
// invalidation is delivered before the write returns (waiting up to
// InvalidateTimeout, 1 s); while the breaker is open, or earlier
// invalidations are pending, it does not wait at all. These bounds hold
// with any client (one that ignores context deadlines is given up on at
// the deadline), but set the client as Config.Client recommends
// (pgxperf.Pool does on the client it makes from RedisURL): with go-redis's
// default dial retries a refused connection (Redis down, the breaker not
// open yet) costs a write the whole InvalidateTimeout instead of
// milliseconds.
//
// An invalidation that cannot be delivered is kept, and this instance then
// serves and stores nothing from the cache (its reads go to the database);
// it retries every InvalidateRetry (50 ms) from a background goroutine,
// outside the breaker's backed-off cooldown, so the invalidation lands
// within about InvalidateRetry + Timeout of Redis answering again
// (measured: 0–25 ms); reads never wait for it. An instance that lost Redis also serves and
// stores nothing for max(4×InvalidateRetry, 200 ms) after its first answer
// from Redis, so that after a Redis restart (with AOF or RDB the old entries
// come back) the other instances' pending invalidations land before anyone
// serves them. Give every instance the same InvalidateRetry.
//
// The remaining bound: while instance A cannot reach Redis but others can (a
// network partition), the others cannot know about A's writes. They keep
// serving entries those writes made stale until A's invalidations land
// (about InvalidateRetry + Timeout after the partition heals), the entries'
// TTL ends, or, with L1 on, L1.MaxAge ends. A write from an instance that
// dies before delivering its invalidation is bounded only by the TTL.
//
// # Session state
//
// The key holds the pool's configured session (RuntimeParams), not state a
// statement sets later. When a statement run through the pool (SET, RESET,
// set_config(…, false), SET ROLE, SET SESSION AUTHORIZATION, a temporary
// table, LOAD) gives a connection state the key does not hold, the cache is
// bypassed for every call, with that reason, until the connection runs
// RESET ALL, DISCARD ALL or the matching RESET (for a role: RESET ROLE or
// DISCARD ALL, since RESET ALL keeps it), or is closed; a fill that ran on
// such a connection is not stored. Setting a TenantSettings name declared
// per call, a setting that does not change results (statement_timeout,
// application_name, …), SET LOCAL or set_config(…, true) does not bypass.
// Set session state with RuntimeParams, not a SET in AfterConnect. A change
// made inside a function, procedure or DO block is seen only for the values
// the server reports (TimeZone, DateStyle, IntervalStyle,
// session_authorization, client_encoding). Statements sent through PgConn()
// directly are not traced at all.
package querycache
