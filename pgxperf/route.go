package pgxperf

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/pgerr"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// This file is the route step of the call chain (call.go). Without
// replicas every op runs on the primary; with them, package replica's
// Router runs it (internal/bridge): on the node it picks, again on the next
// node when a read fails on a replica before any row reached the caller,
// failing a write fast while the primary is down, and recording a
// session's writes for read-your-writes.

// runStmt routes a statement (Exec, Query, QueryRow).
func (p *Pool) runStmt(c *call, o bridge.Op) error {
	if p.router == nil {
		return o.Run(c.ctx, p.primary, false)
	}
	return bridge.ReplicaRunStmt(p.router, c.ctx, c.analysis(), o)
}

// runBatch routes a batch: to a replica only when every statement may go
// to one.
func (p *Pool) runBatch(ctx context.Context, b *pgx.Batch, o bridge.Op) error {
	if p.router == nil {
		return o.Run(ctx, p.primary, false)
	}
	infos := make([]*sqlinfo.Info, len(b.QueuedQueries))
	for i, q := range b.QueuedQueries {
		infos[i] = sqlinfo.Analyze(q.SQL)
	}
	return bridge.ReplicaRunBatch(p.router, ctx, infos, o)
}

// runTx routes a transaction's BEGIN.
func (p *Pool) runTx(ctx context.Context, opts pgx.TxOptions, o bridge.Op) error {
	if p.router == nil {
		return o.Run(ctx, p.primary, false)
	}
	return bridge.ReplicaRunTx(p.router, ctx, opts.AccessMode == pgx.ReadOnly, o)
}

// runPrimary routes a write only the primary takes (CopyFrom).
func (p *Pool) runPrimary(ctx context.Context, o bridge.Op) error {
	if p.router == nil {
		return o.Run(ctx, p.primary, false)
	}
	return bridge.ReplicaRunPrimary(p.router, ctx, o)
}

// mayHaveWritten says whether a write that returned err may have changed
// data: anything but an error from the server (which rolled the statement
// back) — a failed Scan after INSERT … RETURNING has committed.
func mayHaveWritten(err error) bool { return !pgerr.Rejected(err) }
