package querycache

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/scope"
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
// The recursive term of deps follows, for each relation reached: the
// relations a view's rewrite rule reads, the tables its cascading foreign
// keys reference, the tables its policies read, and its partition tree and
// ancestors. Those are vetted (vet is true) and their writes invalidate.
//
// writers then walks the other way, from every relation in deps: the
// relations with a rewrite rule that reads or writes it (views over it and
// views over those, tables and views with rules), whose writes may write it
// (an auto-updatable view, a rule's action, an INSTEAD OF trigger that
// writes the view's own base tables). They are not vetted (vet is false,
// reading them is not what the statement does): their names only join the
// tags, since the invalidator tags a write by the name it is written to.
// The definition of every view in deps comes along, for vetting.
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
), writers(oid, depth) AS (
	SELECT oid, 0 FROM deps
	UNION
	SELECT w.ev_class, writers.depth + 1 FROM writers
	JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = writers.oid
		AND d.classid = 'pg_rewrite'::regclass
	JOIN pg_rewrite w ON w.oid = d.objid
	WHERE w.ev_class <> writers.oid AND writers.depth < 16
)
SELECT c.relname, c.relkind::text, c.relpersistence::text, n.nspname, c.relrowsecurity,
	ARRAY(SELECT e FROM pg_policy p,
		LATERAL (VALUES (pg_get_expr(p.polqual, p.polrelid)), (pg_get_expr(p.polwithcheck, p.polrelid))) v(e)
		WHERE p.polrelid = c.oid AND e IS NOT NULL),
	EXISTS (SELECT 1 FROM pg_rewrite w
		JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
		LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
		JOIN pg_proc f ON f.oid = CASE WHEN d.refclassid = 'pg_proc'::regclass THEN d.refobjid ELSE o.oprcode END
		WHERE w.ev_class = c.oid AND f.provolatile <> 'i'),
	x.vet,
	CASE WHEN x.vet AND c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
	coalesce((SELECT string_agg(f.proname, ',') FROM pg_proc f
		WHERE f.oid >= 16384 AND f.pronargs >= 1 AND f.proargtypes[0] = c.reltype), '')
FROM (SELECT oid, bool_or(vet) AS vet FROM (
		SELECT oid, true AS vet FROM deps UNION ALL SELECT oid, false FROM writers) u
	GROUP BY oid) x
