// Package pgxperf is a drop-in replacement for *pgxpool.Pool that shows what
// an application's database calls cost.
//
// Swapping it in is a rename:
//
//	pool, err := pgxperf.New(ctx, os.Getenv("DATABASE_URL")) // was pgxpool.New
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer pool.Close()
//	var db pgxperf.DBTX = pool // what sqlc's db.New(pool) takes
//	…
//	pool.Report().WriteText(os.Stdout, 10) // statements sorted by total time
//
// Pool has every exported method of *pgxpool.Pool with the same signature and
// semantics. Acquire returns the genuine *pgxpool.Conn, errors are the ones
// pgxpool returns (context.Canceled unchanged, *pgconn.PgError through
// errors.As, pgx.ErrNoRows, pgxpool's closed-pool error), and the hooks and
// tracer already set on a *pgxpool.Config are chained, never replaced.
//
// # Configuration
//
// New and NewWithConfig are pgxpool's. pgxperf's own settings go in a
// Config, with the pgxpool config in its Pool field; its other fields' zero
// values are useful. NewFromConfig takes it, and ConfigFromEnv makes one
// from DATABASE_URL, DATABASE_READ_REPLICA_URL, REDIS_URL,
// DATABASE_CONNECTION_LIMIT, DATABASE_POOL_TIMEOUT, DATABASE_QUERY_TIMEOUT and
// ENABLE_QUERY_MONITORING:
//
//	cfg, err := pgxperf.ConfigFromEnv()
//	if err != nil {
//		log.Fatal(err) // names the bad variable
//	}
//	cfg.QueryTimeout = 5 * time.Second
//	pool, err := pgxperf.NewFromConfig(ctx, cfg)
//
// Built without cgo (CGO_ENABLED=0) there is no SQL parser: the Pool still
// traces, but no statement is proven read-only or cacheable, so routing and
// the query cache do nothing; NewFromConfig logs a warning when they are
// configured.
//
// # What it records
//
// Every statement is analyzed once per distinct SQL text (pg_query
// fingerprint, normalized text, kind, tables, read-only verdict) and counted
// per fingerprint by the tracer package: calls, rows, errors by SQLSTATE,
// latency mean/stddev/p50/p95/p99, acquire wait and prepare time apart, the
// slowest call with its call site. Statements over the slow threshold (100 ms
// by default) are logged through log/slog. Pool.Report returns it all.
//
// # Replicas
//
// With Config.ReplicaURLs, statements the analyzer proves read-only go to a
// healthy streaming replica and everything else to the primary (package
// replica): transactions, CopyFrom and Acquire stay on the primary
// (AcquireReplica asks for a replica), a read that fails on a replica before
// its first row is retried on another node, and a replica.Session in the
// context gives read-your-writes. Report lists each node's state, lag and
// counts.
//
// # Query cache
//
// With Config.RedisURL (REDIS_URL) or Config.Cache.Client, opted-in reads
// are cached in Redis and, with Cache.L1, in process memory (package
// querycache): per call with querycache.WithTTL, per sqlc name or
// fingerprint with Cache.Rules, or per statement with a
// /* pgxperf:cache ttl=1m */ comment. The cache refuses what it cannot prove
// safe (volatile functions, locking clauses, catalogs, temporary tables,
// transactions), keys entries by statement, typed arguments and session, and
// every write on the Pool's connections invalidates the tables it names
// after it commits. Misses are read from the primary. Redis failures never
// fail a query. Report has a section per statement and table.
//
// # N+1 detection
//
// Statements run in an n1detect scope (a request, a test, a job) are checked
// for N+1 patterns; findings appear in Report.
//
// # Errors
//
// pgxperf adds few failure modes, each a documented sentinel: ErrAcquireTimeout
// (Config.AcquireTimeout elapsed; also matches context.DeadlineExceeded),
// ErrPrimaryUnavailable (with replicas: a write while the monitor finds the
// primary down; reads keep working) and ErrInvalidConfig (matched by every
// configuration error, including *EnvError).
package pgxperf
