package querycache

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Writes hidden behind a built-in name. A SELECT the parser proves
// read-only may still write through a user function that shadows a
// built-in's name (a log(text) that INSERTs) or that the statement calls
// under a name the analyzer takes for a built-in. The invalidator cannot
// query the catalog on a statement's path, so the catalog keeps the set of
// the database's user function names (extension members aside), loaded in
// the background and forgotten with the rest of the catalog; a read-only
// SELECT that calls one of them, unless it is listed in ImmutableFunctions,
// invalidates the whole database like any write whose tables are unknown.
// While the set is not known yet, any SELECT that calls a function does.

const userFuncsSQL = `/* pgxperf:catalog */
SELECT coalesce(array_agg(DISTINCT p.proname), '{}') FROM pg_proc p
WHERE p.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend e
	WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')`

// userFuncs is the set of user function names; nil while unknown.
type userFuncs struct {
	names   atomic.Pointer[map[string]bool]
	epoch   atomic.Uint64 // bumped by forget: a load begun before is dropped
	loading atomic.Bool
}

func (u *userFuncs) forget() {
	u.epoch.Add(1)
	u.names.Store(nil)
}

// loadUserFuncs reads the set, once at a time: in the background, or
// before it returns when wait is set (when the pool is made).
func (c *catalog) loadUserFuncs(wait bool) {
	if !c.user.loading.CompareAndSwap(false, true) {
		return
	}
	if c.pool.Load() == nil {
		c.user.loading.Store(false)
		return
	}
	epoch := c.user.epoch.Load()
	load := func() {
		defer c.user.loading.Store(false)
		// No read waits for it (see hiddenWrite; useCatalog does): a context
		// of its own, and a connection within CatalogAcquire's bounds.
		ctx, cancel := context.WithTimeout(context.Background(), catalogLookupTimeout)
		defer cancel()
		conn, err := c.conn(ctx)
		if err != nil {
			c.report(ctx, "catalog", err)
			return
		}
		defer conn.Release()
		var names []string
		if err := conn.QueryRow(ctx, userFuncsSQL).Scan(&names); err != nil {
			c.report(ctx, "catalog", err)
			return
		}
		m := make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
		if c.user.epoch.Load() == epoch {
			c.user.names.Store(&m)
		}
	}
	if wait {
		load()
		return
	}
	go load()
}

// hiddenWrite reports whether a read-only SELECT may write through a user
// function it calls (see above).
func (c *catalog) hiddenWrite(info *sqlinfo.Info) bool {
	var m map[string]bool
	if p := c.user.names.Load(); p != nil {
		m = *p
	}
	for _, call := range info.Calls {
		if call.ValueFunction || c.listed(call.Name) {
			continue
		}
		if m == nil {
			c.loadUserFuncs(false)
			return true
		}
		name := call.Name
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		if m[name] {
			return true
		}
	}
	return false
}
