package pgxperf

import (
	"context"
	"strings"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Every Pool method that runs a statement goes down one chain of steps, in
// this order:
//
//	analyze  the SQL text, at most once per call (a cached lookup), for every step below
//	cache    Query and QueryRow only: an opted-in read the query cache can serve (cache.go)
//	timeout  Config.QueryTimeout, for a context without a deadline
//	route    with replicas, package replica runs the op: on the node it picks; a read
//	         that fails on a replica is retried on the next node, a write fails fast
//	         while the primary is down, a session's writes are recorded (route.go)
//	acquire  a lease of a connection of that node's pool, bounded by
//	         Config.AcquireTimeout, that Close can take back (lease.go)
//	execute  on the connection, whose tracers keep the statistics, invalidate the
//	         cache after writes and tell the router about writes (pool.go)
//
// The acquire and execute steps of a kind of call (a statement, a query, a
// batch, a transaction's BEGIN, a COPY) are an op (ops.go, a bridge.Op);
// the route step may run an op on several pools in turn.

// call is what every step knows of one Pool call.
type call struct {
	ctx  context.Context
	sql  string
	args []any
	// info is the statement's analysis, nil until a step needs it.
	info *sqlinfo.Info
	// cancel ends the deadline the timeout step added; nil when it added none.
	cancel context.CancelFunc
}

// newCall starts a call.
func newCall(ctx context.Context, sql string, args []any) call {
	return call{ctx: ctx, sql: sql, args: args}
}

// analysis returns the statement's analysis, made on first use.
func (c *call) analysis() *sqlinfo.Info {
	if c.info == nil {
		c.info = sqlinfo.Analyze(c.sql)
	}
	return c.info
}

// multi reports whether the call is a text of several statements without
// arguments, which pgxperf runs itself to count every statement's rows.
func (c *call) multi() bool {
	return len(c.args) == 0 && strings.IndexByte(c.sql, ';') >= 0 && c.analysis().Kind == sqlinfo.KindMulti
}

// withTimeout is the timeout step: Config.QueryTimeout for a context
// without a deadline.
func (p *Pool) withTimeout(c *call) {
	c.ctx, c.cancel = p.callContext(c.ctx)
}

// endTimeout ends the deadline the timeout step added, if any.
func (c *call) endTimeout() {
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
}

// callContext applies Config.QueryTimeout to a context without a deadline.
// The returned cancel is nil when nothing was added.
func (p *Pool) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.opts.QueryTimeout <= 0 || ctx == nil {
		return ctx, nil
	}
	if _, has := ctx.Deadline(); has {
		return ctx, nil
	}
	return context.WithTimeout(ctx, p.opts.QueryTimeout)
}
