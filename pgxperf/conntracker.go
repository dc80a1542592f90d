package pgxperf

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connTracker keeps the bookkeeping Close needs (which connections are in
// use) for a Pool with monitoring disabled; with monitoring on, the tracer
// keeps it (bridge.TracerInUse) at no extra cost per call.
type connTracker struct{ pool *Pool }

func (*connTracker) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (*connTracker) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (*connTracker) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return ctx
}
func (t *connTracker) TraceAcquireEnd(_ context.Context, _ *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	if data.Err == nil {
		t.pool.markBusy(data.Conn)
	}
}
func (t *connTracker) TraceRelease(_ *pgxpool.Pool, data pgxpool.TraceReleaseData) {
	t.pool.markIdle(data.Conn)
}

var (
	_ pgxpool.AcquireTracer = (*connTracker)(nil)
	_ pgxpool.ReleaseTracer = (*connTracker)(nil)
)
