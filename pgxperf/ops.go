package pgxperf

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/multirows"
	"github.com/pgxperf/pgxperf/internal/pgxrows"
)

// The ops below are the acquire and execute steps of each kind of call
// (see call.go). Each holds the call (so that one allocation serves both)
// and its result; every connection an op takes is a lease, bounded by
// Config.AcquireTimeout and the caller's deadline, that Close can take back.

// execOp runs Exec: the connection is released before run returns.
type execOp struct {
	call
	p    *Pool
	tag  pgconn.CommandTag
	err  error
	sent bool // the statement reached a connection: it may have written
}

func (o *execOp) Run(ctx context.Context, pool *pgxpool.Pool, _ bool) error {
	o.sent, o.err = false, nil // a run on another node starts afresh
	l, err := o.p.take(ctx, pool)
	if err != nil {
		return err // nothing was sent: nothing was written
	}
	defer l.release()
	o.sent = true
	if o.multi() {
		o.tag, o.err = execMulti(ctx, l.c, o.sql)
	} else {
		o.tag, o.err = l.c.Exec(ctx, safeSQL(o.sql, o.args), o.args...)
	}
	return o.err
}

func (o *execOp) Finally(f func()) { f() }

func (o *execOp) Committed(f func()) {
	// A text of several statements may have committed some before one failed.
	if o.sent && (mayHaveWritten(o.err) || o.multi()) {
		f()
	}
}

// queryOp runs Query (and QueryRow): its rows hold the connection until
// they are closed.
type queryOp struct {
	call
	p    *Pool
	rows *leaseRows // nil until Run succeeded
}

func (o *queryOp) Run(ctx context.Context, pool *pgxpool.Pool, onReplica bool) error {
	l, err := o.p.take(ctx, pool)
	if err != nil {
		return err
	}
	rows, err := l.c.Query(ctx, o.sql, o.args...)
	if err != nil {
		l.release()
		return err
	}
	if onReplica {
		if rows, err = bridge.ReplicaReadAhead(rows, l.c.TypeMap()); err != nil {
			l.release() // readAhead closed the rows
			return err
		}
	}
	o.rows = &leaseRows{Rows: rows, lease: l}
	return nil
}

func (o *queryOp) Finally(f func()) {
	if o.rows == nil {
		f()
		return
	}
	o.rows.finally = f
}

func (o *queryOp) Committed(f func()) {
	if o.rows != nil {
		o.rows.committed = f
	}
}

// scanOp runs a QueryRow read on a replica when the application calls Scan
// (routedRow): the first row is scanned straight from the connection, and
// a read that fails before it is scanned is run again on the next node.
type scanOp struct {
	call
	p    *Pool
	dest []any
	err  error
	sent bool
}

func (o *scanOp) Run(ctx context.Context, pool *pgxpool.Pool, _ bool) error {
	o.sent, o.err = false, nil
	l, err := o.p.take(ctx, pool)
	if err != nil {
		return err
	}
	defer l.release()
	o.sent = true
	rows, err := l.c.Query(ctx, o.sql, o.args...)
	if err == nil {
		err = pgxrows.ScanFirst(rows, o.dest...)
	}
	o.err = err
	return err
}

func (o *scanOp) Finally(f func()) { f() }

func (o *scanOp) Committed(f func()) {
	if o.sent && mayHaveWritten(o.err) {
		f()
	}
}

// batchOp runs SendBatch: its results hold the connection until they are
// closed, or until the transaction the batch began ends.
type batchOp struct {
	p       *Pool
	b       *pgx.Batch
	results *leaseBatch // nil until run succeeded
}

func (o *batchOp) Run(ctx context.Context, pool *pgxpool.Pool, _ bool) error {
	l, err := o.p.take(ctx, pool)
	if err != nil {
		return err
	}
	o.results = newLeaseBatch(l.c.SendBatch(ctx, o.b), l)
	return nil
}

func (o *batchOp) Finally(f func()) {
	if o.results == nil {
		f()
		return
	}
	o.results.onDone(f)
}

func (o *batchOp) Committed(f func()) {
	if o.results != nil {
		o.results.onCommitted(f)
	}
}

// txOp runs BEGIN: the transaction holds the connection until it ends.
type txOp struct {
	p    *Pool
	opts pgx.TxOptions
	tx   *releaseTx // nil until run succeeded
}

