package pgxperf

import (
	"context"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// leaseRows are the rows of a Query (or QueryRow) call. Once they are
// closed, whether the application calls Close or reads to the end, they
// release what the call holds: the leased connection, the route step's
// bookkeeping (finally), the timeout step's deadline; and, when the
// statement may have written, they let the route step record it (committed).
type leaseRows struct {
	pgx.Rows
	lease     *lease
	cancel    context.CancelFunc // the timeout step's, may be nil
	finally   func()             // may be nil
	committed func()             // may be nil: called when the rows' error does not rule out a write
	once      sync.Once
}

func (r *leaseRows) done() {
	r.once.Do(func() {
		r.Rows.Close()
		r.lease.release()
		if r.finally != nil {
			r.finally()
		}
		if r.committed != nil && mayHaveWritten(r.Rows.Err()) {
			r.committed()
		}
		if r.cancel != nil {
			r.cancel()
		}
	})
}

func (r *leaseRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.done()
	return false
}

func (r *leaseRows) Close() { r.done() }

// leaseBatch is the result of a SendBatch call: closing it releases the
// leased connection and runs what the route and timeout steps asked for;
// when the batch began a transaction (pgx.Batch.BeginTx), the connection
// and those calls wait for that transaction to end, as pgxpool does.
type leaseBatch struct {
	pgx.BatchResults
	lease  *lease
	tx     *releaseTx // nil unless the batch began a transaction: it owns the lease
	cancel context.CancelFunc
	dones  []func()
	once   sync.Once
}

func newLeaseBatch(br pgx.BatchResults, l *lease) *leaseBatch {
	b := &leaseBatch{BatchResults: br, lease: l}
	if tx := br.Tx(); tx != nil {
		rt := newReleaseTx(tx, l)
		rt.unsure = true
		b.tx = rt
	}
	return b
}

// onDone arranges for f to run when the batch is closed, or when the
// transaction it began ends.
func (b *leaseBatch) onDone(f func()) {
	if b.tx != nil {
		b.tx.atEnd = append(b.tx.atEnd, f)
		return
	}
	b.dones = append(b.dones, f)
}

// onCommitted arranges for f to run when what the batch wrote is committed,
// or may be: when the batch is closed (its implicit transaction ended), or
// when the transaction it began commits.
func (b *leaseBatch) onCommitted(f func()) {
	if b.tx != nil {
		b.tx.onCommit = append(b.tx.onCommit, f)
		return
	}
	b.dones = append(b.dones, f)
}

// Tx returns the transaction the batch began, or nil.
func (b *leaseBatch) Tx() pgx.Tx {
	if b.tx == nil {
		return nil // a typed nil would not be == nil
	}
	return b.tx
}

func (b *leaseBatch) Close() error {
	err := b.BatchResults.Close()
	b.once.Do(func() {
		if b.tx == nil {
			b.lease.release()
		}
		if b.cancel != nil {
			b.cancel()
		}
		for _, f := range b.dones {
			f()
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
// the transaction ends, as pgxpool's own Tx does, then runs what the route
// step asked for: ended and atEnd whichever way it ends, onCommit after a
// successful commit.
type releaseTx struct {
	safeTx
	lease    *lease
	ended    func()   // may be nil
	atEnd    []func() // a batch's: its transaction holds what the batch took
	onCommit []func()
	once     sync.Once
}

func newReleaseTx(tx pgx.Tx, l *lease) *releaseTx {
	return &releaseTx{safeTx: safeTx{Tx: tx}, lease: l}
}

func (t *releaseTx) end(committed bool) {
	t.lease.release()
	t.once.Do(func() {
		if t.ended != nil {
			t.ended()
		}
		for _, f := range t.atEnd {
			f()
		}
		if committed {
			for _, f := range t.onCommit {
				f()
			}
		}
	})
}

func (t *releaseTx) Commit(ctx context.Context) error {
	err := t.safeTx.Commit(ctx)
	t.end(err == nil)
	return err
}

func (t *releaseTx) Rollback(ctx context.Context) error {
	err := t.safeTx.Rollback(ctx)
	t.end(false)
	return err
}

var (
	_ pgx.Rows         = (*leaseRows)(nil)
	_ pgx.BatchResults = (*leaseBatch)(nil)
	_ pgx.Tx           = (*releaseTx)(nil)
	_ pgx.Tx           = (*safeTx)(nil)
)
