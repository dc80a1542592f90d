package pgxperf

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgxperf/pgxperf/internal/pgerr"
	"github.com/pgxperf/pgxperf/internal/pgxrows"
	"github.com/pgxperf/pgxperf/internal/rowcodec"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// This file holds the call paths used when replicas are configured: each
// statement is routed by replica.Router; a read that fails on a replica with
// a connection error or a recovery conflict, before any row reached the
// caller, is retried on another replica and then on the primary (re-running
// it is safe: only statements proven read-only go to replicas); and after a
// write in a replica.Session the primary's WAL position is recorded so the
// session's later reads see it.

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
func failed(n *replica.Node, err error, down bool) {
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
	if err := p.router.ObserveWrite(noScope(context.WithoutCancel(ctx)), s); err != nil {
		// Without the position, keep the session on the primary from now on.
		s.Observe(replica.LSN(^uint64(0) >> 1))
	}
}

func (p *Pool) routedExec(ctx context.Context, sql string, args []any) (pgconn.CommandTag, error) {
	info := sqlinfo.Analyze(sql)
	node := p.router.Route(ctx, info)
	var tried []*replica.Node
	for !node.IsPrimary() {
		node.Begin()
		tag, err := p.execOn(ctx, node.Pool(), sql, args)
		node.Released()
		retry, down := retryable(ctx, err)
		if !retry {
			return tag, err
		}
		failed(node, err, down)
		tried = append(tried, node)
		node = p.router.Next(ctx, tried)
	}
	if err := p.router.PrimaryErr(); err != nil {
		return pgconn.CommandTag{}, err
	}
	p.router.CountPrimary()
	tag, err := p.primaryExec(ctx, sql, args)
	if !info.ReadOnly && (mayHaveWritten(err) || info.Kind == sqlinfo.KindMulti) {
		p.recordWrite(ctx, replica.SessionFromContext(ctx))
	}
	return tag, err
}

func (p *Pool) routedQuery(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	info := sqlinfo.Analyze(sql)
	node := p.router.Route(ctx, info)
	if node.IsPrimary() {
		return p.primaryRoutedQuery(ctx, info, sql, args)
	}
	rr := &replicaRows{p: p, ctx: ctx, info: info, sql: sql, args: args}
	if err := rr.run(node); err != nil {
		return pgxrows.Fail(err), err
	}
	return rr, nil
}

func (p *Pool) primaryRoutedQuery(ctx context.Context, info *sqlinfo.Info, sql string, args []any) (pgx.Rows, error) {
	if !info.ReadOnly {
		if err := p.router.PrimaryErr(); err != nil {
			return pgxrows.Fail(err), err
		}
	}
	p.router.CountPrimary()
	rows, err := p.primaryQuery(ctx, sql, args)
	if err != nil || info.ReadOnly {
		return rows, err
	}
	if s := replica.SessionFromContext(ctx); s != nil {
		return &writeRows{Rows: rows, after: func() { p.recordWrite(ctx, s) }}, nil
	}
	return rows, nil
}

// routedQueryRow serves QueryRow: on a replica through the node's own
// QueryRow, retried on the next node when it fails before scanning a row.
func (p *Pool) routedQueryRow(ctx context.Context, sql string, args []any) pgx.Row {
	info := sqlinfo.Analyze(sql)
	node := p.router.Route(ctx, info)
	if node.IsPrimary() {
		rows, err := p.primaryRoutedQuery(ctx, info, sql, args)
		if err != nil {
			return pgxrows.Fail(err)
		}
		return &cancelRow{rows: rows}
	}
	return &replicaRow{p: p, ctx: ctx, info: info, node: node, sql: sql, args: args}
}

type replicaRow struct {
	p    *Pool
	ctx  context.Context
	info *sqlinfo.Info
	node *replica.Node
	sql  string
	args []any
}

