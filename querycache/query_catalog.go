package querycache

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// The catalog tells the cache what the parse tree cannot: whether a relation
// named in a statement is a permanent table or view visible on the search
// path (not a temporary table, a catalog or a foreign table), which tables
// its rows depend on (a view's base tables, a table's partitions and
// ancestors, the tables whose deletes and updates cascade into it), which
// settings its row-level security policies read, and whether a function is
// IMMUTABLE. It reads pg_class, pg_depend, pg_constraint, pg_policy and
// pg_proc on the primary, once per name, and forgets after catalogTTL or
// when the pool runs DDL.

const catalogTTL = 5 * time.Minute

// lookupRelation resolves one relation and everything its rows depend on.
// The recursive term follows, for each relation reached: the relations a
// view's rewrite rule reads, the tables its cascading foreign keys
// reference, and its partition tree and ancestors.
const lookupRelation = `/* pgxperf:catalog */
WITH RECURSIVE deps(oid, depth) AS (
	SELECT to_regclass($1::text)::oid, 0 WHERE to_regclass($1::text) IS NOT NULL
	UNION
	SELECT e.oid, deps.depth + 1 FROM deps, LATERAL (
		SELECT d.refobjid AS oid FROM pg_rewrite w
		JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
			AND d.refclassid = 'pg_class'::regclass
		WHERE w.ev_class = deps.oid AND d.refobjid <> deps.oid
		UNION ALL
		SELECT con.confrelid FROM pg_constraint con
		WHERE con.conrelid = deps.oid AND con.contype = 'f'
			AND (con.confdeltype IN ('c', 'n', 'd') OR con.confupdtype IN ('c', 'n', 'd'))
		UNION ALL
		SELECT d.refobjid FROM pg_policy p
		JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
			AND d.refclassid = 'pg_class'::regclass
		WHERE p.polrelid = deps.oid AND d.refobjid <> deps.oid
		UNION ALL
		SELECT t.relid::oid FROM pg_partition_tree(deps.oid::regclass) t WHERE t.relid <> deps.oid
		UNION ALL
		SELECT a.relid::oid FROM pg_partition_ancestors(deps.oid::regclass) a WHERE a.relid <> deps.oid
	) e WHERE deps.depth < 16
)
SELECT c.relname, c.relkind::text, c.relpersistence::text, n.nspname, c.relrowsecurity,
	ARRAY(SELECT e FROM pg_policy p,
		LATERAL (VALUES (pg_get_expr(p.polqual, p.polrelid)), (pg_get_expr(p.polwithcheck, p.polrelid))) v(e)
		WHERE p.polrelid = c.oid AND e IS NOT NULL),
	EXISTS (SELECT 1 FROM pg_rewrite w
		JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
			AND d.refclassid = 'pg_proc'::regclass
		JOIN pg_proc f ON f.oid = d.refobjid
		WHERE w.ev_class = c.oid AND f.provolatile <> 'i')
FROM (SELECT DISTINCT oid FROM deps) x
JOIN pg_class c ON c.oid = x.oid
JOIN pg_namespace n ON n.oid = c.relnamespace`

// lookupImmutable finds every overload of a function (schema-qualified or on
// the search path) and says whether all are IMMUTABLE.
const lookupImmutable = `/* pgxperf:catalog */
SELECT coalesce(bool_and(p.provolatile = 'i'), false), count(*)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = $1 AND (CASE WHEN $2 = '' THEN n.nspname = ANY(current_schemas(true)) ELSE n.nspname = $2 END)`

// relVerdict is what the catalog knows of one relation name.
type relVerdict struct {
	ok       bool
	reason   string   // why not, when !ok
	tags     []string // the relation names whose writes invalidate reads of it
	settings []string // settings its row-level security policies read
	at       time.Time
}

type funcVerdict struct {
	immutable bool
	at        time.Time
}

type catalog struct {
	pool      atomic.Pointer[pgxpool.Pool]
	report    func(ctx context.Context, op string, err error)
	immutable map[string]bool // from the config

	mu    sync.RWMutex
	rels  map[string]relVerdict
	funcs map[string]funcVerdict
	gen   uint64 // bumped by forget; a lookup that started before is not kept
}

func newCatalog(pool *pgxpool.Pool, immutable []string, report func(context.Context, string, error)) *catalog {
	c := &catalog{report: report, immutable: map[string]bool{},
		rels: map[string]relVerdict{}, funcs: map[string]funcVerdict{}}
	c.pool.Store(pool)
	for _, f := range immutable {
		c.immutable[strings.ToLower(strings.TrimSpace(f))] = true
	}
	return c
}

// forget drops everything the catalog knows (after DDL).
func (c *catalog) forget() {
	c.mu.Lock()
	clear(c.rels)
	clear(c.funcs)
	c.gen++
	c.mu.Unlock()
}

var errNoCatalog = errors.New("querycache: no pool to read the catalog from")

