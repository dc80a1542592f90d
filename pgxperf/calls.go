package pgxperf

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/multirows"
	"github.com/pgxperf/pgxperf/internal/pgxrows"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// The calls below run one statement (or batch, or BEGIN) on a leased
// connection of a pool, the primary's or a replica's: every acquire is
// bounded by Options.AcquireTimeout and the caller's deadline, and every
// connection a call holds can be taken back by Close.

func (p *Pool) execOn(ctx context.Context, pool *pgxpool.Pool, sql string, args []any) (pgconn.CommandTag, error) {
	l, err := p.take(ctx, pool)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer l.release()
	if len(args) == 0 && strings.IndexByte(sql, ';') >= 0 && sqlinfo.Analyze(sql).Kind == sqlinfo.KindMulti {
		return execMulti(ctx, l.c, sql)
	}
	return l.c.Exec(ctx, safeSQL(sql, args), args...)
}

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

// queryOn runs a query; cancel (may be nil) is called when the rows are
// closed, or at once when the query fails.
func (p *Pool) queryOn(ctx context.Context, cancel context.CancelFunc, pool *pgxpool.Pool, sql string, args []any) (pgx.Rows, error) {
	l, err := p.take(ctx, pool)
	if err == nil {
		var rows pgx.Rows
		if rows, err = l.c.Query(ctx, sql, args...); err == nil {
			return &cancelRows{Rows: rows, cancel: cancel, lease: l}, nil
		}
		l.release()
	}
	if cancel != nil {
		cancel()
	}
	return pgxrows.Fail(err), err
}

// sendBatchOn sends a batch; cancel and done (either may be nil) are called
// when the batch is closed.
func (p *Pool) sendBatchOn(ctx context.Context, cancel context.CancelFunc, pool *pgxpool.Pool, b *pgx.Batch, done func()) pgx.BatchResults {
	l, err := p.take(ctx, pool)
	if err != nil {
		if cancel != nil {
			cancel()
		}
		if done != nil {
			done()
		}
		return pgx.FailedBatchResults(b, err)
	}
	return newCancelBatch(l.c.SendBatch(ctx, b), cancel, l, done)
}

func (p *Pool) beginTxOn(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions) (pgx.Tx, error) {
	l, err := p.take(ctx, pool)
	if err != nil {
		return nil, err
	}
	tx, err := l.c.BeginTx(ctx, opts)
	if err != nil {
		l.release()
		return nil, err
	}
	return newReleaseTx(tx, l, nil), nil
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
