package n1detect

import (
	"fmt"
	"hash/maphash"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

var hashSeed = maphash.MakeSeed()

// hashArgs hashes a statement's text and arguments, so that two executions
// with the same values (or the same literals formatted into the SQL) hash
// alike. Common types are hashed without allocating; others through fmt.
func hashArgs(sql string, args []any) uint64 {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	h.WriteString(sql)
	var b [8]byte
	put := func(tag byte, v uint64) {
		h.WriteByte(tag)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		h.Write(b[:])
	}
	for _, a := range args {
		switch v := a.(type) {
		case nil:
			h.WriteByte(0)
		case int:
			put(1, uint64(v))
		case int64:
			put(1, uint64(v))
		case int32:
			put(1, uint64(v))
		case int16:
			put(1, uint64(v))
		case uint32:
			put(1, uint64(v))
		case uint64:
			put(1, v)
		case bool:
			if v {
				put(2, 1)
			} else {
				put(2, 0)
			}
		case float64:
			put(3, math.Float64bits(v))
		case string:
			h.WriteByte(4)
			h.WriteString(v)
			h.WriteByte(0)
		case []byte:
			h.WriteByte(5)
			h.Write(v)
			h.WriteByte(0)
		case time.Time:
			put(6, uint64(v.UnixNano()))
		case [16]byte:
			h.WriteByte(7)
			h.Write(v[:])
		default:
			h.WriteByte(8)
			h.WriteString(fmt.Sprintf("%T:%v", v, v)) //nolint:staticcheck // QF1012: Fprintf would make h escape
			h.WriteByte(0)
		}
	}
	return h.Sum64()
}

// hashArgsExcept hashes the arguments other than the $n numbers in skip (the
// cursor of a page).
func hashArgsExcept(args []any, skip []int) uint64 {
	kept := make([]any, 0, len(args))
	for i, a := range args {
		if !slices.Contains(skip, i+1) {
			kept = append(kept, a)
		}
	}
	return hashArgs("", kept)
}

// multiValued reports whether a batch-shaped statement really carries
// several values: an array argument with two or more elements, or no array
// argument at all (a literal IN list or multi-row VALUES). "= ANY($1)" called
// per item with one-element slices is still one query per item.
func multiValued(args []any) bool {
	sawSlice := false
	for _, a := range args {
		if a == nil {
			continue
		}
		if _, isBytes := a.([]byte); isBytes {
			continue
		}
		// Arrays are single values ([16]byte is a UUID); slices are lists.
		if v := reflect.ValueOf(a); v.Kind() == reflect.Slice {
			sawSlice = true
			if v.Len() > 1 {
				return true
			}
		}
	}
	return !sawSlice
}

// tablesHash identifies the set of tables a statement touches.
func tablesHash(info *sqlinfo.Info) uint64 {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	for _, t := range info.TablesRead {
		h.WriteString(t)
		h.WriteByte(0)
	}
	h.WriteByte(1)
	for _, t := range info.TablesWritten {
		h.WriteString(t)
		h.WriteByte(0)
	}
	if len(info.TablesRead)+len(info.TablesWritten) == 0 {
		// No tables (SELECT $1, functions only): keep such statements apart by shape.
		var b [8]byte
		for i := range b {
			b[i] = byte(info.Fingerprint >> (8 * i))
		}
		h.Write(b[:])
	}
	return h.Sum64()
}
