package rowcodec

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Replay returns a pgx.Rows that replays r, decoding values with typeMap exactly
// as pgx's own Rows does: by each column's type OID and format code, with the
// same scan plans, errors (pgx.ScanArgError) and RowScanner handling. Pass the
// TypeMap of a connection to the database the result came from, so that types
// registered on it (enums, composites, domains loaded with LoadTypes) decode
// the same way; a nil typeMap means a new pgtype.NewMap().
//
// The replay behaves like a live pgx.Rows whose query succeeded: Err is nil
// unless Scan or Values failed, CommandTag is r's tag once the rows are closed,
// and Next closes them after the last row. Conn returns nil. FieldDescriptions
// and RawValues return r's own memory, which callers must not modify (pgx's
// values are likewise only lent to them).
//
// Any number of replays of one Result may run at once; each replay, like any
// pgx.Rows, is for one goroutine. Closing it is optional, as nothing is held.
func (r *Result) Replay(typeMap *pgtype.Map) pgx.Rows {
	if typeMap == nil {
		typeMap = pgtype.NewMap()
	}
	return &replayRows{res: r, typeMap: typeMap}
}

// Releaser takes back what a replay borrowed (a pooled type map).
type Releaser interface{ Release() }

// ReplayPooled is Replay with a type map the caller borrowed: rel.Release is
// called once, when the replay is first closed (Next closes it after the
// last row).
func (r *Result) ReplayPooled(typeMap *pgtype.Map, rel Releaser) pgx.Rows {
	return &replayRows{res: r, typeMap: typeMap, rel: rel}
}

// ReplayRowPooled is ReplayRow with a borrowed type map, as ReplayPooled.
func (r *Result) ReplayRowPooled(typeMap *pgtype.Map, rel Releaser) pgx.Row {
	return (*replayRow)(&replayRows{res: r, typeMap: typeMap, rel: rel})
}

// ReplayRow returns a pgx.Row that replays r the way pgx's QueryRow does:
// Scan reads the first row and ignores the rest, and returns pgx.ErrNoRows when
// r has no rows. typeMap is as for [Result.Replay].
func (r *Result) ReplayRow(typeMap *pgtype.Map) pgx.Row {
	return (*replayRow)(r.Replay(typeMap).(*replayRows))
}

var (
	_ pgx.Rows = (*replayRows)(nil)
	_ pgx.Row  = (*replayRow)(nil)
)

// replayRows implements pgx.Rows over a Result.
type replayRows struct {
	res     *Result
	typeMap *pgtype.Map
	next    int      // index of the row the next call to Next moves to
	values  [][]byte // the current row; nil between rows
	onRow   bool     // Next returned true and the rows are not closed
	closed  bool
	err     error

	scanPlans []pgtype.ScanPlan
	scanTypes []reflect.Type

	// rel, when set, takes back the borrowed typeMap at Close.
	rel Releaser
}

func (rr *replayRows) Close() {
	rr.closed = true
	rr.onRow = false
	rr.values = nil
	if rr.rel != nil {
		rr.rel.Release()
		rr.rel = nil
	}
}

func (rr *replayRows) Err() error { return rr.err }

// CommandTag returns the result's command tag once the rows are closed, and an
// empty tag before that, as pgx does.
func (rr *replayRows) CommandTag() pgconn.CommandTag {
	if !rr.closed {
		return pgconn.CommandTag{}
	}
	return pgconn.NewCommandTag(rr.res.CommandTag)
}

func (rr *replayRows) FieldDescriptions() []pgconn.FieldDescription {
	return rr.res.FieldDescriptions
}

func (rr *replayRows) Next() bool {
	if rr.closed {
		return false
	}
	if rr.next >= len(rr.res.Rows) {
		rr.Close()
		return false
	}
	rr.values = rr.res.Rows[rr.next]
	rr.next++
	rr.onRow = true
	return true
}

// fail records the first error and closes the rows, as pgx does on a scan error.
func (rr *replayRows) fail(err error) {
	if rr.err == nil {
		rr.err = err
	}
	rr.Close()
}

