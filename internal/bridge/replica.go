package bridge

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// What package replica offers package pgxperf: the routing decisions and a
// node's bookkeeping around a routed call. The variables are set by
// replica's init. Wherever r is a parameter it is a non-nil
// *replica.Router (any: this package cannot import replica); s is a
// *replica.Session. All of them are safe for concurrent use.
//
// A routed call goes: ReplicaRoute (or ReplicaRouteTx) picks a node; on a
// replica the call runs on node.Pool() between Begin and Released (or
// Acquired's func); a read that fails there with a retryable error counts
// CountRetry, a connection failure also MarkFailed, and ReplicaNext picks
// the next node; on the primary ReplicaPrimaryErr fails a write fast,
// ReplicaCountPrimary counts it, and after a write ReplicaRecordWrite
// records the session's position.

// ReplicaNode is one server of a replica.Router, the primary or a replica.
// Its methods are safe for concurrent use.
type ReplicaNode interface {
	// IsPrimary reports whether the node is the primary.
	IsPrimary() bool
	// Pool returns the node's pool.
	Pool() *pgxpool.Pool
	// Begin marks one more call in flight (least-in-flight balancing);
	// Released ends it. Acquired does Begin and returns Released.
	Begin()
	Released()
	Acquired() func()
	// CountRetry records a read that failed here and is retried elsewhere.
	CountRetry()
	// MarkFailed records a connection-level failure; a replica is taken
	// out of rotation until the monitor sees it answer again.
	MarkFailed(err error)
}

var (
	// ReplicaRoute returns the node for a statement analyzed as info: a
	// replica only when it is proven read-only, vetted against the catalog
	// (a lookup the first time), not forced to the primary by ctx, and a
	// healthy replica has replayed what ctx's reads must see.
	ReplicaRoute func(r any, ctx context.Context, info *sqlinfo.Info) ReplicaNode
	// ReplicaRouteTx returns the node for a transaction (readOnly: opened
	// with AccessMode pgx.ReadOnly), or for AcquireReplica.
	ReplicaRouteTx func(r any, ctx context.Context, readOnly bool) ReplicaNode
	// ReplicaNext returns another replica for a read that failed on the
	// nodes in tried, or the primary when none is left.
	ReplicaNext func(r any, ctx context.Context, tried []ReplicaNode) ReplicaNode
	// ReplicaPrimary returns the primary node.
	ReplicaPrimary func(r any) ReplicaNode
	// ReplicaNodes returns the primary and the replicas, in Router.Nodes order.
	ReplicaNodes func(r any) []ReplicaNode
	// ReplicaIsRead reports whether the router already knows info to be a
	// read a replica may serve; it never queries the catalog.
	ReplicaIsRead func(r any, info *sqlinfo.Info) bool
	// ReplicaPrimaryErr returns nil while the primary answers its health
	// checks, else an error matching replica.ErrPrimaryUnavailable.
	ReplicaPrimaryErr func(r any) error
	// ReplicaCountPrimary records a statement routed to the primary.
	ReplicaCountPrimary func(r any)
	// ReplicaRecordWrite records in session s (nil: nothing) the primary's
	// WAL insert position after a write: one round trip. When that fails,
	// the session's reads stay on the primary from then on.
	ReplicaRecordWrite func(r any, ctx context.Context, s any)
	// ReplicaNoteWrite records that a write through the primary pool has
	// completed (pool-wide read-your-writes); no round trip.
	ReplicaNoteWrite func(r any)
	// ReplicaNoteSchemaChange makes the router forget what it read from
	// the catalog.
	ReplicaNoteSchemaChange func(r any)
)
