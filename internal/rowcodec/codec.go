package rowcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The body encoding of a Result (all integers varints as in encoding/binary):
//
//	uvarint column count, then per column:
//	  uvarint name length, name, uvarint table OID,
//	  uvarint table attribute number, uvarint type OID,
//	  varint type size, varint type modifier, uvarint format code
//	uvarint row count, then per row and column:
//	  uvarint 0 for NULL, else value length + 1, then the value
//	uvarint command tag length, command tag
//
// Nothing may follow the command tag. Decode checks every length against the
// bytes left before it allocates or slices, so corrupt input yields a
// *DecodeError rather than a panic or a huge allocation. Versioning and
// compression are the caller's: package querycache frames a body with a
// header byte and compresses large ones.

const (
	// maxZeroColumnRows bounds the rows of a result without columns (SELECT
	// FROM t), whose rows take no bytes in the encoding, so that a few corrupt
	// bytes cannot make Decode allocate without limit.
	maxZeroColumnRows = 1 << 16

	// minFieldBytes is the fewest bytes one encoded field description takes.
	minFieldBytes = 7
)

// ErrCorrupt matches (with errors.Is) every error Decode returns for input
// that is not a valid encoding. The caller should treat the entry as a miss.
var ErrCorrupt = errors.New("rowcodec: corrupt encoded result")

// ErrUnencodable is wrapped by the errors Append returns for a Result it
// cannot encode faithfully (a row whose length differs from the column count,
// a format code other than 0 or 1, too many rows without columns). Such a
// result must not be cached.
var ErrUnencodable = errors.New("rowcodec: result cannot be encoded")

// DecodeError describes corrupt or unsupported input to Decode (or to a
// caller's framing around it). It matches ErrCorrupt with errors.Is and
// unwraps to the underlying error, if any (such as s2.ErrCorrupt).
type DecodeError struct {
	// Offset is the byte offset where decoding failed: into the body for
	// Decode's errors, into the framed input for a caller's header errors.
	Offset int
	// Reason says what was wrong.
	Reason string
	// Err is the underlying error, or nil.
	Err error
}

func (e *DecodeError) Error() string {
	msg := fmt.Sprintf("rowcodec: corrupt encoded result at byte %d: %s", e.Offset, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error, or nil.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *DecodeError) Is(target error) bool { return target == ErrCorrupt }

// Append appends r's body encoding to dst and returns the extended slice. It
// returns an error wrapping ErrUnencodable for a nil or malformed Result,
// which must then not be cached. The encoding does not share memory with r.
func Append(dst []byte, r *Result) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil Result", ErrUnencodable)
	}
	ncols := len(r.FieldDescriptions)
	if ncols == 0 && len(r.Rows) > maxZeroColumnRows {
		return nil, fmt.Errorf("%w: %d rows without columns (at most %d)", ErrUnencodable, len(r.Rows), maxZeroColumnRows)
	}

	buf := slices.Grow(dst, r.Size()+len(r.CommandTag)+8*ncols+2*binary.MaxVarintLen64)
	buf = binary.AppendUvarint(buf, uint64(ncols))
	for i := range r.FieldDescriptions {
		fd := &r.FieldDescriptions[i]
		if fd.Format != pgx.TextFormatCode && fd.Format != pgx.BinaryFormatCode {
			return nil, fmt.Errorf("%w: column %d (%s) has format code %d", ErrUnencodable, i, fd.Name, fd.Format)
		}
		buf = binary.AppendUvarint(buf, uint64(len(fd.Name)))
		buf = append(buf, fd.Name...)
		buf = binary.AppendUvarint(buf, uint64(fd.TableOID))
		buf = binary.AppendUvarint(buf, uint64(fd.TableAttributeNumber))
		buf = binary.AppendUvarint(buf, uint64(fd.DataTypeOID))
		buf = binary.AppendVarint(buf, int64(fd.DataTypeSize))
		buf = binary.AppendVarint(buf, int64(fd.TypeModifier))
		buf = binary.AppendUvarint(buf, uint64(fd.Format))
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.Rows)))
	for i, row := range r.Rows {
		if len(row) != ncols {
			return nil, fmt.Errorf("%w: row %d has %d values for %d columns", ErrUnencodable, i, len(row), ncols)
		}
		for _, v := range row {
			if v == nil {
				buf = append(buf, 0)
				continue
			}
			buf = binary.AppendUvarint(buf, uint64(len(v))+1)
			buf = append(buf, v...)
		}
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.CommandTag)))
	return append(buf, r.CommandTag...), nil
}

