// Package replica routes read-only statements to streaming replicas and
// everything else to the primary, without stale reads after a write.
//
// pgxperf.Pool routes through a Router when pgxperf.Config.ReplicaURLs is
// set (its Routing field holds the settings of this package's Config); the
// context helpers below
// steer its calls. On its own, over plain pgxpools, a Router watches the
// replicas' health and lag:
//
//	primary, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	…
//	eu1, err := pgxpool.New(ctx, os.Getenv("DATABASE_READ_REPLICA_URL"))
//	…
//	router, err := replica.New(ctx, replica.Config{
//		Primary:  primary,
//		Replicas: []replica.Replica{{Name: "eu-1", Pool: eu1}},
//	})
//	if err != nil {
//		return err
//	}
//	defer router.Close() // stops the monitor; the pools stay open
//	for _, n := range router.Nodes() {
//		log.Printf("%s: %s, %d bytes behind", n.Name, n.State, n.LagBytes)
//	}
//
// and a request carries read-your-writes across instances in a Session:
//
//	sess, err := replica.ParseToken(r.Header.Get("X-Session")) // "" gives a new one
//	if err != nil {
//		sess = replica.NewSession()
//	}
//	ctx = replica.WithSession(ctx, sess) // pgxperf.Pool calls with ctx record and honour it
//	// … writes and reads through the pgxperf.Pool with ctx …
//	w.Header().Set("X-Session", sess.Token())
//
// # What goes where
//
// Unknown means primary. A statement goes to a replica only when:
//
//   - the statement analyzer (the Postgres parser) proves it read-only: a
//     single statement that parses; no locking clause (FOR UPDATE/SHARE …,
//     NOWAIT, SKIP LOCKED), no SELECT INTO or writable CTE; no built-in with
//     side effects (nextval/setval/currval/lastval, txid_current,
//     pg_current_wal_*, advisory locks, set_config, pg_notify, …); nothing
//     that needs session state made elsewhere (LISTEN/NOTIFY/SET/PREPARE,
//     EXECUTE and EXPLAIN EXECUTE of a prepared statement, FETCH/MOVE/CLOSE
//     and WHERE CURRENT OF a cursor, pg_temp relations);
//   - it runs no user-defined code that the options do not vouch for:
//     Postgres does not enforce what a function's declared volatility
//     promises (a STABLE function can take advisory locks or change
//     settings; every aggregate is recorded IMMUTABLE), so by default a
//     statement stays on the primary when it calls a function that has a
//     user-defined overload in any schema (a user function can shadow a
//     built-in name), uses a user-defined operator or a domain with
//     constraints (found by name in its text), or reads a relation that
//     the catalog cannot resolve (a temporary table made on another
//     connection), a foreign table, or a view or a row-level-security
//     policy that depends on user functions or operators or calls a
//     built-in with side effects (their definitions are analyzed, through
//     nested views). Config.ReadOnlyFunctions vouches for named functions;
//     Config.TrustVolatility trusts every STABLE or IMMUTABLE plain
//     function and the operators over them. Objects of the contrib
//     extensions shipped with Postgres (pg_trgm, citext, hstore, …) count
//     as built-in;
//   - the context does not force the primary (ForcePrimary, or the comment
//     /* pgxperf:primary */) and a healthy replica has replayed every write
//     the read must see (below).
//
// Transactions stay on the primary (read-only ones may use a replica with
// Config.ReadOnlyTransactions or PreferReplica). What the router read from
// the catalog is kept for Config.CatalogTTL (1 minute), forgotten at once
// after DDL through the pool, and forgotten within a
// monitor interval when the monitor's signature of the user-defined catalog
// rows changes (DDL from anywhere). A replica that refuses a statement as a
// write (SQLSTATE 25006) has it re-run on the primary.
//
// # Read-your-writes
//
// By default (pool-wide) a read that starts after a write through the
// pool has completed — a statement that may change data, a COMMIT, DDL,
// COPY, on any goroutine and through any method or acquired connection of
// the primary pool — never sees state older than that write, without the
// application carrying anything. The primary pool's tracer tells the router;
// the router learns the primary's WAL insert position off the
// caller's path (one query covers every write completed before it ran) and,
// until then, sends reads to the primary; afterwards reads go only to
// replicas that have replayed that far, which a catch-up poller checks every
// 100 µs (backing off to CheckInterval) while they are behind. The cost:
// one query per burst of writes, none per read; under a steady stream of
// writes more reads go to the primary (BenchmarkMixedOffload: replicas serve
// 79 % of reads at one write in 100, 25 % at one in 10, on loopback).
// Everything committed before the router was created is visible too, and
// the position is shared by every Router of the process whose primary is
// the same cluster (by its system identifier): a write through a library's
// own pool is seen by reads through the application's.
//
// A Session carried in the context (WithSession) records the primary's WAL
// position after its own writes (one extra round trip per write); its reads
// then go only to replicas past it. Token and ParseToken carry a session
// across app instances, requests or job payloads. With Config.SessionConsistency
// only sessions order reads: reads without one may see a replica up to the
// lag limits behind, and more reads go to replicas (1.00 in the same
// benchmark). AllowStale(ctx) opts a single read out of both.
//
// # Health and lag
//
// A monitor checks every replica on a jittered interval (Config.CheckInterval
// to twice that) with a short timeout, over connections of its own:
// pg_is_in_recovery(), pg_last_wal_replay_lsn(), and the primary's current
// WAL position. A replica behind by more than MaxLagBytes or MaxLagTime is
// excluded until it catches up; one that does not answer is offline until it
// does; one no longer in recovery (promoted) is taken out. The primary is
// never excluded: with no replica left, reads go to the primary. While the
// primary does not answer, writes fail fast with ErrPrimaryUnavailable and
// reads are served by replicas with what they have replayed.
//
// Only real connection failures mark a node down: pgx.ErrNoRows, a Scan
// error and the statement's own SQL error are the caller's answer. A read
// that fails on a replica with a connection failure or a recovery conflict
// (by SQLSTATE) before any row reached the caller is retried on another
// node. Node figures (state, lag, routed, retries, errors) come from Nodes.
package replica