func (r *replicaRow) Scan(dest ...any) error {
	var tried []*replica.Node
	node := r.node
	for !node.IsPrimary() {
		node.Begin()
		err := r.scanOn(node, dest)
		node.Released()
		retry, down := retryable(r.ctx, err)
		if !retry {
			return err
		}
		failed(node, err, down)
		tried = append(tried, node)
		node = r.p.router.Next(r.ctx, tried)
	}
	rows, err := r.p.primaryRoutedQuery(r.ctx, r.info, r.sql, r.args)
	if err != nil {
		return err
	}
	return (&cancelRow{rows: rows}).Scan(dest...)
}

func (r *replicaRow) scanOn(node *replica.Node, dest []any) error {
	rows, err := r.p.queryOn(r.ctx, nil, node.Pool(), r.sql, r.args)
	if err != nil {
		return err
	}
	return pgxrows.ScanFirst(rows, dest...)
}

// replicaRows reads from a replica; when the replica fails before the first
// row, it re-runs the query on the next node and reads from there.
type replicaRows struct {
	pgx.Rows
	p     *Pool
	ctx   context.Context
	info  *sqlinfo.Info
	sql   string
	args  []any
	tried []*replica.Node
	node  *replica.Node
	done  func()
	seen  bool // a row reached the caller: no more retries
	once  sync.Once
}

// readAhead is how much of a replica's result is read before the first row
// reaches the caller. A result that fits is complete before the caller sees
// it, so a replica failing at any point of it is retried elsewhere; a larger
// one streams on after its first readAhead bytes, and a failure past them
// reaches the caller (rows already delivered cannot be taken back).
const readAhead = 64 << 10

// run starts the query on node, moving on to the next node while it fails
// with a retryable error before any row reached the caller.
func (r *replicaRows) run(node *replica.Node) error {
	for {
		if node.IsPrimary() {
			r.node, r.done = node, func() {}
			rows, err := r.p.primaryRoutedQuery(r.ctx, r.info, r.sql, r.args)
			r.Rows = rows
			return err
		}
		err := r.start(node)
		if err == nil {
			return nil
		}
		retry, down := retryable(r.ctx, err)
		if !retry {
			r.Rows = pgxrows.Fail(err)
			return err
		}
		failed(node, err, down)
		r.tried = append(r.tried, node)
		node = r.p.router.Next(r.ctx, r.tried)
	}
}

// start runs the query on a replica and reads ahead. It holds the connection
// until the rows are closed: the replay decodes with its type map.
func (r *replicaRows) start(node *replica.Node) error {
	node.Begin()
	l, err := r.p.take(r.ctx, node.Pool())
	if err != nil {
		node.Released()
		return err
	}
	rows, err := l.c.Query(r.ctx, r.sql, r.args...)
	if err != nil {
		l.release()
		node.Released()
		return err
	}
	res, err := rowcodec.Capture(rows, readAhead)
	switch {
	case err == nil:
		r.Rows = res.Replay(l.c.TypeMap())
	case errors.Is(err, rowcodec.ErrTooLarge):
		r.Rows = res.ReplayThen(l.c.TypeMap(), rows)
	default:
		l.release() // Capture closed the rows
		node.Released()
		return err
	}
	r.node = node
	r.done = func() {
		l.release()
		node.Released()
	}
	return nil
}

func (r *replicaRows) Next() bool {
	for {
		if r.Rows.Next() {
			r.seen = true
			return true
		}
		err := r.Rows.Err()
		retry, down := retryable(r.ctx, err)
		if r.seen || !retry || r.node == nil || r.node.IsPrimary() {
			r.finish()
			return false
		}
		// Failed before the first row: try the next node.
		r.Rows.Close()
		r.done()
		r.done = nil // run sets the next node's; finish must not call this one again
		failed(r.node, err, down)
		r.tried = append(r.tried, r.node)
		if err := r.run(r.p.router.Next(r.ctx, r.tried)); err != nil {
			r.finish()
			return false
		}
	}
}

func (r *replicaRows) finish() {
	r.once.Do(func() {
		r.Rows.Close()
		if r.done != nil {
			r.done()
		}
	})
}