func (rr *replayRows) Scan(dest ...any) error {
	fds := rr.res.FieldDescriptions
	if !rr.onRow {
		err := errors.New("pgxperf: Scan called without a current row")
		if rr.closed {
			err = errors.New("pgxperf: Scan called on closed rows")
		}
		rr.fail(err)
		return err
	}
	if len(fds) != len(rr.values) {
		err := fmt.Errorf("number of field descriptions must equal number of values, got %d and %d", len(fds), len(rr.values))
		rr.fail(err)
		return err
	}
	if len(dest) == 1 {
		if rs, ok := dest[0].(pgx.RowScanner); ok {
			if err := rs.ScanRow(rr); err != nil {
				rr.fail(err)
				return err
			}
			return nil
		}
	}
	if len(dest) != len(fds) {
		err := fmt.Errorf("number of field descriptions must equal number of destinations, got %d and %d", len(fds), len(dest))
		rr.fail(err)
		return err
	}

	// Plans are cached per column and destination type, since consecutive
	// rows are nearly always scanned into the same types.
	if rr.scanPlans == nil {
		rr.scanPlans = make([]pgtype.ScanPlan, len(fds))
		rr.scanTypes = make([]reflect.Type, len(fds))
	}
	for i, d := range dest {
		if d == nil {
			continue
		}
		if t := reflect.TypeOf(d); rr.scanPlans[i] == nil || rr.scanTypes[i] != t {
			rr.scanPlans[i] = rr.typeMap.PlanScan(fds[i].DataTypeOID, fds[i].Format, d)
			rr.scanTypes[i] = t
		}
		if err := rr.scanPlans[i].Scan(rr.values[i], d); err != nil {
			err = pgx.ScanArgError{ColumnIndex: i, FieldName: fds[i].Name, Err: err}
			rr.fail(err)
			return err
		}
	}
	return nil
}

func (rr *replayRows) Values() ([]any, error) {
	if rr.closed {
		return nil, errors.New("rows is closed")
	}
	if !rr.onRow {
		return nil, errors.New("pgxperf: Values called without a current row")
	}
	fds := rr.res.FieldDescriptions
	if len(fds) != len(rr.values) {
		err := fmt.Errorf("number of field descriptions must equal number of values, got %d and %d", len(fds), len(rr.values))
		rr.fail(err)
		return nil, err
	}
	out := make([]any, len(fds))
	for i, buf := range rr.values {
		if buf == nil {
			continue // NULL
		}
		fd := &fds[i]
		if t, ok := rr.typeMap.TypeForOID(fd.DataTypeOID); ok {
			v, err := t.Codec.DecodeValue(rr.typeMap, fd.DataTypeOID, fd.Format, buf)
			if err != nil {
				rr.fail(err)
				return nil, err
			}
			out[i] = v
			continue
		}
		// A type the map does not know: its text, or a copy of its bytes.
		switch fd.Format {
		case pgx.TextFormatCode:
			out[i] = string(buf)
		case pgx.BinaryFormatCode:
			out[i] = append(make([]byte, 0, len(buf)), buf...)
		default:
			err := errors.New("unknown format code")
			rr.fail(err)
			return nil, err
		}
	}
	return out, nil
}

func (rr *replayRows) RawValues() [][]byte { return rr.values }

// Conn returns nil: a replay comes from no connection.
func (rr *replayRows) Conn() *pgx.Conn { return nil }

func (rr *replayRows) TypeMap() *pgtype.Map { return rr.typeMap }

// replayRow implements pgx.Row over a replay.
type replayRow replayRows

func (r *replayRow) Scan(dest ...any) error {
	rows := (*replayRows)(r)
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range dest {
		if _, ok := d.(*pgtype.DriverBytes); ok {
			rows.Close()
			return errors.New("cannot scan into *pgtype.DriverBytes from QueryRow")
		}
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	_ = rows.Scan(dest...)
	rows.Close()
	return rows.Err()
}
