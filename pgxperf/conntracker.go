package pgxperf

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/tracer"
)

// poolTracer is the tracer pgxperf installs: the tracer package's Tracer plus
// the bookkeeping of which connections are in use, which Close needs to cancel
// calls that outlast its deadline. pgxpool calls these hooks synchronously.
type poolTracer struct {
	*tracer.Tracer
	pool *Pool
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (t *poolTracer) TraceAcquireEnd(ctx context.Context, pp *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	if data.Err == nil {
		t.pool.markBusy(data.Conn)
	}
	t.Tracer.TraceAcquireEnd(ctx, pp, data)
}

// TraceRelease implements pgxpool.ReleaseTracer.
func (t *poolTracer) TraceRelease(pp *pgxpool.Pool, data pgxpool.TraceReleaseData) {
	t.pool.markIdle(data.Conn)
	t.Tracer.TraceRelease(pp, data)
}

// connTracker does only the bookkeeping, for a Pool with monitoring disabled.
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
	_ pgxpool.AcquireTracer = (*poolTracer)(nil)
	_ pgxpool.ReleaseTracer = (*poolTracer)(nil)
	_ pgx.BatchTracer       = (*poolTracer)(nil)
	_ pgxpool.AcquireTracer = (*connTracker)(nil)
	_ pgxpool.ReleaseTracer = (*connTracker)(nil)
)