// relation returns the verdict for a relation name as the analyzer lists it
// ("users", "public.users").
func (c *catalog) relation(ctx context.Context, name string) (relVerdict, error) {
	c.mu.RLock()
	v, ok := c.rels[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok && time.Since(v.at) < catalogTTL {
		return v, nil
	}
	pool := c.pool.Load()
	if pool == nil {
		return relVerdict{}, errNoCatalog
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	rows, err := pool.Query(lctx, lookupRelation, pgx.Identifier(strings.Split(name, ".")).Sanitize())
	if err != nil {
		c.report(ctx, "catalog", err)
		return relVerdict{}, err
	}
	type rel struct {
		name, kind, persistence, schema string
		policies                        []string
		rls, volatileDeps               bool
	}
	var rels []rel
	for rows.Next() {
		var r rel
		if err := rows.Scan(&r.name, &r.kind, &r.persistence, &r.schema, &r.rls, &r.policies, &r.volatileDeps); err != nil {
			rows.Close()
			c.report(ctx, "catalog", err)
			return relVerdict{}, err
		}
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		c.report(ctx, "catalog", err)
		return relVerdict{}, err
	}
	v = relVerdict{ok: true, at: time.Now()}
	if len(rels) == 0 {
		v = relVerdict{reason: fmt.Sprintf("relation %s is not a permanent relation on the search path (temporary or missing)", name), at: v.at}
	}
	for _, r := range rels {
		why := ""
		switch {
		case r.persistence == "t":
			why = "reads temporary table " + r.name
		case r.schema == "pg_catalog" || r.schema == "information_schema" || strings.HasPrefix(r.schema, "pg_toast"):
			why = "reads system catalog " + r.schema + "." + r.name
		case r.kind == "f":
			why = "reads foreign table " + r.name
		case r.kind == "S":
			why = "reads sequence " + r.name
		case r.kind != "r" && r.kind != "p" && r.kind != "v" && r.kind != "m":
			why = "reads relation " + r.name + " of kind " + r.kind
		case r.volatileDeps:
			why = "view " + r.name + " calls a function that is not IMMUTABLE"
		}
		if why != "" {
			v = relVerdict{reason: why, at: v.at}
			break
		}
		if r.rls {
			for _, expr := range r.policies {
				settings, why := c.policy(ctx, r.name, expr)
				if why != "" {
					v = relVerdict{reason: why, at: v.at}
					break
				}
				v.settings = append(v.settings, settings...)
			}
			if !v.ok {
				break
			}
		}
		v.tags = append(v.tags, r.name)
	}
	slices.Sort(v.tags)
	v.tags = slices.Compact(v.tags)
	slices.Sort(v.settings)
	v.settings = slices.Compact(v.settings)
	c.mu.Lock()
	if c.gen == gen && len(c.rels) < 10000 {
		c.rels[name] = v
	}
	c.mu.Unlock()
	return v, nil
}

// policyFuncs may appear in a row-level security policy: what they read is
// in the key (the user) or must be (current_setting, see policySettings).
var policyFuncs = map[string]bool{"current_setting": true, "pg_catalog.current_setting": true,
	"current_user": true, "session_user": true, "current_role": true, "user": true}

// policy vets one policy expression of table rel: the settings it reads, or
// why a table with it cannot be cached (a function whose result the cache
// cannot key on, such as a STABLE function wrapping current_setting).
func (c *catalog) policy(ctx context.Context, rel, expr string) ([]string, string) {
	info := sqlinfo.Analyze("SELECT " + expr)
	if info.Kind != sqlinfo.KindSelect {
		return nil, "cannot read the row-level security policy of " + rel
	}
	for _, f := range info.Functions {
		if policyFuncs[f] {
			continue
		}
		imm, err := c.function(ctx, f)
		if err != nil || !imm {
			return nil, "row-level security policy on " + rel + " calls " + f + ", whose result the cache cannot key on"
		}
	}
	return policySettings(expr), ""
}

var currentSettingRE = regexp.MustCompile(`current_setting\(\s*'([^']+)'`)

// policySettings returns the names of the settings a policy expression reads
// with current_setting('name' …).
func policySettings(expr string) []string {
	var out []string
	for _, m := range currentSettingRE.FindAllStringSubmatch(expr, -1) {
		out = append(out, strings.ToLower(m[1]))
	}
	return out
}

// function reports whether every overload of a function is IMMUTABLE (or the
// config says to treat it so).
func (c *catalog) function(ctx context.Context, name string) (bool, error) {
	if c.immutable[name] {
		return true, nil
	}
	c.mu.RLock()
	v, ok := c.funcs[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok && time.Since(v.at) < catalogTTL {
		return v.immutable, nil
	}
	pool := c.pool.Load()
	if pool == nil {
		return false, errNoCatalog
	}
	schema, fn := "", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		schema, fn = name[:i], name[i+1:]
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var all bool
	var n int64
	if err := pool.QueryRow(lctx, lookupImmutable, fn, schema).Scan(&all, &n); err != nil {
		c.report(ctx, "catalog", err)
		return false, err
	}
	v = funcVerdict{immutable: all && n > 0, at: time.Now()}
	c.mu.Lock()
	if c.gen == gen && len(c.funcs) < 10000 {
		c.funcs[name] = v
	}
	c.mu.Unlock()
	return v.immutable, nil
}
