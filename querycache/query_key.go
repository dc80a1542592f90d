package querycache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Keys. An entry's Redis key is prefix + "r:" + hex(SHA-256(material)),
// where material is a framed encoding: every variable-length part is
// preceded by its length and every argument by a type tag, so that no two
// different inputs give the same bytes ("1" the string and 1 the integer,
// ["a","b"] and ["ab"], a tenant setting and an argument all differ). No SQL
// text or argument value appears in a key name.

// keyMagic starts the material; it changes with the material's layout.
// Version 3 added the statement's whole text.
const keyMagic = "pgxperf-qc-key\x03"

// errUnkeyable is returned for an argument the key cannot encode faithfully
// (a channel, a function, an unknown QueryRewriter): the call is not cached.
var errUnkeyable = errors.New("querycache: argument cannot be part of a cache key")

// errClockArg is returned for a string argument holding a clock-relative
// date/time input ('now', 'today', 'tomorrow', 'yesterday'): pgx sends a
// Go string as text, and a date/time parameter would read the clock, so the
// same key would stand for results of different times. The call is not cached.
var errClockArg = errors.New("querycache: an argument holds a clock-relative date/time input (now, today, tomorrow, yesterday)")

// sessionKey is the framed encoding of a sessionInfo, computed once per pool.
func sessionKey(s sessionInfo) []byte {
	var b keyBuf
	b.str(s.Host)
	b.uint(uint64(s.Port))
	b.str(s.Database)
	b.str(s.User)
	names := make([]string, 0, len(s.RuntimeParams))
	for k := range s.RuntimeParams {
		names = append(names, k)
	}
	sort.Strings(names)
	b.uint(uint64(len(names)))
	for _, k := range names {
		b.str(strings.ToLower(k))
		b.str(s.RuntimeParams[k])
	}
	return b.b
}

type keyBuf struct {
	b []byte
	// mapKey is set while a map key is encoded: a key names a value (a
	// pgx.NamedArgs name such as "now") and is never converted to a time.
	mapKey bool
}

func (k *keyBuf) byte1(c byte) { k.b = append(k.b, c) }
func (k *keyBuf) uint(v uint64) {
	k.b = binary.AppendUvarint(k.b, v)
}
func (k *keyBuf) int(v int64) { k.b = binary.AppendVarint(k.b, v) }
func (k *keyBuf) str(s string) {
	k.uint(uint64(len(s)))
	k.b = append(k.b, s...)
}
func (k *keyBuf) bytes(s []byte) {
	k.uint(uint64(len(s)))
	k.b = append(k.b, s...)
}

var keyBufs = sync.Pool{New: func() any { return &keyBuf{b: make([]byte, 0, 512)} }}

// stmtDigest is the SHA-256 of the framed session, fingerprint, normalized
// SQL and the statement's whole text: the part of every key of a statement
// that does not change from call to call, hashed once per plan. The
// fingerprint and the normalized text leave every constant out ("id = 1"
// and "id = 2" share them); the text as the application sent it holds them
// all (literals in casts, arrays, IN lists, dollar-quoted and escape
// strings, and the names of pgx named arguments, whose values are
// arguments). Texts that differ only in spacing or comments get different
// keys: a miss, never a wrong hit. A plan is only made for an Info with its
// Text (staticVerdict), and an Info belongs to one text (sqlinfo.Info.Text).
func (c *QueryCache) stmtDigest(info *sqlinfo.Info) [32]byte {
	var kb keyBuf
	kb.b = make([]byte, 0, len(keyMagic)+len(c.sessionKey)+len(info.Normalized)+len(info.Text)+32)
	kb.b = append(kb.b, keyMagic...)
	kb.bytes(c.sessionKey)
	kb.uint(info.Fingerprint)
	kb.str(info.Normalized)
	kb.str(info.Text)
	return sha256.Sum256(kb.b)
}

// buildKey returns the entry key of one call, or errUnkeyable. digest is the
// statement's stmtDigest (nil: computed here).
func (c *QueryCache) buildKey(info *sqlinfo.Info, digest *[32]byte, settings map[string]string, args []any) (string, error) {
	kb := keyBufs.Get().(*keyBuf)
	defer func() {
		if cap(kb.b) <= 64<<10 {
			kb.b = kb.b[:0]
			keyBufs.Put(kb)
		}
	}()
	if digest == nil {
		d := c.stmtDigest(info)
		digest = &d
	}
	kb.b = append(kb.b[:0], keyMagic...)
	kb.b = append(kb.b, digest[:]...)
	// Declared settings, sorted: they describe the session as much as the
	// connection string does.
	kb.uint(uint64(len(settings)))
	if len(settings) > 0 {
		names := make([]string, 0, len(settings))
		for k := range settings {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			kb.str(k)
			kb.str(settings[k])
		}
	}
	kb.uint(uint64(len(args)))
	for _, a := range args {
		if err := kb.arg(reflect.ValueOf(a), 0); err != nil {
			return "", err
		}
	}
	sum := sha256.Sum256(kb.b)
	out := make([]byte, len(c.prefix)+2+hex.EncodedLen(len(sum)))
	n := copy(out, c.prefix)
	n += copy(out[n:], "r:")
	hex.Encode(out[n:], sum[:])
	return string(out), nil
}

