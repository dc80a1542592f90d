// Package querycache caches the results of opted-in read queries in Redis,
// keyed by normalized SQL, and offers a typed get-or-load cache for other values.
//
// This package is being built (see the project's issues). Its design: caching
// is opt-in per call, per fingerprint or by SQL comment, and denied by the parse
// tree for anything not provably read-only and deterministic. Keys are SHA-256
// digests over the fingerprint, normalized SQL, typed arguments, database, role,
// search_path and tenant settings, so no two callers who could read different
// rows share an entry, and no SQL or argument value appears in a key name.
// Writes through the pool invalidate the tables they touch after commit.
// Redis failures never fail a query the database can answer: a circuit breaker
// stops calling a dead Redis.
//
//	opts := pgxperf.Options{RedisURL: os.Getenv("REDIS_URL")}
package querycache
