package pgxperf

import (
	"context"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgxperf/pgxperf/internal/pgxrows"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// cancelRows releases what a Query call took (a timeout's cancel func, the
// leased connection) once the rows are closed, whether the application calls
// Close or reads to the end.
type cancelRows struct {
	pgx.Rows
	cancel context.CancelFunc
	lease  *lease
	once   sync.Once
}

func (r *cancelRows) done() {
	r.once.Do(func() {
		r.Rows.Close()
		if r.lease != nil {
			r.lease.release()
		}
		if r.cancel != nil {
			r.cancel()
		}
	})
}

func (r *cancelRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.done()
	return false
}

func (r *cancelRows) Close() { r.done() }

// cancelRow is QueryRow's result when pgxperf added a deadline or acquired the connection.
type cancelRow struct {
	rows   pgx.Rows
	cancel context.CancelFunc
}

func (r *cancelRow) Scan(dest ...any) error {
	if r.cancel != nil {
		defer r.cancel()
	}
	return pgxrows.ScanFirst(r.rows, dest...)
}

// cancelBatch releases the leased connection and the deadline when the
// batch is closed, or, when the batch began a transaction (pgx.Batch.BeginTx),
// leaves the connection to that transaction, as pgxpool does.
type cancelBatch struct {
	pgx.BatchResults
	cancel context.CancelFunc
	lease  *lease
	tx     pgx.Tx // nil unless the batch began a transaction: it owns the lease
	done   func() // called once when the batch is closed; may be nil
	once   sync.Once
}

func newCancelBatch(br pgx.BatchResults, cancel context.CancelFunc, l *lease, done func()) *cancelBatch {
	b := &cancelBatch{BatchResults: br, cancel: cancel, lease: l, done: done}
	if tx := br.Tx(); tx != nil {
		// The transaction holds the connection, and what the batch wrote
		// counts when it ends: done waits for it.
		rt := newReleaseTx(tx, l, done)
		rt.unsure = true
		b.tx = rt
		b.done = nil
	}
	return b
}

// Tx returns the transaction the batch began, or nil.
func (b *cancelBatch) Tx() pgx.Tx { return b.tx }

func (b *cancelBatch) Close() error {
	err := b.BatchResults.Close()
	b.once.Do(func() {
		if b.tx == nil && b.lease != nil {
			b.lease.release()
		}
		if b.cancel != nil {
			b.cancel()
		}
		if b.done != nil {
			b.done()
		}
	})
	return err
}

// safeTx is a transaction whose Exec and SendBatch take what pgx would
// panic on (empty SQL with arguments, a batch with an empty statement or
// nil), and whose Exec of several statements reports every statement's rows
// to the tracer, as Pool.Exec does. Nested transactions (Begin) are guarded too.
type safeTx struct {
	pgx.Tx
	parent *safeTx // the enclosing transaction of a nested one
	ended  bool    // Commit or Rollback was called: pgx refuses further statements
	// unsure is set for a transaction pgx may have ended on its own (one a
	// batch began: its BEGIN may have failed): statements go through pgx.
	unsure bool
}

// open reports whether the transaction and every enclosing one are known to
// be open: only then may a statement bypass pgx's own check (execMulti).
func (t *safeTx) open() bool {
	for ; t != nil; t = t.parent {
		if t.ended || t.unsure {
			return false
		}
	}
	return true
}

func (t *safeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(args) == 0 && strings.IndexByte(sql, ';') >= 0 && t.open() && sqlinfo.Analyze(sql).Kind == sqlinfo.KindMulti {
		return execMulti(ctx, t.Tx.Conn(), sql)
	}
	return t.Tx.Exec(ctx, safeSQL(sql, args), args...)
}

func (t *safeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.Tx.SendBatch(ctx, safeBatch(b))
}

func (t *safeTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &safeTx{Tx: tx, parent: t}, nil
}

func (t *safeTx) Commit(ctx context.Context) error {
	t.ended = true
	return t.Tx.Commit(ctx)
}

func (t *safeTx) Rollback(ctx context.Context) error {
	t.ended = true
	return t.Tx.Rollback(ctx)
}

// safeSQL returns what to send for sql: pgx's statement cache panics on an
// empty text with arguments; ";" is the same empty query, which pgx answers
// with its argument-count error.
func safeSQL(sql string, args []any) string {
	if sql == "" && len(args) > 0 {
		return ";"
	}
	return sql
}

// releaseTx returns the leased connection of a transaction to its pool when
// the transaction ends, as pgxpool's own Tx does, then calls ended (may be nil).
type releaseTx struct {
	safeTx
	lease *lease
	ended func()
	once  sync.Once
}

func newReleaseTx(tx pgx.Tx, l *lease, ended func()) *releaseTx {
	return &releaseTx{safeTx: safeTx{Tx: tx}, lease: l, ended: ended}
}

func (t *releaseTx) end() {
	t.lease.release()
	if t.ended != nil {
		t.once.Do(t.ended)
	}
}

func (t *releaseTx) Commit(ctx context.Context) error {
	err := t.safeTx.Commit(ctx)
	t.end()
	return err
}

func (t *releaseTx) Rollback(ctx context.Context) error {
	err := t.safeTx.Rollback(ctx)
	t.end()
	return err
}

var (
	_ pgx.Rows         = (*cancelRows)(nil)
	_ pgx.BatchResults = (*cancelBatch)(nil)
	_ pgx.Tx           = (*releaseTx)(nil)
	_ pgx.Tx           = (*safeTx)(nil)
)
