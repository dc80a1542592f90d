package pgxperf

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cancelRows releases what a Query call took (a timeout's cancel func, a
// connection acquired by pgxperf) once the rows are closed, whether the
// application calls Close or reads to the end.
type cancelRows struct {
	pgx.Rows
	cancel context.CancelFunc
	conn   *pgxpool.Conn
	once   sync.Once
}

func (r *cancelRows) done() {
	r.once.Do(func() {
		r.Rows.Close()
		if r.conn != nil {
			r.conn.Release()
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
	defer func() {
		if r.cancel != nil {
			r.cancel()
		}
	}()
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRows is a pgx.Rows in an error state, as pgxpool returns when it cannot
// acquire a connection.
type errRows struct{ err error }

func (errRows) Close()                                       {}
func (e errRows) Err() error                                 { return e.err }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (e errRows) Scan(dest ...any) error                     { return e.err }
func (e errRows) Values() ([]any, error)                     { return nil, e.err }
func (e errRows) RawValues() [][]byte                        { return nil }
func (e errRows) Conn() *pgx.Conn                            { return nil }
func (e errRows) TypeMap() *pgtype.Map                       { return nil }

type errRow struct{ err error }

func (e errRow) Scan(dest ...any) error { return e.err }

// cancelBatch releases the connection and the deadline when the batch is closed.
type cancelBatch struct {
	pgx.BatchResults
	cancel context.CancelFunc
	conn   *pgxpool.Conn
	once   sync.Once
}

func (b *cancelBatch) Close() error {
	err := b.BatchResults.Close()
	b.once.Do(func() {
		if b.conn != nil {
			b.conn.Release()
		}
		if b.cancel != nil {
			b.cancel()
		}
	})
	return err
}

// releaseTx returns the connection pgxperf acquired for a transaction to the
// pool when the transaction ends, as pgxpool's own Tx does.
type releaseTx struct {
	pgx.Tx
	conn *pgxpool.Conn
	once sync.Once
}

func (t *releaseTx) release() { t.once.Do(t.conn.Release) }

func (t *releaseTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.release()
	return err
}

func (t *releaseTx) Rollback(ctx context.Context) error {
	err := t.Tx.Rollback(ctx)
	t.release()
	return err
}

var (
	_ pgx.Rows         = (*cancelRows)(nil)
	_ pgx.Rows         = errRows{}
	_ pgx.BatchResults = (*cancelBatch)(nil)
	_ pgx.Tx           = (*releaseTx)(nil)
)
