package querycache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/klauspost/compress/s2"
)

// The encoding of a Result (all integers varints as in encoding/binary):
//
//	header   1 byte: version<<4 | flags; version 1; flag 1 = body compressed
//	         compressed: the rest is one S2 block (github.com/klauspost/compress/s2,
//	         a faster Snappy), which starts with the body's uvarint length
//	body     uvarint column count, then per column:
//	           uvarint name length, name, uvarint table OID,
//	           uvarint table attribute number, uvarint type OID,
//	           varint type size, varint type modifier, uvarint format code
//	         uvarint row count, then per row and column:
//	           uvarint 0 for NULL, else value length + 1, then the value
//	         uvarint command tag length, command tag
//
// Nothing may follow the command tag. Decode checks every length against the
// bytes left before it allocates or slices, so corrupt input yields a
// *DecodeError rather than a panic or a huge allocation.

const (
	codecVersion   = 1
	flagCompressed = 1
	flagsMask      = 0x0f

	// DefaultCompressAbove is the body size, in bytes, above which Encode
	// compresses.
	DefaultCompressAbove = 1 << 10

	// maxZeroColumnRows bounds the rows of a result without columns (SELECT
	// FROM t), whose rows take no bytes in the encoding, so that a few corrupt
	// bytes cannot make Decode allocate without limit.
	maxZeroColumnRows = 1 << 16

	// minFieldBytes is the fewest bytes one encoded field description takes.
	minFieldBytes = 7

	// maxCompressionRatio bounds how much a compressed body may expand, so
	// that a corrupt length cannot make Decode allocate without limit. Encode
	// stores a body that compresses better than this uncompressed.
	maxCompressionRatio = 256
)

// ErrCorrupt matches (with errors.Is) every error Decode returns for input
// that is not a valid encoding. The caller should treat the entry as a miss.
var ErrCorrupt = errors.New("querycache: corrupt encoded result")

// ErrUnencodable is wrapped by the errors Encode returns for a Result it cannot
// encode faithfully (a row whose length differs from the column count, a format
// code other than 0 or 1, too many rows without columns). Such a result must
// not be cached.
var ErrUnencodable = errors.New("querycache: result cannot be encoded")

// DecodeError describes corrupt or unsupported input to Decode. It matches
// ErrCorrupt with errors.Is and unwraps to the underlying error, if any (such
// as s2.ErrCorrupt).
type DecodeError struct {
	// Offset is the byte offset where decoding failed: into the input for
	// the header, into the decompressed body for anything after it.
	Offset int
	// Reason says what was wrong.
	Reason string
	// Err is the underlying error, or nil.
	Err error
}

func (e *DecodeError) Error() string {
	msg := fmt.Sprintf("querycache: corrupt encoded result at byte %d: %s", e.Offset, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error, or nil.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *DecodeError) Is(target error) bool { return target == ErrCorrupt }

// ResultEncoder encodes Results. The zero value uses the defaults; it is safe
// for concurrent use.
type ResultEncoder struct {
	// CompressAbove is the body size in bytes above which the encoding is
	// compressed with S2 (and kept compressed only if that makes it
	// smaller). Zero means DefaultCompressAbove; negative never compresses.
	CompressAbove int
}

// Encode encodes r with the default ResultEncoder.
func Encode(r *Result) ([]byte, error) { return ResultEncoder{}.Encode(r) }

// Encode returns r's binary encoding, compressed when its body is larger than
// e.CompressAbove. It returns an error wrapping ErrUnencodable for a nil or
// malformed Result, which must then not be cached. The returned slice is newly
// allocated and does not share memory with r.
func (e ResultEncoder) Encode(r *Result) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil Result", ErrUnencodable)
	}
	ncols := len(r.FieldDescriptions)
	if ncols == 0 && len(r.Rows) > maxZeroColumnRows {
		return nil, fmt.Errorf("%w: %d rows without columns (at most %d)", ErrUnencodable, len(r.Rows), maxZeroColumnRows)
	}

	buf := make([]byte, 1, 1+r.Size()+len(r.CommandTag)+8*ncols+2*binary.MaxVarintLen64)
	buf[0] = codecVersion << 4
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
	buf = append(buf, r.CommandTag...)

	threshold := e.CompressAbove
	if threshold == 0 {
		threshold = DefaultCompressAbove
	}
	body := buf[1:]
	if threshold < 0 || len(body) <= threshold {
		return buf, nil
	}
	if s2.MaxEncodedLen(len(body)) < 0 {
		return buf, nil // beyond S2's block size (4 GiB)
	}
	out := make([]byte, 1, 1+s2.MaxEncodedLen(len(body)))
	out[0] = codecVersion<<4 | flagCompressed
	block := s2.Encode(out[1:], body)
	if len(block) >= len(body) || len(body) > len(block)*maxCompressionRatio {
		return buf, nil // incompressible, or too compressible for Decode's bound
	}
	return out[:1+len(block)], nil
}

// Decode parses an encoding made by Encode. Any input that is not a valid
// encoding of this version yields a *DecodeError (matching ErrCorrupt); Decode
// never panics and allocates no more than a small multiple of the decoded size
// (at most 256 times the input's).
//
// The returned Result shares memory with data when data is not compressed:
// data must not be modified while the Result is in use.
func Decode(data []byte) (*Result, error) {
	if len(data) == 0 {
		return nil, &DecodeError{Reason: "empty input"}
	}
	h := data[0]
	if v := h >> 4; v != codecVersion {
		return nil, &DecodeError{Reason: fmt.Sprintf("unsupported version %d", v)}
	}
	if h&flagsMask&^flagCompressed != 0 {
		return nil, &DecodeError{Reason: fmt.Sprintf("unknown flags %#x", h&flagsMask)}
	}
	body := data[1:]
	if h&flagCompressed != 0 {
		n, err := s2.DecodedLen(body)
		if err != nil {
			return nil, &DecodeError{Offset: 1, Reason: "bad compressed length", Err: err}
		}
		if n == 0 || n > len(body)*maxCompressionRatio {
			return nil, &DecodeError{Offset: 1, Reason: fmt.Sprintf("body length %d impossible for %d compressed bytes", n, len(body))}
		}
		if body, err = s2.Decode(nil, body); err != nil {
			return nil, &DecodeError{Offset: 1, Reason: "decompressing", Err: err}
		}
	}
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
