package replica

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// User-defined code. Postgres does not enforce what a function's declared
// volatility promises (a STABLE function can take advisory locks or change
// settings; every aggregate is recorded IMMUTABLE), and the parser sees
// calls by name only. So a read goes to a replica only when the catalog
// shows it runs no user-defined code the options do not vouch for:
//
//   - a function it calls has no user-defined overload in any schema (a
//     user function can shadow a built-in name), unless the name is listed
//     in ReadOnlyFunctions or TrustVolatility is set and every user
//     overload is a plain STABLE or IMMUTABLE function;
//   - no user-defined operator, and no domain with constraints, whose name
//     appears in its text;
//   - the database has no user-defined cast (a cast applies to types,
//     written or not; with TrustVolatility, casts by STABLE or IMMUTABLE
//     functions are allowed);
//   - every relation it reads resolves in the catalog (a temporary table
//     made on another connection does not), has no user function taking
//     its row type (p.fn is a call written as a column), and it and every
//     view under it depend on no
//     user-defined function or operator (views, row-level security
//     policies), is not a foreign table, and the definitions of those
//     views and policies call no built-in with side effects.
//
// Objects of the contrib extensions shipped with Postgres (trustedExtensions)
// count as built-in. What the catalog says is kept for CatalogTTL, forgotten
// at once after DDL through the pool (noteSchemaChange), and forgotten when
// the monitor sees the catalogs change.

// trustedExtensions are contrib modules whose functions and operators are
// C code shipped with Postgres that only reads.
var trustedExtensions = []string{"citext", "pg_trgm", "hstore", "ltree", "cube", "earthdistance",
	"fuzzystrmatch", "unaccent", "intarray", "btree_gin", "btree_gist", "isn", "seg", "uuid-ossp", "pgcrypto"}

const userObjectsSQL = `/* pgxperf:catalog */
SELECT
	ARRAY(SELECT DISTINCT o.oprname FROM pg_operator o
		WHERE o.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
			WHERE e.classid = 'pg_operator'::regclass AND e.objid = o.oid AND e.deptype = 'e' AND x.extname = ANY($1))
			AND NOT ($2 AND EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = o.oprcode AND p.provolatile IN ('s', 'i')))),
	ARRAY(SELECT DISTINCT lower(t.typname) FROM pg_type t
		WHERE t.oid >= 16384 AND t.typtype = 'd' AND EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contypid = t.oid)),
	EXISTS (SELECT 1 FROM pg_cast k JOIN pg_proc p ON p.oid = k.castfunc WHERE k.castfunc >= 16384
		AND NOT ($2 AND p.prokind = 'f' AND p.provolatile IN ('s', 'i'))
		AND NOT EXISTS (SELECT 1 FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
			WHERE e.classid = 'pg_cast'::regclass AND e.objid = k.oid AND e.deptype = 'e' AND x.extname = ANY($1)))`

const userFunctionSQL = `/* pgxperf:catalog */
SELECT count(*), coalesce(bool_and(p.prokind = 'f' AND p.provolatile IN ('s', 'i')), true)
FROM pg_proc p
WHERE p.proname = $1 AND p.oid >= 16384
	AND NOT EXISTS (SELECT 1 FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
		WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e' AND x.extname = ANY($2))`

