// Package replica routes read-only statements to streaming replicas and
// everything else to the primary, without stale reads after a write.
//
// This package is being built (see the project's issues). Its design: the
// statement analyzer proves a statement read-only (no locking clause, no
// writable CTE, no volatile or unknown function, a single statement) before
// it may go to a replica; unknown means primary. Transactions stay on the
// primary. After a write in a session, reads go only to replicas that have
// replayed past the primary's WAL position for that write. A background
// monitor measures each replica's lag and health and takes lagging or dead
// replicas out of rotation. With pgxperf:
//
//	opts := pgxperf.Options{ReplicaURLs: []string{os.Getenv("DATABASE_READ_REPLICA_URL")}}
//	pool, err := pgxperf.NewWithOptions(ctx, cfg, opts)
package replica
