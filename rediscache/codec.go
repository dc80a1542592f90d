package rediscache

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Codec turns the Cache's values into bytes and back. Implementations must
// be safe for concurrent use.
type Codec interface {
	// Marshal encodes v, which is the value a caller passed (a T, not a *T).
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which is a non-nil *T.
	Unmarshal(data []byte, v any) error
}

// jsonCodec is the default Codec: encoding/json.
type jsonCodec struct{}

var _ Codec = jsonCodec{}

// Marshal implements Codec with json.Marshal.
func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Codec with json.Unmarshal.
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// CodecError reports a value that could not be encoded for Redis, or an entry
// in Redis that could not be decoded (written by another codec, another
// type, or another program). GetOrLoad and GetMany treat an undecodable entry
// as a miss and report the error to Config.OnError; Get and Set return it.
type CodecError struct {
	Op  string // "encode" or "decode"
	Key string // the key as the caller passed it, without Config.Prefix
	Err error
}

// Error returns the step, the key and the underlying error.
func (e *CodecError) Error() string {
	return fmt.Sprintf("rediscache: %s %q: %v", e.Op, e.Key, e.Err)
}

// Unwrap returns the codec's (or the entry header check's) error.
func (e *CodecError) Unwrap() error { return e.Err }

// An entry in Redis is a small header followed by the codec's bytes:
//
//	byte 0     entryVersion
//	bytes 1-8  refresh-at, Unix milliseconds, big-endian (0: never)
//	bytes 9-   payload
//
// The refresh-at time is the entry's logical soft expiry: a hit after it
// starts one background refresh (see Config.EarlyRefresh).
const (
	entryVersion   = 1
	entryHeaderLen = 9
)

var errBadEntry = errors.New("not a rediscache entry (bad header)")

func (m *Cache) encodeEntry(key string, v any, refreshAtMs int64) ([]byte, error) {
	payload, err := m.codec.Marshal(v)
	if err != nil {
		return nil, &CodecError{Op: "encode", Key: key, Err: err}
	}
	buf := make([]byte, entryHeaderLen+len(payload))
	buf[0] = entryVersion
	binary.BigEndian.PutUint64(buf[1:entryHeaderLen], uint64(refreshAtMs))
	copy(buf[entryHeaderLen:], payload)
	return buf, nil
}

// decodeEntry decodes data into a T and returns its refresh-at time.
func decodeEntry[T any](m *Cache, key string, data []byte) (v T, refreshAtMs int64, err error) {
	if len(data) < entryHeaderLen || data[0] != entryVersion {
		return v, 0, &CodecError{Op: "decode", Key: key, Err: errBadEntry}
	}
	refreshAtMs = int64(binary.BigEndian.Uint64(data[1:entryHeaderLen]))
	if err := m.codec.Unmarshal(data[entryHeaderLen:], &v); err != nil {
		return v, 0, &CodecError{Op: "decode", Key: key, Err: err}
	}
	return v, refreshAtMs, nil
}