const userRelationSQL = `/* pgxperf:catalog */
WITH RECURSIVE deps(oid, depth) AS (
	SELECT to_regclass($1::text)::oid, 0 WHERE to_regclass($1::text) IS NOT NULL
	UNION
	SELECT d.refobjid, deps.depth + 1 FROM deps
	JOIN pg_rewrite w ON w.ev_class = deps.oid
	JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
		AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> deps.oid
	WHERE deps.depth < 16
)
SELECT c.relname, c.relkind::text,
	CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) ELSE '' END,
	ARRAY(SELECT e FROM pg_policy p,
		LATERAL (VALUES (pg_get_expr(p.polqual, p.polrelid)), (pg_get_expr(p.polwithcheck, p.polrelid))) v(e)
		WHERE c.relrowsecurity AND p.polrelid = c.oid AND e IS NOT NULL),
	EXISTS (SELECT 1 FROM pg_depend d
		WHERE d.refobjid >= 16384 AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
		AND ((d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT w.oid FROM pg_rewrite w WHERE w.ev_class = c.oid))
			OR (c.relrowsecurity AND d.classid = 'pg_policy'::regclass AND d.objid IN (SELECT p.oid FROM pg_policy p WHERE p.polrelid = c.oid)))
		AND NOT EXISTS (SELECT 1 FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
			WHERE e.objid = d.refobjid AND e.classid = d.refclassid AND e.deptype = 'e' AND x.extname = ANY($2))
		AND NOT ($3 AND EXISTS (SELECT 1 FROM pg_proc p LEFT JOIN pg_operator o ON o.oid = d.refobjid
			WHERE p.oid = CASE WHEN d.refclassid = 'pg_operator'::regclass THEN o.oprcode ELSE d.refobjid END
			AND p.prokind = 'f' AND p.provolatile IN ('s', 'i'))))
	OR EXISTS (SELECT 1 FROM pg_proc f WHERE f.oid >= 16384 AND f.pronargs >= 1 AND f.proargtypes[0] = c.reltype
		AND NOT ($3 AND f.prokind = 'f' AND f.provolatile IN ('s', 'i')))
FROM (SELECT DISTINCT oid FROM deps) x JOIN pg_class c ON c.oid = x.oid`

// codeCatalog answers "may this statement run user-defined code?" from the
// primary's catalog, memoized per analysis and per name. forget swaps in an
// empty state; a lookup that began before fills the old one, which nobody
// reads any more.
type codeCatalog struct {
	pool    func() *pgxpool.Pool
	opts    Config
	listed  map[string]bool // ReadOnlyFunctions (true) and WriteFunctions (false)
	state   atomic.Pointer[codeState]
	forgets atomic.Int64
}

type codeState struct {
	born    time.Time
	stmts   sync.Map // *sqlinfo.Info → bool
	nstmts  atomic.Int64
	mu      sync.Mutex
	funcs   map[string]bool
	rels    map[string]bool
	objects *userObjects
}

type userObjects struct {
	operators []string
	domains   []string // domains with constraints
	casts     bool     // a user cast exists: it may apply, written or not, to any statement
}

func newCodeCatalog(pool func() *pgxpool.Pool, o Config) *codeCatalog {
	c := &codeCatalog{pool: pool, opts: o, listed: map[string]bool{}}
	for _, f := range o.ReadOnlyFunctions {
		c.listed[strings.ToLower(f)] = true
	}
	for _, f := range o.WriteFunctions {
		c.listed[strings.ToLower(f)] = false
	}
	c.state.Store(newCodeState())
	return c
}

func newCodeState() *codeState {
	return &codeState{born: time.Now(), funcs: map[string]bool{}, rels: map[string]bool{}}
}

// forget drops everything the catalog said (the schema may have changed).
func (c *codeCatalog) forget() {
	c.state.Store(newCodeState())
	c.forgets.Add(1)
}

// expire forgets when the state is older than CatalogTTL (the monitor calls
// it, so that routing never reads the clock).
func (c *codeCatalog) expire() {
	if time.Since(c.state.Load().born) > c.opts.CatalogTTL {
		c.forget()
	}
}

// safe reports whether info, a statement the parser proved read-only but
// for the functions it calls, runs no user-defined code the options do not
// vouch for. Unknown (a failed lookup) is false, and not remembered.
func (c *codeCatalog) safe(ctx context.Context, info *sqlinfo.Info) bool {
	st := c.state.Load()
	if v, ok := st.stmts.Load(info); ok {
		return v.(bool)
	}
	// The caller's deadline holds, and the lookup's own. Its statements
	// start with /* pgxperf:catalog */: no tracer records them, so they
	// are in neither the statistics nor the caller's n1detect scope.
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	v, known := c.decide(ctx, st, info)
	if known && st.nstmts.Add(1) <= 10000 {
		st.stmts.Store(info, v)
	}
	return v
}

