package replica

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/pgerr"
	"github.com/pgxperf/pgxperf/internal/rowcodec"
	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// This file is the route step of pgxperf.Pool's call chain: the Pool hands
// the Router each call as a bridge.Op (its acquire and execute steps) and
// the Router runs it where it belongs. A read that fails on a replica with a
// connection error or a recovery conflict, before any row reached the
// caller, is run again on another replica and then on the primary
// (re-running it is safe: only statements proven read-only go to
// replicas); a write fails fast while the monitor finds the primary down;
// and after a write in a Session the primary's WAL position is recorded so
// the session's later reads see it. A query on a replica reads ahead
// (readAhead) so that a failure before its first row is still retried.

// runStmt runs a statement (Exec, Query, QueryRow) analyzed as info.
//
// Only a statement the router knows to be a read (proven read-only and
// vetted against the catalog: isRead) counts as one. A statement the parser
// calls read-only may still run user code that writes (a user operator, a
// shadowed built-in): on the primary it is a write for the session and for
// the primary's health, as the write watch counts it for the pool.
func (r *Router) runStmt(ctx context.Context, info *sqlinfo.Info, o bridge.Op) error {
	n := r.route(ctx, info) // vets info against the catalog when needed
	return r.run(ctx, o, n, r.isRead(info))
}

// runBatch runs a batch whose statements are analyzed as infos: on a
// replica only when every statement may go to one.
func (r *Router) runBatch(ctx context.Context, infos []*sqlinfo.Info, o bridge.Op) error {
	if len(infos) == 0 {
		return r.run(ctx, o, r.primary, false)
	}
	for _, info := range infos {
		if !info.ReadOnly {
			return r.run(ctx, o, r.primary, false)
		}
	}
	n := r.batchNode(ctx, infos) // vets each statement against the catalog
	read := true
	for _, info := range infos {
		read = read && r.isRead(info) // as in runStmt: user code may write
	}
	return r.run(ctx, o, n, read)
}

// batchNode returns the replica that may run every statement of a
// read-only batch, or the primary: each statement must be one the router
// would send to a replica (vetted against the catalog like a single read).
func (r *Router) batchNode(ctx context.Context, infos []*sqlinfo.Info) *node {
	n := r.route(ctx, infos[0])
	if n.primary {
		return n
	}
	for _, info := range infos[1:] {
		if !r.isRead(info) {
			r.route(ctx, info) // vets the statement against the catalog once
			if !r.isRead(info) {
				return r.primary
			}
		}
	}
	return n
}

// runTx runs BEGIN of a transaction (see routeTx).
func (r *Router) runTx(ctx context.Context, readOnly bool, o bridge.Op) error {
	return r.run(ctx, o, r.routeTx(ctx, readOnly), readOnly)
}

// runPrimary runs a write only the primary can take (COPY).
func (r *Router) runPrimary(ctx context.Context, o bridge.Op) error {
	return r.run(ctx, o, r.primary, false)
}

// run runs o on n, and on the next nodes while it fails on a replica in a
// way that makes a retry safe, then on the primary. read says the call is
// known to only read: it may still try a primary the monitor finds down
// (writes fail fast with ErrPrimaryUnavailable), and records no write.
func (r *Router) run(ctx context.Context, o bridge.Op, n *node, read bool) error {
	var tried []*node
	for !n.primary {
		n.Begin()
		err := o.Run(ctx, n.pool, true)
		if err == nil {
			o.Finally(n.Released)
			return nil
		}
		n.Released()
		retry, down := retryable(ctx, err)
		if !retry {
			return err
		}
		n.CountRetry()
		if down {
			n.MarkFailed(err)
		}
		tried = append(tried, n)
		n = r.pickOrPrimary(fromContext(ctx), tried)
	}
	if !read {
		if err := r.primaryErr(); err != nil {
			return err
		}
	}
	r.countPrimary()
	err := o.Run(ctx, r.primary.pool, false)
	if !read {
		if s := SessionFromContext(ctx); s != nil {
			// The position query is pgxperf's own: hidden from the
			// caller's n1detect scope, and not cancelled with the call.
			o.Committed(func() { r.recordWrite(scope.With(context.WithoutCancel(ctx), nil), s) })
		}
	}
	return err
}

// retryable says whether a read that failed on a replica may be retried
// elsewhere, and whether the replica itself looks down, by the one error
// classification (internal/pgerr): a recovery conflict or a read-only
// refusal is retried and leaves the node in rotation; only a connection
// failure marks it down. pgx.ErrNoRows, a Scan error and the statement's
// own SQL error are the caller's answer.
func retryable(ctx context.Context, err error) (retry, down bool) {
	if err == nil || ctx.Err() != nil {
		return false, false
	}
	return pgerr.Retry(err)
}

// retryableErr is retryable without the context: whether err, seen while
// reading a replica's result, is worth running the read again elsewhere.
func retryableErr(err error) bool {
	retry, _ := pgerr.Retry(err)
	return retry
}

// replicaPool returns the pool of the node AcquireReplica should use.
func (r *Router) replicaPool(ctx context.Context) *pgxpool.Pool {
	return r.routeTx(PreferReplica(ctx), true).pool
}

// readAheadBytes is how much of a replica's result is read before the first
// row reaches the caller. A result that fits is complete before the caller
// sees it, so a replica failing at any point of it is retried elsewhere; a
// larger one streams on after its first readAheadBytes, and a failure past
// them reaches the caller (rows already delivered cannot be taken back).
const readAheadBytes = 64 << 10

// readAhead reads the start of a replica's result (see readAheadBytes) and
// returns rows that replay it, then stream the rest. On error the rows are
// closed.
func readAhead(rows pgx.Rows, m *pgtype.Map) (pgx.Rows, error) {
	res, err := rowcodec.Capture(rows, readAheadBytes)
	switch {
	case err == nil:
		return res.Replay(m), nil
	case errors.Is(err, rowcodec.ErrTooLarge):
		return res.ReplayThen(m, rows), nil
	case res != nil && !retryableErr(err):
		// The statement's own error (a division by zero at row 2): the
		// application gets the rows read before it, then the error, as pgx
		// delivers them; no other node would answer differently.
		return res.ReplayThenFail(m, err), nil
	default:
		return nil, err // before any row, or worth a retry elsewhere
	}
}
