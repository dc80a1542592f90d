package querycache

import (
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// A hit is replayed without a connection, so it needs a type map of its own
// that decodes every column as the connection that filled the entry would:
// pgx's built-in types, plus the types the application registered on its
// connections (enums, composites, domains loaded with LoadTypes). The
// registry learns the latter from the connection of each fill, keeps one
// copy per OID, and hands out pooled maps (a pgtype.Map is not safe for
// concurrent use, and its memoized scan plans make a warm one faster).
// A hit on a column whose type it has not learned is served as a miss,
// which teaches it.

type typeRegistry struct {
	mu      sync.Mutex
	learned atomic.Pointer[map[uint32]*pgtype.Type] // nil *Type: the connection had no type either
	version atomic.Uint64
	maps    sync.Pool // *pooledMap
}

type pooledMap struct {
	m       *pgtype.Map
	version uint64
	reg     *typeRegistry
}

// Release returns pm to its registry's pool: a replay calls it at Close.
func (pm *pooledMap) Release() { pm.reg.put(pm) }

// builtin is only read: TypeForOID looks types up without memoizing.
var builtin = pgtype.NewMap()

// known reports whether every column's type can be decoded by a pooled map
// as this process's own connections would decode it.
func (r *typeRegistry) known(fds []pgconn.FieldDescription) bool {
	var learned map[uint32]*pgtype.Type
	if p := r.learned.Load(); p != nil {
		learned = *p
	}
	for i := range fds {
		oid := fds[i].DataTypeOID
		if _, ok := builtin.TypeForOID(oid); ok {
			continue
		}
		t, ok := learned[oid]
		if !ok {
			return false
		}
		if t == nil && fds[i].Format != pgtype.TextFormatCode {
			// Filled by an instance that has a codec for the type and read
			// it in binary; this one has none and reads it as text.
			return false
		}
	}
	return true
}

// learn records the types of fds that connMap knows and the built-in map
// does not. connMap must belong to a connection the caller holds.
func (r *typeRegistry) learn(fds []pgconn.FieldDescription, connMap *pgtype.Map) {
	if r.known(fds) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := map[uint32]*pgtype.Type{}
	if p := r.learned.Load(); p != nil {
		old = *p
	}
	next := make(map[uint32]*pgtype.Type, len(old)+len(fds))
	for k, v := range old {
		next[k] = v
	}
	for i := range fds {
		oid := fds[i].DataTypeOID
		if _, ok := builtin.TypeForOID(oid); ok {
			continue
		}
		if _, ok := next[oid]; ok {
			continue
		}
		var t *pgtype.Type
		if connMap != nil {
			if ct, ok := connMap.TypeForOID(oid); ok {
				t = ct
			}
		}
		next[oid] = t
	}
	r.learned.Store(&next)
	r.version.Add(1)
}

// get returns a type map with every learned type registered.
func (r *typeRegistry) get() *pooledMap {
	pm, _ := r.maps.Get().(*pooledMap)
	if pm == nil {
		pm = &pooledMap{m: pgtype.NewMap(), reg: r}
	}
	if v := r.version.Load(); pm.version != v {
		if p := r.learned.Load(); p != nil {
			for _, t := range *p {
				if t == nil {
					continue
				}
				if _, ok := pm.m.TypeForOID(t.OID); !ok {
					pm.m.RegisterType(cloneType(t, 0))
				}
			}
		}
		pm.version = v
	}
	return pm
}

func (r *typeRegistry) put(pm *pooledMap) { r.maps.Put(pm) }

// cloneType copies a type learned from a connection for another map. Most
// codecs are immutable and shared; an EnumCodec caches its members in a
// plain map and must not be shared between maps used concurrently, so it is
// replaced, also inside arrays, ranges, multiranges and composites.
func cloneType(t *pgtype.Type, depth int) *pgtype.Type {
	if t == nil || depth > 8 {
		return t
	}
	c := *t
	switch codec := t.Codec.(type) {
	case *pgtype.EnumCodec:
		c.Codec = &pgtype.EnumCodec{}
	case *pgtype.ArrayCodec:
		c.Codec = &pgtype.ArrayCodec{ElementType: cloneType(codec.ElementType, depth+1)}
	case *pgtype.RangeCodec:
		c.Codec = &pgtype.RangeCodec{ElementType: cloneType(codec.ElementType, depth+1)}
	case *pgtype.MultirangeCodec:
		c.Codec = &pgtype.MultirangeCodec{ElementType: cloneType(codec.ElementType, depth+1)}
	case *pgtype.CompositeCodec:
		fields := make([]pgtype.CompositeCodecField, len(codec.Fields))
		for i, f := range codec.Fields {
			fields[i] = pgtype.CompositeCodecField{Name: f.Name, Type: cloneType(f.Type, depth+1)}
		}
		c.Codec = &pgtype.CompositeCodec{Fields: fields}
	}
	return &c
}