JOIN pg_class c ON c.oid = x.oid
JOIN pg_namespace n ON n.oid = c.relnamespace`

// lookupImmutable finds every overload a call of a function with $3
// arguments can resolve to (schema-qualified or on the search path): those
// whose parameter count, less the parameters with defaults, is at most $3
// and whose parameter count is at least $3, or that are variadic with at
// most $3+1 parameters. The one Postgres picks is among them, so when all
// are IMMUTABLE built-ins the call is. It says whether all are, and how many
// there are.
const lookupImmutable = `/* pgxperf:catalog */
SELECT coalesce(bool_and(p.provolatile = 'i' AND n.nspname = 'pg_catalog'), false), count(*)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = $1 AND (CASE WHEN $2 = '' THEN n.nspname = ANY(current_schemas(true)) ELSE n.nspname = $2 END)
	AND ((p.pronargs - p.pronargdefaults <= $3::int AND $3::int <= p.pronargs)
		OR (p.provariadic <> 0 AND $3::int >= p.pronargs - 1))`

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
	acquire   func(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) // Config.catalogAcquire
	report    func(ctx context.Context, op string, err error)
	immutable map[string]bool // from the config, names folded as SQL folds them (see foldName)

	mu    sync.RWMutex
	rels  map[string]relVerdict
	funcs map[string]funcVerdict
	gen   uint64 // bumped by forget; a lookup that started before is not kept

	user userFuncs // the names of the database's user functions (query_userfuncs.go)
}

func newCatalog(pool *pgxpool.Pool, immutable []string, report func(context.Context, string, error)) *catalog {
	c := &catalog{report: report, immutable: map[string]bool{},
		rels: map[string]relVerdict{}, funcs: map[string]funcVerdict{}}
	c.pool.Store(pool)
	for _, f := range immutable {
		if n := foldName(f); n != "" {
			c.immutable[n] = true
		}
	}
	return c
}

// foldName turns a function name as written in SQL ("slugify", "App.Slugify",
// `"MyFunc"`, `app."Odd"`) into the form sqlinfo lists calls in: unquoted
// parts lower-cased, quoted parts unquoted with their case kept, joined by
// dots. Postgres resolves "MyFunc" and myfunc to different functions, so
// the allow-list does too.
func foldName(name string) string {
	name = strings.TrimSpace(name)
	var parts []string
	for name != "" {
		var part string
		if name[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(name); i++ {
				if name[i] == '"' {
					if i+1 < len(name) && name[i+1] == '"' {
						b.WriteByte('"')
						i++
						continue
					}
					break
				}
				b.WriteByte(name[i])
			}
			part = b.String()
			name = strings.TrimSpace(name[min(i+1, len(name)):])
		} else {
			end := strings.IndexByte(name, '.')
			if end < 0 {
				end = len(name)
			}
			part = strings.ToLower(strings.TrimSpace(name[:end]))
			name = name[end:]
		}
		parts = append(parts, part)
		if !strings.HasPrefix(name, ".") {
			break
		}
		name = strings.TrimSpace(name[1:])
	}
	return strings.Join(parts, ".")
}

// listed reports whether the application listed a function, named as
// sqlinfo lists calls, in Config.ImmutableFunctions.
func (c *catalog) listed(name string) bool { return c.immutable[name] }

// allListed reports whether every named function is in ImmutableFunctions.
func (c *catalog) allListed(names []string) bool {
	for _, n := range names {
		if !c.immutable[n] {
			return false
		}
	}
	return true
}

// generation returns the number of times the catalog forgot what it knew.
func (c *catalog) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// forget drops everything the catalog knows (after DDL).
func (c *catalog) forget() {
	c.mu.Lock()
	clear(c.rels)
	clear(c.funcs)
	c.gen++
	c.mu.Unlock()
	c.user.forget()
}

var errNoCatalog = errors.New("querycache: no pool to read the catalog from")

// errViewVet is returned (joined with the lookup's error) when a catalog
// lookup made to vet a view's definition failed (the lookup itself was
// reported).
var errViewVet = errors.New("querycache: catalog lookup failed while vetting a view")

// catalogLookupTimeout bounds one catalog lookup (taking the connection
// included) when the caller's context allows longer.
const catalogLookupTimeout = 2 * time.Second

// acquireError is the error of taking a connection for a catalog lookup.
type acquireError struct{ err error }

func (e *acquireError) Error() string { return "querycache: catalog lookup: " + e.err.Error() }
func (e *acquireError) Unwrap() error { return e.err }

// lookupContext returns the context of a catalog lookup: bounded by
// catalogLookupTimeout, and outside any scope of the tracer (an n1detect
// scope must not see the cache's own statements). The lookups of a plan run
// with the caller's values but not its cancellation (see QueryCache.plan),
// and take their connection with catalogAcquire.
func lookupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if scope.From(ctx) != nil {
		ctx = scope.With(ctx, nil)
	}
	return context.WithTimeout(ctx, catalogLookupTimeout)
}

// conn takes a connection of the catalog pool for one lookup, with
// catalogAcquire when it is set. Release it after use.
func (c *catalog) conn(ctx context.Context) (*pgxpool.Conn, error) {
	pool := c.pool.Load()
	if pool == nil {
		return nil, errNoCatalog
	}
	var conn *pgxpool.Conn
	var err error
	if c.acquire != nil {
		conn, err = c.acquire(ctx, pool)
	} else {
		conn, err = pool.Acquire(ctx)
	}
	if err != nil {
		return nil, &acquireError{err}
	}
	return conn, nil
}

// lookupError is a failed catalog lookup: err, and the error the read
// fails with, if any (see lookupFailed).
type lookupError struct {
	err    error
	caller error
}

func (e *lookupError) Error() string { return e.err.Error() }
func (e *lookupError) Unwrap() error { return e.err }

// lookupFailed reports a failed lookup (lctx is its context) and wraps its
// error for the read. The read fails with the error when no connection
// could be taken within the pool's acquire timeout (catalogAcquire failed
// with a deadline before the lookup's own): running the statement would
// wait as long again, and fail the same way. Otherwise it goes on
// uncached.
func (c *catalog) lookupFailed(ctx, lctx context.Context, err error) error {
	c.report(ctx, "catalog", err)
	le := &lookupError{err: err}
	var ae *acquireError
	if errors.As(err, &ae) && lctx.Err() == nil && errors.Is(ae.err, context.DeadlineExceeded) {
		le.caller = ae.err
	}
	return le
}

// readError returns what a read fails with after a catalog lookup failed
// with err, nil when it goes on uncached.
func readError(err error) error {
	var le *lookupError
	if errors.As(err, &le) {
		return le.caller
	}
	return nil
}

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
	if c.pool.Load() == nil {
		return relVerdict{}, errNoCatalog
	}
	lctx, cancel := lookupContext(ctx)
	defer cancel()
	conn, err := c.conn(lctx)
	if err != nil {
		return relVerdict{}, c.lookupFailed(ctx, lctx, err)
	}
	defer conn.Release()
	rows, err := conn.Query(lctx, lookupRelation, pgx.Identifier(strings.Split(name, ".")).Sanitize())
	if err != nil {
		return relVerdict{}, c.lookupFailed(ctx, lctx, err)
	}
	type rel struct {
		name, kind, persistence, schema string
		policies                        []string
		rls, volatileDeps, vet          bool
		rowFuncs                        string // user functions taking its row type
		viewDef                         *string
	}
	var rels []rel
	for rows.Next() {
		var r rel
		if err := rows.Scan(&r.name, &r.kind, &r.persistence, &r.schema, &r.rls, &r.policies, &r.volatileDeps, &r.vet, &r.viewDef, &r.rowFuncs); err != nil {
			rows.Close()
			return relVerdict{}, c.lookupFailed(ctx, lctx, err)
		}
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		return relVerdict{}, c.lookupFailed(ctx, lctx, err)
	}
	// The connection goes back before the views' definitions are vetted
	// below (which may look up functions on another).
	conn.Release()
	v = relVerdict{ok: true, at: time.Now()}
	if len(rels) == 0 {
		v = relVerdict{reason: fmt.Sprintf("relation %s is not a permanent relation on the search path (temporary or missing)", name), at: v.at}
	}
	for _, r := range rels {
		if !r.vet {
			// Only a writer: its name joins the tags.
			v.tags = append(v.tags, r.name)
			continue
		}
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
		case r.vet && r.rowFuncs != "" && !c.allListed(strings.Split(r.rowFuncs, ",")):
			// p.f reads as a column but calls f(p): invisible in the text.
			why = "table " + r.name + " has user functions taking its row type (" + r.rowFuncs + "), callable as columns"
		case r.kind == "v":
			// Built-in functions, SQL-value functions and literals leave no
			// trace in pg_depend: vet the view's query as a statement.
			if r.viewDef == nil {
				why = "cannot read the definition of view " + r.name
				break
			}
			w, err := vetStatement(ctx, c, sqlinfo.Analyze(*r.viewDef))
			if err != nil {
				return relVerdict{}, errors.Join(errViewVet, err)
			}
			if w != "" {
				why = "view " + r.name + ": " + w
			}
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
	if info.Volatile != "" {
		return nil, "row-level security policy on " + rel + " changes from call to call: " + info.Volatile
	}
	for _, f := range info.Functions {
		if policyFuncs[f] || slices.ContainsFunc(info.Calls, func(c sqlinfo.Call) bool { return c.Name == f }) {
			continue
		}
		return nil, "row-level security policy on " + rel + " calls " + f + ", whose result the cache cannot key on"
	}
	for _, call := range info.Calls {
		if policyFuncs[call.Name] {
			continue
		}
		imm, err := c.function(ctx, call)
		if err != nil || !imm {
			return nil, "row-level security policy on " + rel + " calls " + call.Name + ", whose result the cache cannot key on"
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

// function reports whether a call may be cached: the application listed
// the function as called in Config.ImmutableFunctions, or every
// overload the call can resolve to (by its number of arguments) is an
// IMMUTABLE built-in of pg_catalog. Other user functions are refused
// whatever pg_proc says: Postgres does not enforce declared volatility (an
// "IMMUTABLE" function may read tables). SQL-value functions have no
// pg_proc entry of their name and are refused.
func (c *catalog) function(ctx context.Context, call sqlinfo.Call) (bool, error) {
	name := call.Name
	if c.immutable[name] {
		return true, nil
	}
	if call.ValueFunction {
		return false, nil
	}
	key := name + "/" + strconv.Itoa(call.Args)
	c.mu.RLock()
	v, ok := c.funcs[key]
	gen := c.gen
	c.mu.RUnlock()
	if ok && time.Since(v.at) < catalogTTL {
		return v.immutable, nil
	}
	if c.pool.Load() == nil {
		return false, errNoCatalog
	}
	schema, fn := "", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		schema, fn = name[:i], name[i+1:]
	}
	lctx, cancel := lookupContext(ctx)
	defer cancel()
	conn, err := c.conn(lctx)
	if err != nil {
		return false, c.lookupFailed(ctx, lctx, err)
	}
	defer conn.Release()
	var all bool
	var n int64
	if err := conn.QueryRow(lctx, lookupImmutable, fn, schema, call.Args).Scan(&all, &n); err != nil {
		return false, c.lookupFailed(ctx, lctx, err)
	}
	v = funcVerdict{immutable: all && n > 0, at: time.Now()}
	c.mu.Lock()
	if c.gen == gen && len(c.funcs) < 10000 {
		c.funcs[key] = v
	}
	c.mu.Unlock()
	return v.immutable, nil
}
