package replica

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// What package pgxperf calls and applications do not (internal/bridge/replica.go).
func init() {
	bridge.ReplicaRunStmt = func(r any, ctx context.Context, info *sqlinfo.Info, o bridge.Op) error {
		return r.(*Router).runStmt(ctx, info, o)
	}
	bridge.ReplicaRunBatch = func(r any, ctx context.Context, infos []*sqlinfo.Info, o bridge.Op) error {
		return r.(*Router).runBatch(ctx, infos, o)
	}
	bridge.ReplicaRunTx = func(r any, ctx context.Context, readOnly bool, o bridge.Op) error {
		return r.(*Router).runTx(ctx, readOnly, o)
	}
	bridge.ReplicaRunPrimary = func(r any, ctx context.Context, o bridge.Op) error {
		return r.(*Router).runPrimary(ctx, o)
	}
	bridge.ReplicaPool = func(r any, ctx context.Context) *pgxpool.Pool { return r.(*Router).replicaPool(ctx) }
	bridge.ReplicaPools = func(r any) []*pgxpool.Pool {
		rt := r.(*Router)
		out := []*pgxpool.Pool{rt.primary.pool}
		for _, n := range rt.replicas {
			out = append(out, n.pool)
		}
		return out
	}
	bridge.ReplicaReadAhead = readAhead
	bridge.ReplicaWriteWatch = func() (pgx.QueryTracer, func(r any)) {
		w := &writeWatch{}
		return w, func(r any) { w.router.Store(r.(*Router)) }
	}
}

// recordWrite records in s the primary's WAL insert position after a write;
// when that fails, s keeps its reads on the primary from then on. A nil s
// does nothing.
func (r *Router) recordWrite(ctx context.Context, s *Session) {
	if s == nil {
		return
	}
	if err := r.observeWrite(ctx, s); err != nil {
		s.observe(pgLSN(^uint64(0) >> 1))
	}
}