// lookupTimeout bounds one statement's catalog lookups.
const lookupTimeout = 2 * time.Second

// acquire takes a primary connection for a lookup, bounded by
// Config.AcquireTimeout.
func (c *codeCatalog) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if c.opts.AcquireTimeout > 0 {
		actx, cancel := context.WithTimeout(ctx, c.opts.AcquireTimeout)
		defer cancel()
		ctx = actx
	}
	return c.pool().Acquire(ctx)
}

// queryRow runs a one-row lookup on a connection from acquire.
func (c *codeCatalog) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	conn, err := c.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &releaseRow{Row: conn.QueryRow(ctx, sql, args...), conn: conn}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// releaseRow releases the connection once the row is scanned.
type releaseRow struct {
	pgx.Row
	conn *pgxpool.Conn
}

func (r *releaseRow) Scan(dest ...any) error {
	defer r.conn.Release()
	return r.Row.Scan(dest...)
}

func (c *codeCatalog) decide(ctx context.Context, st *codeState, info *sqlinfo.Info) (safe, known bool) {
	for _, f := range info.Functions {
		if ok, known := c.function(ctx, st, f); !known || !ok {
			return false, known
		}
	}
	if ok, known := c.textSafe(ctx, st, info.Normalized); !known || !ok {
		return false, known
	}
	for _, t := range info.TablesRead {
		if ok, known := c.relation(ctx, st, t, 0); !known || !ok {
			return false, known
		}
	}
	return true, true
}

// textSafe checks a statement's text for user-defined operators and
// domains with constraints (by name: conservative), and the database for
// user casts (which apply to types, written or not: any statement).
func (c *codeCatalog) textSafe(ctx context.Context, st *codeState, text string) (safe, known bool) {
	objs, err := c.userObjects(ctx, st)
	if err != nil {
		return false, false
	}
	if objs.casts {
		return false, true
	}
	for _, op := range objs.operators {
		if strings.Contains(text, op) {
			return false, true
		}
	}
	if len(objs.domains) > 0 {
		lower := strings.ToLower(text)
		for _, d := range objs.domains {
			if strings.Contains(lower, d) {
				return false, true
			}
		}
	}
	return true, true
}

// maxDefinitionDepth bounds how deep definitions (views, policies and the
// relations they read) are vetted; deeper is unknown.
const maxDefinitionDepth = 8

// function reports whether a called function runs no unvouched user code:
// a read-only built-in that no user function shadows (by name, in any
// schema), or, with TrustVolatility, a name whose user overloads are all
// plain STABLE or IMMUTABLE functions.
func (c *codeCatalog) function(ctx context.Context, st *codeState, name string) (safe, known bool) {
	if v, ok := c.listed[name]; ok {
		return v, true
	}
	bare, schema := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		schema, bare = name[:i], name[i+1:]
	}
	builtin := (schema == "" || schema == "pg_catalog") && sqlinfo.IsKnownReadOnlyFunction(bare)
	switch {
	case builtin && schema == "pg_catalog":
		return true, true // qualified: nothing can shadow it
	case !builtin && (!c.opts.TrustVolatility || c.opts.DisableFunctionLookup):
		return false, true
	}
	st.mu.Lock()
	v, ok := st.funcs[name]
	st.mu.Unlock()
	if ok {
		return v, true
	}
	var n int64
	var stable bool
	if err := c.queryRow(ctx, userFunctionSQL, bare, trustedExtensions).Scan(&n, &stable); err != nil {
		return false, false
	}
	if builtin {
		v = n == 0 || c.opts.TrustVolatility && stable
	} else {
		v = n > 0 && stable
	}
	st.mu.Lock()
	if len(st.funcs) < 10000 {
		st.funcs[name] = v
	}
	st.mu.Unlock()
	return v, true
}

