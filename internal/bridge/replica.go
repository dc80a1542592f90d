package bridge

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// What package replica offers package pgxperf: the route step of the
// Pool's call chain. The variables are set by replica's init. Wherever r is
// a parameter it is a non-nil *replica.Router (any: this package cannot
// import replica). All of them are safe for concurrent use.

// Op is one call of pgxperf.Pool as the route step sees it: its acquire
// and execute steps, which the Router runs on the pool of the node it picks
// (and again on another node when a read fails on a replica in a way that
// makes a retry safe).
type Op interface {
	// Run acquires a connection of pool and starts the call on it; the
	// result holds the connection until the application is done with it.
	// onReplica is set when pool is a replica's: a query reads ahead
	// (ReplicaReadAhead) so that a failure before its first row reaches
	// the application can still be retried elsewhere.
	Run(ctx context.Context, pool *pgxpool.Pool, onReplica bool) error
	// Finally arranges for f to run once the application is done with the
	// result (rows or batch closed, transaction ended); at once when the
	// call holds no connection.
	Finally(f func())
	// Committed arranges for f to run once what the call wrote, or may
	// have written, is committed; never for a call the server rejected.
	Committed(f func())
}

var (
	// ReplicaRunStmt runs a statement (Exec, Query, QueryRow) analyzed as
	// info: on a replica when it is proven read-only, vetted against the
	// catalog and no write it must see is missing there; else on the primary.
	ReplicaRunStmt func(r any, ctx context.Context, info *sqlinfo.Info, o Op) error
	// ReplicaRunBatch runs a batch whose statements are analyzed as infos:
	// on a replica only when every statement may go to one.
	ReplicaRunBatch func(r any, ctx context.Context, infos []*sqlinfo.Info, o Op) error
	// ReplicaRunTx runs a transaction's BEGIN: on a replica only when it is
	// read-only and read-only transactions may use replicas.
	ReplicaRunTx func(r any, ctx context.Context, readOnly bool, o Op) error
	// ReplicaRunPrimary runs a write only the primary takes (COPY).
	ReplicaRunPrimary func(r any, ctx context.Context, o Op) error
	// ReplicaPool returns the pool AcquireReplica takes a connection from:
	// a healthy replica's, or the primary's when none is.
	ReplicaPool func(r any, ctx context.Context) *pgxpool.Pool
	// ReplicaPools returns the primary's pool, then each replica's.
	ReplicaPools func(r any) []*pgxpool.Pool
	// ReplicaWriteWatch returns the tracer to install on the primary's
	// connections, which tells the Router about every write that completes
	// there, and the function that attaches the Router once it exists.
	ReplicaWriteWatch func() (t pgx.QueryTracer, attach func(r any))
	// ReplicaReadAhead reads the start of a replica's result and returns
	// rows that replay it, then stream the rest; on error the rows are
	// closed. m is the connection's type map.
	ReplicaReadAhead func(rows pgx.Rows, m *pgtype.Map) (pgx.Rows, error)
)
