// Package pgxrows holds the small pgx.Rows helpers that pgxperf and
// querycache both need: rows that only report an error, and pgx's QueryRow
// semantics over any pgx.Rows. It exists so the two packages share one copy.
package pgxrows

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Failed is a pgx.Rows and a pgx.Row in an error state, as pgxpool returns
// when it cannot acquire a connection: no rows, and Err and Scan give Err.
type Failed struct{ err error }

// Fail returns Failed rows reporting err.
func Fail(err error) Failed { return Failed{err: err} }

var (
	_ pgx.Rows = Failed{}
	_ pgx.Row  = Failed{}
)

func (Failed) Close()                                       {}
func (f Failed) Err() error                                 { return f.err }
func (Failed) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (Failed) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (Failed) Next() bool                                   { return false }
func (f Failed) Scan(...any) error                          { return f.err }
func (f Failed) Values() ([]any, error)                     { return nil, f.err }
func (Failed) RawValues() [][]byte                          { return nil }
func (Failed) Conn() *pgx.Conn                              { return nil }
func (Failed) TypeMap() *pgtype.Map                         { return nil }

// ScanFirst is pgx's QueryRow().Scan over rows: it scans the first row into
// dest, ignores the rest, closes rows, and returns pgx.ErrNoRows when there
// is none, or the rows' error.
func ScanFirst(rows pgx.Rows, dest ...any) error {
	defer rows.Close()
	for _, d := range dest {
		if _, ok := d.(*pgtype.DriverBytes); ok {
			// As pgx: the bytes would point into a connection's buffer
			// that is reused once the row's connection is released.
			return errDriverBytes
		}
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// errDriverBytes is pgx's own error text for the same refusal.
var errDriverBytes = errors.New("cannot scan into *pgtype.DriverBytes from QueryRow")

// Row is a pgx.Row that scans the first row of Rows (see ScanFirst).
type Row struct{ Rows pgx.Rows }

func (r Row) Scan(dest ...any) error { return ScanFirst(r.Rows, dest...) }