func (r *replicaRows) Close() { r.finish() }

// writeRows records the session's WAL position once a write's rows are closed.
type writeRows struct {
	pgx.Rows
	after func()
	once  sync.Once
}

func (w *writeRows) Next() bool {
	if w.Rows.Next() {
		return true
	}
	w.Close()
	return false
}

func (w *writeRows) Close() {
	w.once.Do(func() {
		w.Rows.Close()
		if mayHaveWritten(w.Rows.Err()) {
			w.after()
		}
	})
}

// batchReadOnly reports whether every statement of a batch may run on a replica.
func batchReadOnly(b *pgx.Batch) bool {
	for _, q := range b.QueuedQueries {
		if !sqlinfo.Analyze(q.SQL).ReadOnly {
			return false
		}
	}
	return len(b.QueuedQueries) > 0
}

// batchReplica returns the replica that may run every statement of a
// read-only batch, or the primary: each statement must be one the router
// would send to a replica (vetted against the catalog like a single read).
func (p *Pool) batchReplica(ctx context.Context, b *pgx.Batch) *replica.Node {
	node := p.router.Route(ctx, sqlinfo.Analyze(b.QueuedQueries[0].SQL))
	if node.IsPrimary() {
		return node
	}
	for _, q := range b.QueuedQueries[1:] {
		info := sqlinfo.Analyze(q.SQL)
		if !p.router.IsRead(info) {
			p.router.Route(ctx, info) // vets the statement against the catalog once
			if !p.router.IsRead(info) {
				return p.router.Primary()
			}
		}
	}
	return node
}

// routedBatch sends a batch on the node the router picks; cancel (may be
// nil) is called when the batch is closed.
func (p *Pool) routedBatch(ctx context.Context, cancel context.CancelFunc, b *pgx.Batch) pgx.BatchResults {
	if batchReadOnly(b) {
		// One read on one node: every statement must be fit for a replica.
		node := p.batchReplica(ctx, b)
		if !node.IsPrimary() {
			return p.sendBatchOn(ctx, cancel, node.Pool(), b, node.Acquired())
		}
	}
	if err := p.router.PrimaryErr(); err != nil && !batchReadOnly(b) {
		if cancel != nil {
			cancel()
		}
		return pgx.FailedBatchResults(b, err)
	}
	p.router.CountPrimary()
	var done func()
	if s := replica.SessionFromContext(ctx); s != nil && !batchReadOnly(b) {
		done = func() { p.recordWrite(ctx, s) }
	}
	return p.sendBatchOn(ctx, cancel, p.primary, b, done)
}

func (p *Pool) routedBeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	node := p.router.RouteTx(ctx, opts.AccessMode == pgx.ReadOnly)
	if !node.IsPrimary() {
		tx, err := p.beginTxOn(ctx, node.Pool(), opts)
		if err == nil {
			return tx, nil
		}
		if retry, down := retryable(ctx, err); !retry {
			return nil, err
		} else {
			failed(node, err, down)
		}
	}
	if err := p.router.PrimaryErr(); err != nil {
		return nil, err
	}
	p.router.CountPrimary()
	tx, err := p.primaryBeginTx(ctx, opts)
	if err != nil || opts.AccessMode == pgx.ReadOnly {
		return tx, err
	}
	if s := replica.SessionFromContext(ctx); s != nil {
		return &sessionTx{Tx: tx, after: func() { p.recordWrite(ctx, s) }}, nil
	}
	return tx, nil
}

// sessionTx records the session's WAL position after a commit.
type sessionTx struct {
	pgx.Tx
	after func()
}

func (t *sessionTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	if err == nil {
		t.after()
	}
	return err
}

var (
	_ pgx.Row  = (*replicaRow)(nil)
	_ pgx.Rows = (*replicaRows)(nil)
	_ pgx.Rows = (*writeRows)(nil)
	_ pgx.Tx   = (*sessionTx)(nil)
)