// Decode parses a body made by Append. Any input that is not a valid body
// yields a *DecodeError (matching ErrCorrupt); Decode never panics and
// allocates no more than a small multiple of the input's size.
//
// The returned Result shares memory with body: body must not be modified
// while the Result is in use.
func Decode(body []byte) (*Result, error) {
	d := decoder{buf: body}
	return d.result()
}

// decoder reads a body; off is the offset of the unread rest.
type decoder struct {
	buf []byte
	off int
}

func (d *decoder) fail(format string, args ...any) error {
	return &DecodeError{Offset: d.off, Reason: fmt.Sprintf(format, args...)}
}

func (d *decoder) left() int { return len(d.buf) - d.off }

func (d *decoder) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		return 0, d.fail("bad %s", what)
	}
	d.off += n
	return v, nil
}

func (d *decoder) varint(what string, lo, hi int64) (int64, error) {
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		return 0, d.fail("bad %s", what)
	}
	if v < lo || v > hi {
		return 0, d.fail("%s %d out of range", what, v)
	}
	d.off += n
	return v, nil
}

func (d *decoder) bounded(what string, hi uint64) (uint64, error) {
	start := d.off
	v, err := d.uvarint(what)
	if err == nil && v > hi {
		d.off = start
		return 0, d.fail("%s %d out of range (at most %d)", what, v, hi)
	}
	return v, err
}

// bytes returns the next n bytes, capped so that appending to them cannot
// overwrite what follows.
func (d *decoder) bytes(what string, n uint64) ([]byte, error) {
	if n > uint64(d.left()) {
		return nil, d.fail("%s of %d bytes with %d left", what, n, d.left())
	}
	end := d.off + int(n)
	b := d.buf[d.off:end:end]
	d.off = end
	return b, nil
}

func (d *decoder) result() (*Result, error) {
	ncols, err := d.bounded("column count", uint64(d.left()/minFieldBytes))
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if ncols > 0 {
		if err := d.fields(res, int(ncols)); err != nil {
			return nil, err
		}
	}

	maxRows := uint64(maxZeroColumnRows)
	if ncols > 0 {
		maxRows = uint64(d.left()) / ncols // every value takes at least a byte
	}
	nrows, err := d.bounded("row count", maxRows)
	if err != nil {
		return nil, err
	}
	if nrows > 0 {
		res.Rows = make([][][]byte, nrows)
		cells := make([][]byte, nrows*ncols)
		for i := range res.Rows {
			row := cells[:ncols:ncols]
			cells = cells[ncols:]
			for j := range row {
				n, err := d.uvarint("value length")
				if err != nil {
					return nil, err
				}
				if n == 0 {
					continue // NULL
				}
				if row[j], err = d.bytes("value", n-1); err != nil {
					return nil, err
				}
			}
			res.Rows[i] = row
		}
	}

	n, err := d.uvarint("command tag length")
	if err != nil {
		return nil, err
	}
	tag, err := d.bytes("command tag", n)
	if err != nil {
		return nil, err
	}
	res.CommandTag = string(tag)
	if d.left() != 0 {
		return nil, d.fail("%d bytes after the command tag", d.left())
	}
	return res, nil
}

// fields decodes ncols field descriptions, copying all names into one string.
func (d *decoder) fields(res *Result, ncols int) error {
	fds := make([]pgconn.FieldDescription, ncols)
	ends := make([]int, ncols) // each name's end in names
	var names []byte
	for i := range fds {
		n, err := d.uvarint("column name length")
		if err != nil {
			return err
		}
		name, err := d.bytes("column name", n)
		if err != nil {
			return err
		}
		names = append(names, name...)
		ends[i] = len(names)

		fd := &fds[i]
		v, err := d.bounded("table OID", math.MaxUint32)
		if err != nil {
			return err
		}
		fd.TableOID = uint32(v)
		if v, err = d.bounded("table attribute number", math.MaxUint16); err != nil {
			return err
		}
		fd.TableAttributeNumber = uint16(v)
		if v, err = d.bounded("type OID", math.MaxUint32); err != nil {
			return err
		}
		fd.DataTypeOID = uint32(v)
		s, err := d.varint("type size", math.MinInt16, math.MaxInt16)
		if err != nil {
			return err
		}
		fd.DataTypeSize = int16(s)
		if s, err = d.varint("type modifier", math.MinInt32, math.MaxInt32); err != nil {
			return err
		}
		fd.TypeModifier = int32(s)
		if v, err = d.bounded("format code", pgx.BinaryFormatCode); err != nil {
			return err
		}
		fd.Format = int16(v)
	}
	all := string(names)
	start := 0
	for i := range fds {
		fds[i].Name = all[start:ends[i]]
		start = ends[i]
	}
	res.FieldDescriptions = fds
	return nil
}
