// Package rediscache is a typed get-or-load cache in Redis for an
// application's own values: external API responses, sessions, quotas,
// rendered output. It has nothing to do with Postgres; pgxperf's SQL result
// cache is package querycache.
//
// # Using a Cache
//
// Make one Cache per key namespace over a go-redis client, and read through
// it with the generic functions GetOrLoad, GetMany, Get, Set and Warm (Go
// methods cannot be generic):
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	c, err := rediscache.New(rediscache.Config{Client: rdb, Prefix: "app:"})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	projects, err := rediscache.GetOrLoad(ctx, c, "projects:"+name, 15*time.Minute,
//		func(ctx context.Context) (int64, error) { // runs on a miss only
//			var n int64
//			err := pool.QueryRow(ctx, "SELECT count(*) FROM projects WHERE owner = $1", name).Scan(&n)
//			return n, err
//		})
//
// The loader runs only on a miss, once per key at a time in a process
// (concurrent callers share the Redis read and the load). GetMany reads many
// keys with one MGET, loads all the missing ones with one call and caches them
// with one pipeline. Warm, Set, Get, Delete (UNLINK) and InvalidatePattern
// (SCAN + UNLINK, never KEYS) complete the API. TTLs are the caller's (the
// package example shows an application naming its own); each entry's TTL is
// jittered by ±10%, and a hit in the last 10% of an entry's TTL refreshes it
// in the background while callers keep the cached value. Keys are the
// caller's, under Config.Prefix: they are neither hashed nor escaped, so keep
// personal data out of them. Values are encoded with encoding/json unless
// Config.Codec says otherwise.
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
package rediscache
