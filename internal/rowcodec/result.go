package rowcodec

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrTooLarge is returned by [Capture] when a result grows past its maxBytes
// limit. The caller must then not cache the result. Check it with errors.Is.
var ErrTooLarge = errors.New("rowcodec: result too large")

// Result is one query result as the server sent it: the field descriptions,
// every row's raw values in the wire format each column was sent in, and the
// command tag. Keeping the wire bytes rather than decoded Go values is what makes
// a replay row-faithful: [Result.Replay] decodes them with the same pgtype.Map
// calls a live pgx.Rows makes, so Scan, pgx.CollectRows, pgx.RowToStructByName
// and sqlc-generated code see exactly what the database would have given them.
//
// A Result made by [Capture] or [Decode] must be treated as immutable: any
// number of goroutines may then call its methods and replay it at once.
type Result struct {
	// FieldDescriptions describe the columns, in order, including each
	// column's type OID and format code (0 text, 1 binary).
	FieldDescriptions []pgconn.FieldDescription

	// Rows holds one slice per row with one raw value per column; a nil value
	// is SQL NULL, while a non-nil empty value is an empty value (such as '').
	Rows [][][]byte

	// CommandTag is the command tag's text, such as "SELECT 50".
	CommandTag string
}

// Per-value and per-row overheads Size counts on top of the value bytes. They
// approximate the uncompressed encoding (a length prefix per value) and keep a
// result of many tiny or zero-column rows from looking free.
const (
	sizePerValue = 1
	sizePerRow   = 1
	sizePerField = 16
)

// Size returns the number of bytes the result is accounted as by [Capture]:
// its values' bytes plus a small overhead per value, row and column (the
// command tag, a few bytes, is not counted). It is close to the uncompressed
// encoded size. Safe on a nil Result (0).
func (r *Result) Size() int {
	if r == nil {
		return 0
	}
	n := 0
	for i := range r.FieldDescriptions {
		n += sizePerField + len(r.FieldDescriptions[i].Name)
	}
	for _, row := range r.Rows {
		n += sizePerRow
		for _, v := range row {
			n += sizePerValue + len(v)
		}
	}
	return n
}

// emptyValue is the non-NULL empty value rows share.
var emptyValue = []byte{}

// captureChunk is the size of the buffers Capture copies small values into, so
// capturing a result costs a few allocations rather than one per value.
const captureChunk = 8 << 10

// Capture reads rows to the end and returns a copy of what it read: the field
// descriptions, each row's raw values, and the command tag. maxBytes bounds the
// result's [Result.Size]; zero or less means no limit.
//
// Outcomes:
//
//   - A nil error: every row was read, rows is closed without error, and the
//     Result may be cached.
//   - [ErrTooLarge]: the size passed maxBytes. The caller must not cache.
//     Capture stops reading at once and leaves rows open: the returned Result
//     holds the rows read so far (the last of them being the one that crossed
//     the limit) and rows is positioned after them, so the caller can still
//     serve the query by replaying the partial Result and then reading on from
//     rows (see the design note below), or Close rows and run the query again.
//     Either way the caller must Close rows.
//   - Any other error: the query failed (rows.Err()), and rows is closed.
//     Nothing may be cached. The Result holds what was read before the
//     error (its fields and rows; possibly none), so that a caller can
//     still hand the application those rows and then the error, as pgx
//     does; it is nil when the rows reported the error before Capture read
//     anything.
//
// Capture copies every value, because pgx reuses RawValues' memory on the next
// call to Next. It does not call Scan or Values, so no value is decoded.
//
// # Design note: a capturing wrapper
//
// Capture suits a miss path that reads the whole result before answering
// (singleflight: one loader, many waiters each replaying the Result). A pool
// can instead pass the live rows through to the caller while copying them: a
// wrapper pgx.Rows whose Next calls the inner Next and appends copies of
// RawValues (sized as Size counts them) to a Result, and whose Close takes the
// command tag, and hands the Result to the cache only when the inner Err is nil
// after Close and every row was read (a caller that stops early must not leave
// a truncated result behind). Past maxBytes it drops its copies and stops
// copying, but keeps passing rows through, so large results cost nothing extra.
// Scan, Values, FieldDescriptions, RawValues, Conn and TypeMap delegate to the
// inner rows. Callers see exactly pgx's behavior on a miss; the store must happen
// after the transaction (if any) commits, since the rows may be uncommitted
// writes of its own.
func Capture(rows pgx.Rows, maxBytes int) (*Result, error) {
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	res := &Result{}
	size := captureFields(res, rows)

	var chunk []byte   // spare room for copies of small values
	var cells [][]byte // spare room for row slices
	for rows.Next() {
		if res.FieldDescriptions == nil {
			// A Rows may only know its columns once the first row arrives.
			size += captureFields(res, rows)
		}
		raw := rows.RawValues()
		if len(cells) < len(raw) {
			cells = make([][]byte, max(len(raw)*64, 64))
		}
		row := cells[:len(raw):len(raw)]
		cells = cells[len(raw):]
		size += sizePerRow
		for i, v := range raw {
			size += sizePerValue + len(v)
			switch {
			case v == nil:
				row[i] = nil
			case len(v) == 0:
				// Not NULL: an empty value ('' text, '' bytea). A slice
				// of a still-nil chunk would be nil, which means NULL.
				row[i] = emptyValue
			case len(v) > captureChunk/4:
				row[i] = append(make([]byte, 0, len(v)), v...)
			default:
				if cap(chunk)-len(chunk) < len(v) {
					chunk = make([]byte, 0, captureChunk)
				}
				start := len(chunk)
				chunk = append(chunk, v...)
				row[i] = chunk[start:len(chunk):len(chunk)]
			}
		}
		res.Rows = append(res.Rows, row)
		if maxBytes > 0 && size > maxBytes {
			return res, ErrTooLarge
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err // what was read before the error
	}
	res.CommandTag = rows.CommandTag().String()
	return res, nil
}

// captureFields copies rows' field descriptions into res, if it has any yet,
// and returns their accounted size. The copy matters: pgx's slice lives in the
// connection's buffers, which the next query on that connection reuses.
func captureFields(res *Result, rows pgx.Rows) int {
	fds := rows.FieldDescriptions()
	if len(fds) == 0 {
		return 0
	}
	res.FieldDescriptions = append([]pgconn.FieldDescription(nil), fds...)
	n := 0
	for i := range fds {
		n += sizePerField + len(fds[i].Name)
	}
	return n
}