func (o *txOp) Run(ctx context.Context, pool *pgxpool.Pool, _ bool) error {
	l, err := o.p.take(ctx, pool)
	if err != nil {
		return err
	}
	tx, err := l.c.BeginTx(ctx, o.opts)
	if err != nil {
		l.release()
		return err
	}
	o.tx = newReleaseTx(tx, l)
	return nil
}

func (o *txOp) Finally(f func()) {
	if o.tx == nil {
		f()
		return
	}
	o.tx.ended = f
}

func (o *txOp) Committed(f func()) {
	if o.tx != nil {
		o.tx.onCommit = append(o.tx.onCommit, f)
	}
}

// copyOp runs CopyFrom: the connection is released before run returns.
type copyOp struct {
	p       *Pool
	table   pgx.Identifier
	columns []string
	src     pgx.CopyFromSource
	n       int64
	err     error
	sent    bool // the COPY reached a connection: it may have written
}

func (o *copyOp) Run(ctx context.Context, pool *pgxpool.Pool, _ bool) error {
	o.sent, o.err = false, nil
	l, err := o.p.take(ctx, pool)
	if err != nil {
		return err // nothing was sent: nothing was written
	}
	defer l.release()
	o.sent = true
	o.n, o.err = l.c.CopyFrom(ctx, o.table, o.columns, o.src)
	return o.err
}

func (o *copyOp) Finally(f func()) { f() }

func (o *copyOp) Committed(f func()) {
	if o.sent && mayHaveWritten(o.err) {
		f()
	}
}

var (
	_ bridge.Op = (*execOp)(nil)
	_ bridge.Op = (*queryOp)(nil)
	_ bridge.Op = (*scanOp)(nil)
	_ bridge.Op = (*batchOp)(nil)
	_ bridge.Op = (*txOp)(nil)
	_ bridge.Op = (*copyOp)(nil)
)

// execMulti runs a text of several statements without arguments as pgx's
// Exec does (the simple protocol; the last statement's command tag), with
// the connection's tracers around it, and hands pgxperf's tracer the rows of
// every statement: pgx's own Exec reports only the last one's.
func execMulti(ctx context.Context, c *pgx.Conn, sql string) (tag pgconn.CommandTag, err error) {
	tr := c.Config().Tracer
	var total int64
	if tr != nil {
		// The total rides in the context the tracers start from, so that
		// each gets back exactly the context it returned.
		ctx = tr.TraceQueryStart(multirows.With(ctx, &total), c, pgx.TraceQueryStartData{SQL: sql})
	}
	mrr := c.PgConn().Exec(ctx, sql)
	for mrr.NextResult() {
		tag, _ = mrr.ResultReader().Close()
		total += tag.RowsAffected()
	}
	err = mrr.Close()
	if tr != nil {
		tr.TraceQueryEnd(ctx, c, pgx.TraceQueryEndData{CommandTag: tag, Err: err})
	}
	return tag, err
}

// safeBatch returns a batch pgx can send whatever the application queued.
// pgx panics on a statement with empty SQL in the statement-caching modes
// (its cache refuses an empty key) while the server answers it, like an
// empty simple query, with an empty result: such statements are sent as ";"
// (the same empty query) in a copy of the batch; the application's batch is
// not modified. A nil batch is an empty one.
func safeBatch(b *pgx.Batch) *pgx.Batch {
	if b == nil {
		return &pgx.Batch{}
	}
	for i, q := range b.QueuedQueries {
		if q == nil || q.SQL == "" {
			return fixBatch(b, i)
		}
	}
	return b
}

func fixBatch(b *pgx.Batch, from int) *pgx.Batch {
	c := *b // keeps the batch's unexported state (BeginTx's options)
	c.QueuedQueries = make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries))
	c.QueuedQueries = append(c.QueuedQueries, b.QueuedQueries[:from]...)
	for _, q := range b.QueuedQueries[from:] {
		switch {
		case q == nil:
			q = &pgx.QueuedQuery{SQL: ";"}
		case q.SQL == "":
			cp := *q
			cp.SQL = ";"
			q = &cp
		}
		c.QueuedQueries = append(c.QueuedQueries, q)
	}
	return &c
}
