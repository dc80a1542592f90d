package querycache

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"

	"github.com/pgxperf/pgxperf/internal/rowcodec"
)

// A stored result is a header byte and a row codec body (package
// internal/rowcodec), compressed when large:
//
//	header   1 byte: version<<4 | flags; version 1; flag 1 = body compressed
//	         compressed: the rest is one S2 block (github.com/klauspost/compress/s2,
//	         a faster Snappy), which starts with the body's uvarint length
//	body     rowcodec.Append's encoding
//
// S2 because it decodes 5–10× faster than compress/flate for a 15–20% larger
// output, and a cache hit is all decoding.

const (
	codecVersion   = 1
	flagCompressed = 1
	flagsMask      = 0x0f

	// defaultCompressAbove is the body size, in bytes, above which results
	// are compressed.
	defaultCompressAbove = 1 << 10

	// maxCompressionRatio bounds how much a compressed body may expand, so
	// that a corrupt length cannot make decodeResult allocate without limit.
	// encode stores a body that compresses better than this uncompressed.
	maxCompressionRatio = 256
)

// ErrCorrupt matches (with errors.Is) the errors Config.OnError receives,
// with op "decode", for a cache entry that is not a valid encoding (written by
// another version or program, or damaged). The cache treats such an entry as
// a miss: the call reads the database.
var ErrCorrupt = errors.New("querycache: corrupt cache entry")

// resultEncoder encodes Results for Redis. The zero value uses the defaults;
// it is safe for concurrent use.
type resultEncoder struct {
	// compressAbove is the body size in bytes above which the encoding is
	// compressed with S2 (and kept compressed only if that makes it
	// smaller). Zero means defaultCompressAbove; negative never compresses.
	compressAbove int
}

// encodeResult encodes r with the default resultEncoder.
func encodeResult(r *rowcodec.Result) ([]byte, error) { return resultEncoder{}.encode(r) }

// encode returns r's framed encoding, compressed when its body is larger
// than e.compressAbove. It returns an error wrapping rowcodec.ErrUnencodable
// for a nil or malformed Result, which must then not be cached. The returned
// slice is newly allocated and does not share memory with r.
func (e resultEncoder) encode(r *rowcodec.Result) ([]byte, error) {
	hint := 1 // Append grows buf only if this falls short
	if r != nil {
		hint += r.Size() + len(r.CommandTag) + 8*len(r.FieldDescriptions) + 2*binary.MaxVarintLen64
	}
	buf := make([]byte, 1, hint)
	buf[0] = codecVersion << 4
	buf, err := rowcodec.Append(buf, r)
	if err != nil {
		return nil, err
	}
	threshold := e.compressAbove
	if threshold == 0 {
		threshold = defaultCompressAbove
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
		return buf, nil // incompressible, or too compressible for decodeResult's bound
	}
	return out[:1+len(block)], nil
}

// decodeResult parses an encoding made by encode. Any input that is not a
// valid encoding of this version yields an error matching ErrCorrupt and
// wrapping a *rowcodec.DecodeError (whose Offset is into data for the
// header, into the decompressed body for anything after it); decodeResult
// never panics and allocates no more than a small multiple of the decoded
// size (at most 256 times the input's).
//
// The returned Result shares memory with data when data is not compressed:
// data must not be modified while the Result is in use.
func decodeResult(data []byte) (*rowcodec.Result, error) {
	if len(data) == 0 {
		return nil, corrupt(&rowcodec.DecodeError{Reason: "empty input"})
	}
	h := data[0]
	if v := h >> 4; v != codecVersion {
		return nil, corrupt(&rowcodec.DecodeError{Reason: fmt.Sprintf("unsupported version %d", v)})
	}
	if h&flagsMask&^flagCompressed != 0 {
		return nil, corrupt(&rowcodec.DecodeError{Reason: fmt.Sprintf("unknown flags %#x", h&flagsMask)})
	}
	body := data[1:]
	if h&flagCompressed != 0 {
		n, err := s2.DecodedLen(body)
		if err != nil {
			return nil, corrupt(&rowcodec.DecodeError{Offset: 1, Reason: "bad compressed length", Err: err})
		}
		if n == 0 || n > len(body)*maxCompressionRatio {
			return nil, corrupt(&rowcodec.DecodeError{Offset: 1, Reason: fmt.Sprintf("body length %d impossible for %d compressed bytes", n, len(body))})
		}
		if body, err = s2.Decode(nil, body); err != nil {
			return nil, corrupt(&rowcodec.DecodeError{Offset: 1, Reason: "decompressing", Err: err})
		}
	}
	res, err := rowcodec.Decode(body)
	if err != nil {
		return nil, corrupt(err)
	}
	return res, nil
}

// corrupt wraps a row codec error so that it matches ErrCorrupt.
func corrupt(err error) error { return fmt.Errorf("%w: %w", ErrCorrupt, err) }
