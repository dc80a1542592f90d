package pgxperf

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/pgxrows"
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
	if r.cancel != nil {
		defer r.cancel()
	}
	return pgxrows.ScanFirst(r.rows, dest...)
}

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
	_ pgx.BatchResults = (*cancelBatch)(nil)
	_ pgx.Tx           = (*releaseTx)(nil)
)