func (c *codeCatalog) userObjects(ctx context.Context, st *codeState) (*userObjects, error) {
	st.mu.Lock()
	o := st.objects
	st.mu.Unlock()
	if o != nil {
		return o, nil
	}
	o = &userObjects{}
	if err := c.queryRow(ctx, userObjectsSQL, trustedExtensions, c.opts.TrustVolatility).Scan(&o.operators, &o.domains, &o.casts); err != nil {
		return nil, err
	}
	st.mu.Lock()
	st.objects = o
	st.mu.Unlock()
	return o, nil
}

// relation reports whether reading a relation (and every view under it)
// runs no unvouched user code and no built-in with side effects.
func (c *codeCatalog) relation(ctx context.Context, st *codeState, name string, depth int) (safe, known bool) {
	if depth > maxDefinitionDepth {
		return false, true
	}
	st.mu.Lock()
	v, ok := st.rels[name]
	st.mu.Unlock()
	if ok {
		return v, true
	}
	rels, err := c.relations(ctx, name)
	if err != nil {
		return false, false
	}
	// A name the catalog cannot resolve is unknown: a temporary table made
	// on some pooled connection, or a table not created yet. Primary.
	v = len(rels) > 0
	for _, r := range rels {
		if r.kind == "f" || r.userDeps {
			v = false
		}
		defs := r.policies
		if r.viewdef != "" {
			defs = append([]string{r.viewdef}, defs...)
		}
		for i, def := range defs {
			if i > 0 || r.viewdef == "" {
				def = "SELECT " + def // a policy's expression
			}
			ok, known := c.definitionSafe(ctx, st, def, depth)
			if !known {
				return false, false // a failed lookup below: not remembered
			}
			v = v && ok
		}
	}
	st.mu.Lock()
	if len(st.rels) < 10000 {
		st.rels[name] = v
	}
	st.mu.Unlock()
	return v, true
}

// catalogRel is one relation a name resolves to.
type catalogRel struct {
	kind, viewdef string
	policies      []string
	userDeps      bool
}

// relations reads what name resolves to, on a connection it releases
// before the caller looks further (a view over views must not hold one
// connection per level).
func (c *codeCatalog) relations(ctx context.Context, name string) ([]catalogRel, error) {
	conn, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, userRelationSQL, name, trustedExtensions, c.opts.TrustVolatility)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rels []catalogRel
	for rows.Next() {
		var r catalogRel
		var relname string
		if err := rows.Scan(&relname, &r.kind, &r.viewdef, &r.policies, &r.userDeps); err != nil {
			return nil, err
		}
		rels = append(rels, r)
	}
	return rels, rows.Err()
}

// definitionSafe vets a view's or policy's own query: built-ins with side
// effects are invisible to pg_depend, so the text is analyzed; the
// functions it calls, the operators and types it names and the relations
// it reads (a policy's subquery) are vetted like a statement's. known is
// false when a lookup failed: the verdict must not be remembered.
func (c *codeCatalog) definitionSafe(ctx context.Context, st *codeState, sql string, depth int) (safe, known bool) {
	info := sqlinfo.Analyze(sql)
	if info.Kind != sqlinfo.KindSelect || !info.ReadOnly && !info.ReadOnlyIfFunctions {
		return false, true
	}
	for _, f := range info.Functions {
		if ok, known := c.function(ctx, st, f); !ok || !known {
			return false, known
		}
	}
	if ok, known := c.textSafe(ctx, st, sql); !ok || !known {
		return false, known
	}
	for _, t := range info.TablesRead {
		if ok, known := c.relation(ctx, st, t, depth+1); !ok || !known {
			return false, known
		}
	}
	return true, true
}
