package pgxperf

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// startReplicas opens one pool per replica URL, configured like the primary
// (replicaConfig), and a router over them.
func (p *Pool) startReplicas(ctx context.Context, primaryCfg *pgxpool.Config, userTracer pgx.QueryTracer) error {
	var reps []replica.Replica
	for i, u := range p.opts.ReplicaURLs {
		rc, err := replicaConfig(primaryCfg, u)
		if err != nil {
			return errors.Join(ErrInvalidConfig, fmt.Errorf("pgxperf: replica %d: %w", i+1, err))
		}
		var ours pgx.QueryTracer = &connTracker{pool: p}
		if p.tracer != nil {
			ours = bridge.TracerForRole(p.tracer, true).(*tracer.Tracer)
		}
		rc.ConnConfig.Tracer = chainTracer(ours, userTracer)
		p.chainHooks(rc)
		pool, err := pgxpool.NewWithConfig(ctx, rc)
		if err != nil {
			return err
		}
		p.replicas = append(p.replicas, pool)
		reps = append(reps, replica.Replica{Name: fmt.Sprintf("replica-%d %s:%d", i+1, rc.ConnConfig.Host, rc.ConnConfig.Port), Pool: pool})
	}
	opts := p.opts.Routing
	if opts.AcquireTimeout == 0 {
		opts.AcquireTimeout = p.opts.AcquireTimeout // the router's own catalog lookups too
	}
	if opts.Logger == nil {
		opts.Logger = p.logger
	}
	opts.Primary, opts.Replicas = p.primary, reps
	r, err := replica.New(ctx, opts)
	if err != nil {
		return err
	}
	p.router = r
	return nil
}

// Router returns the read router, or nil when no replica is configured.
func (p *Pool) Router() *replica.Router { return p.router }

// AcquireReplica acquires a connection from a healthy replica (the primary
// when none is available). Acquire always uses the primary.
func (p *Pool) AcquireReplica(ctx context.Context) (*pgxpool.Conn, error) {
	if p.router == nil {
		return p.acquire(ctx)
	}
	return p.acquireFrom(ctx, bridge.ReplicaPool(p.router, ctx))
}
