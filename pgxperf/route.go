package pgxperf

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/pgerr"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// This file is the route step of the call chain (call.go), used when
// replicas are configured: replica.Router picks the node of each call; a
// read that fails on a replica with a connection error or a recovery
// conflict, before any row reached the caller, is retried on another
// replica and then on the primary (re-running it is safe: only statements
// proven read-only go to replicas); a write fails fast while the monitor
// finds the primary down; and after a write in a replica.Session the
// primary's WAL position is recorded so the session's later reads see it.

// dest is where the router sends a call, and whether the call only reads
// (a read may still try a primary the monitor finds down, and records no
// write).
type dest struct {
	node bridge.ReplicaNode
	read bool
}

// stmtDest routes a statement (Exec, Query, QueryRow); the zero dest
// without replicas.
func (p *Pool) stmtDest(c *call) dest {
	if p.router == nil {
		return dest{}
	}
	info := c.analysis()
	return dest{node: bridge.ReplicaRoute(p.router, c.ctx, info), read: info.ReadOnly}
}

// batchDest routes a batch: to a replica only when every statement may go
// to one.
func (p *Pool) batchDest(ctx context.Context, b *pgx.Batch) dest {
	if p.router == nil {
		return dest{}
	}
	if len(b.QueuedQueries) == 0 {
		return dest{node: bridge.ReplicaPrimary(p.router)}
	}
	infos := make([]*sqlinfo.Info, len(b.QueuedQueries))
	for i, q := range b.QueuedQueries {
		if infos[i] = sqlinfo.Analyze(q.SQL); !infos[i].ReadOnly {
			return dest{node: bridge.ReplicaPrimary(p.router)}
		}
	}
	return dest{node: p.batchReplica(ctx, infos), read: true}
}

// txDest routes a transaction: a read-only one may go to a replica (see
// replica.Router.RouteTx).
func (p *Pool) txDest(ctx context.Context, opts pgx.TxOptions) dest {
	if p.router == nil {
		return dest{}
	}
	ro := opts.AccessMode == pgx.ReadOnly
	return dest{node: bridge.ReplicaRouteTx(p.router, ctx, ro), read: ro}
}

// primaryDest sends a write that only the primary can take (CopyFrom).
func (p *Pool) primaryDest() dest {
	if p.router == nil {
		return dest{}
	}
	return dest{node: bridge.ReplicaPrimary(p.router)}
}

// route is the route step: it runs o on d's node, and on the next ones while
// it fails on a replica in a way that makes a retry safe, then on the
// primary. Without replicas it runs o on the primary.
func (p *Pool) route(ctx context.Context, o op, d dest) error {
	if d.node == nil {
		return o.run(ctx, p.primary, false)
	}
	node := d.node
	var tried []bridge.ReplicaNode
	for !node.IsPrimary() {
		node.Begin()
		err := o.run(ctx, node.Pool(), true)
		if err == nil {
			o.finally(node.Released)
			return nil
		}
		node.Released()
		retry, down := retryable(ctx, err)
		if !retry {
			return err
		}
		failed(node, err, down)
		tried = append(tried, node)
		node = bridge.ReplicaNext(p.router, ctx, tried)
	}
	if !d.read {
		if err := bridge.ReplicaPrimaryErr(p.router); err != nil {
			return err
		}
	}
	bridge.ReplicaCountPrimary(p.router)
	err := o.run(ctx, p.primary, false)
	if !d.read {
		if s := replica.SessionFromContext(ctx); s != nil {
			o.committed(func() { p.recordWrite(ctx, s) })
		}
	}
	return err
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
	res, err := querycache.Capture(rows, readAheadBytes)
	switch {
	case err == nil:
		return res.Replay(m), nil
	case errors.Is(err, querycache.ErrTooLarge):
		return res.ReplayThen(m, rows), nil
	default:
		return nil, err
	}
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

// failed records a failure on a replica node.
func failed(n bridge.ReplicaNode, err error, down bool) {
	n.CountRetry()
	if down {
		n.MarkFailed(err)
	}
}

// mayHaveWritten says whether a write that returned err may have changed
// data: anything but an error from the server (which rolled the statement
// back) — a failed Scan after INSERT … RETURNING has committed.
func mayHaveWritten(err error) bool { return !pgerr.Rejected(err) }

// noScope hides an n1detect scope from pgxperf's own statements.
func noScope(ctx context.Context) context.Context { return tracer.WithScope(ctx, nil) }

// recordWrite stores the primary's WAL insert position in the context's
// session after a write: one round trip, only when a session is present.
func (p *Pool) recordWrite(ctx context.Context, s *replica.Session) {
	if s == nil {
		return
	}
	// Without the position, the session stays on the primary from now on.
	bridge.ReplicaRecordWrite(p.router, noScope(context.WithoutCancel(ctx)), s)
}

// batchReplica returns the replica that may run every statement of a
// read-only batch, or the primary: each statement must be one the router
// would send to a replica (vetted against the catalog like a single read).
func (p *Pool) batchReplica(ctx context.Context, infos []*sqlinfo.Info) bridge.ReplicaNode {
	node := bridge.ReplicaRoute(p.router, ctx, infos[0])
	if node.IsPrimary() {
		return node
	}
	for _, info := range infos[1:] {
		if !bridge.ReplicaIsRead(p.router, info) {
			bridge.ReplicaRoute(p.router, ctx, info) // vets the statement against the catalog once
			if !bridge.ReplicaIsRead(p.router, info) {
				return bridge.ReplicaPrimary(p.router)
			}
		}
	}
	return node
}
