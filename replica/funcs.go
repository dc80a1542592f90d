package replica

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// funcCache knows whether user functions are read-only: from the Options'
// lists, else from pg_proc.provolatile on the primary, read once per name.
type funcCache struct {
	// pool returns where to read pg_proc: the primary while it answers, else
	// an online replica (the catalog is the same there).
	pool     func() *pgxpool.Pool
	disabled bool
	mu       sync.RWMutex
	known    map[string]bool
}

func newFuncCache(pool func() *pgxpool.Pool, o Options) *funcCache {
	c := &funcCache{pool: pool, disabled: o.DisableFunctionLookup, known: map[string]bool{}}
	for _, f := range o.ReadOnlyFunctions {
		c.known[strings.ToLower(f)] = true
	}
	for _, f := range o.WriteFunctions {
		c.known[strings.ToLower(f)] = false
	}
	return c
}

// lookupVolatility finds every overload of a function (schema-qualified
// or on the search_path) and says whether all are stable or immutable.
const lookupVolatility = `SELECT coalesce(bool_and(p.provolatile IN ('s', 'i')), false), count(*)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = $1 AND (CASE WHEN $2 = '' THEN n.nspname = ANY(current_schemas(true)) ELSE n.nspname = $2 END)`

func (c *funcCache) readOnly(_ context.Context, name string) bool {
	c.mu.RLock()
	v, ok := c.known[name]
	c.mu.RUnlock()
	if ok {
		return v
	}
	if c.disabled {
		return false
	}
	schema, fn := "", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		schema, fn = name[:i], name[i+1:]
	}
	lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // not the caller's scope or deadline
	defer cancel()
	var stable bool
	var n int64
	if err := c.pool().QueryRow(lctx, lookupVolatility, fn, schema).Scan(&stable, &n); err != nil {
		return false // unknown means primary; try again next time
	}
	ro := stable && n > 0
	c.mu.Lock()
	if len(c.known) < 10000 {
		c.known[name] = ro
	}
	c.mu.Unlock()
	return ro
}
