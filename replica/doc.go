// Package replica routes read-only statements to streaming replicas and
// everything else to the primary, without stale reads after a write.
//
// pgxperf.Pool uses it when Options.ReplicaURLs is set; it also works on its
// own with plain pgxpools:
//
//	r, err := replica.New(ctx, replica.Config{Primary: primary, Replicas: []replica.Replica{{Pool: rep}}})
//	defer r.Close()
//	node := r.Route(ctx, sqlinfo.Analyze(sql)) // node.Pool() runs it
//
// # What goes where
//
// A statement goes to a replica only when the statement analyzer proves it
// read-only: no locking clause (FOR UPDATE/SHARE …, NOWAIT, SKIP LOCKED), no
// SELECT INTO or writable CTE, no nextval/setval/currval/lastval,
// txid_current, pg_current_wal_*, advisory lock, set_config, no
// LISTEN/NOTIFY/SET/PREPARE, a single statement that parses, and only
// functions known to be read-only: built-ins by their volatility, user
// functions by pg_proc.provolatile (read once from the primary, cached) or
// Options.ReadOnlyFunctions/WriteFunctions. Unknown means primary.
// Transactions stay on the primary (read-only ones may use a replica with
// Options.ReadOnlyTransactions or PreferReplica). ForcePrimary(ctx) and the
// comment /* pgxperf:primary */ force the primary; AllowStale(ctx) ignores
// the session position.
//
// # Read-your-writes
//
// A Session carried in the context records the primary's WAL insert
// position after each write (one extra round trip per write transaction or
// autocommit write, none for reads); the session's reads then go only to
// replicas whose replayed position is past it, else to the primary. Token
// and ParseToken carry a session across requests or into job payloads.
//
// # Health and lag
//
// A monitor checks every replica on a jittered interval (Options.CheckInterval
// to twice that) with a short timeout, over connections of its own:
// pg_is_in_recovery(), pg_last_wal_replay_lsn(), and the primary's current
// WAL position. A replica behind by more than MaxLagBytes or MaxLagTime is
// excluded until it catches up; one that does not answer is offline until it
// does; one no longer in recovery (promoted) is taken out. The primary is
// never excluded: with no replica left, reads go to the primary. While the
// primary does not answer, writes fail fast with ErrPrimaryUnavailable.
// Node figures (state, lag, routed, retries, errors) come from Nodes.
package replica
