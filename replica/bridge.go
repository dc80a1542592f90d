package replica

import (
	"context"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// What package pgxperf calls and applications do not (internal/bridge/replica.go).
func init() {
	bridge.ReplicaRoute = func(r any, ctx context.Context, info *sqlinfo.Info) bridge.ReplicaNode {
		return r.(*Router).route(ctx, info)
	}
	bridge.ReplicaRouteTx = func(r any, ctx context.Context, readOnly bool) bridge.ReplicaNode {
		return r.(*Router).routeTx(ctx, readOnly)
	}
	bridge.ReplicaNext = func(r any, ctx context.Context, tried []bridge.ReplicaNode) bridge.ReplicaNode {
		return r.(*Router).next(ctx, tried)
	}
	bridge.ReplicaPrimary = func(r any) bridge.ReplicaNode { return r.(*Router).primary }
	bridge.ReplicaNodes = func(r any) []bridge.ReplicaNode {
		rt := r.(*Router)
		out := []bridge.ReplicaNode{rt.primary}
		for _, n := range rt.replicas {
			out = append(out, n)
		}
		return out
	}
	bridge.ReplicaIsRead = func(r any, info *sqlinfo.Info) bool { return r.(*Router).isRead(info) }
	bridge.ReplicaPrimaryErr = func(r any) error { return r.(*Router).primaryErr() }
	bridge.ReplicaCountPrimary = func(r any) { r.(*Router).countPrimary() }
	bridge.ReplicaRecordWrite = func(r any, ctx context.Context, s any) { ss, _ := s.(*Session); r.(*Router).recordWrite(ctx, ss) }
	bridge.ReplicaNoteWrite = func(r any) { r.(*Router).noteWrite() }
	bridge.ReplicaNoteSchemaChange = func(r any) { r.(*Router).noteSchemaChange() }
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

var _ bridge.ReplicaNode = (*node)(nil)