// Argument type tags.
const (
	tagNil byte = iota + 1
	tagBool
	tagInt
	tagUint
	tagFloat
	tagString
	tagBytes
	tagTime
	tagSlice
	tagMap
	tagStruct
	tagNamed // followed by the Go type's full name, then the value
	tagBig
	tagAddr
	tagDuration
)

var (
	timeType     = reflect.TypeFor[time.Time]()
	bigIntType   = reflect.TypeFor[big.Int]()
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	durationType = reflect.TypeFor[time.Duration]()
	namedArgs    = reflect.TypeFor[pgx.NamedArgs]()
	strictNamed  = reflect.TypeFor[pgx.StrictNamedArgs]()
)

// arg appends a canonical, typed encoding of v. Integers of every width
// encode alike (pgx sends the same bytes for them); named types other than
// the pgx argument types carry their type name, since they may encode
// themselves differently.
func (k *keyBuf) arg(v reflect.Value, depth int) error {
	if depth > 32 {
		return fmt.Errorf("%w: nested more than 32 levels", errUnkeyable)
	}
	if !v.IsValid() {
		k.byte1(tagNil)
		return nil
	}
	t := v.Type()
	if !v.CanInterface() {
		// An unexported field: walk its representation instead.
		return k.kind(v, t, depth)
	}
	switch t {
	case timeType:
		tm := v.Interface().(time.Time)
		k.byte1(tagTime)
		k.int(tm.Unix())
		k.int(int64(tm.Nanosecond()))
		name, off := tm.Zone()
		k.str(name)
		k.int(int64(off))
		return nil
	case bigIntType:
		bi := v.Interface().(big.Int)
		k.byte1(tagBig)
		k.str(bi.String())
		return nil
	case addrType, prefixType:
		k.byte1(tagAddr)
		k.str(t.String())
		k.str(fmt.Sprint(v.Interface()))
		return nil
	case durationType:
		k.byte1(tagDuration)
		k.int(v.Int())
		return nil
	}
	return k.kind(v, t, depth)
}

func (k *keyBuf) kind(v reflect.Value, t reflect.Type, depth int) error {
	if t.Name() != "" && t.PkgPath() != "" && t != namedArgs && t != strictNamed {
		k.byte1(tagNamed)
		k.str(t.PkgPath() + "." + t.Name())
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			k.byte1(tagNil)
			return nil
		}
		return k.arg(v.Elem(), depth+1)
	case reflect.Bool:
		k.byte1(tagBool)
		if v.Bool() {
			k.byte1(1)
		} else {
			k.byte1(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		k.byte1(tagInt)
		k.int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		k.byte1(tagUint)
		k.uint(v.Uint())
	case reflect.Float32, reflect.Float64:
		k.byte1(tagFloat)
		k.uint(math.Float64bits(v.Float()))
	case reflect.String:
		if !k.mapKey && sqlinfo.HasClockWord(v.String()) {
			return errClockArg
		}
		k.byte1(tagString)
		k.str(v.String())
	case reflect.Slice:
		if v.IsNil() {
			k.byte1(tagNil)
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			k.byte1(tagBytes)
			k.bytes(v.Bytes())
			return nil
		}
		fallthrough
	case reflect.Array:
		k.byte1(tagSlice)
		n := v.Len()
		k.uint(uint64(n))
		for i := range n {
			if err := k.arg(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.IsNil() {
			k.byte1(tagNil)
			return nil
		}
		// Encode each pair on its own, then sort the encodings: map order
		// must not matter.
		pairs := make([][]byte, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			p := keyBuf{mapKey: true}
			if err := p.arg(it.Key(), depth+1); err != nil {
				return err
			}
			p.mapKey = k.mapKey
			if err := p.arg(it.Value(), depth+1); err != nil {
				return err
			}
			pairs = append(pairs, p.b)
		}
		slices.SortFunc(pairs, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
		k.byte1(tagMap)
		k.uint(uint64(len(pairs)))
		for _, p := range pairs {
			k.bytes(p)
		}
	case reflect.Struct:
		k.byte1(tagStruct)
		k.uint(uint64(t.NumField()))
		for i := range t.NumField() {
			if err := k.arg(v.Field(i), depth+1); err != nil {
				return err
			}
		}
	default: // chan, func, unsafe.Pointer, complex
		return fmt.Errorf("%w: %s", errUnkeyable, t)
	}
	return nil
}
