package querycache

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// A plan is what the cache decided about one SQL text: whether it may be
// cached at all (default deny: only a SELECT the analyzer proves read-only,
// calling only IMMUTABLE functions, reading only permanent tables and views
// outside the system catalogs), and if so the tables whose writes
// invalidate it and the settings its key must carry.
type plan struct {
	ok       bool
	reason   string   // why not
	tags     []string // invalidation tags, sorted; the database's global tag last
	genKeys  []string // the Redis keys of tags' generations
	slots    []uint32 // tags' slots in the local epochs
	settings []string // the settings the key needs values for
	digest   [32]byte // stmtDigest: the fixed part of the statement's keys
	err      error    // a failed catalog lookup's error for the read to fail with (see readError); never memoized
}

// planCache memoizes plans per analysis. Analyses are shared and immutable,
// so their address identifies the text; an evicted analysis only costs a
// new plan. It is cleared after DDL.
type planCache struct {
	mu     sync.RWMutex
	m      map[*sqlinfo.Info]*plan
	flying map[*sqlinfo.Info]*planFlight // plans being made
}

// planFlight is a plan being made; pl is set before done is closed.
type planFlight struct {
	done chan struct{}
	pl   *plan
}

func (p *planCache) init() {
	p.m = make(map[*sqlinfo.Info]*plan)
	p.flying = make(map[*sqlinfo.Info]*planFlight)
}

// start returns the flight making info's plan, and whether the caller must
// make it (and then call land).
func (p *planCache) start(info *sqlinfo.Info) (*planFlight, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.flying[info]; ok {
		return f, false
	}
	f := &planFlight{done: make(chan struct{})}
	p.flying[info] = f
	return f, true
}

func (p *planCache) land(info *sqlinfo.Info, f *planFlight) {
	p.mu.Lock()
	if p.flying[info] == f {
		delete(p.flying, info)
	}
	p.mu.Unlock()
	close(f.done)
}

func (p *planCache) get(info *sqlinfo.Info) *plan {
	p.mu.RLock()
	pl := p.m[info]
	p.mu.RUnlock()
	return pl
}

func (p *planCache) put(info *sqlinfo.Info, pl *plan) {
	p.mu.Lock()
	if len(p.m) >= 10000 {
		clear(p.m)
	}
	p.m[info] = pl
	p.mu.Unlock()
}

func (p *planCache) clear() {
	p.mu.Lock()
	clear(p.m)
	p.mu.Unlock()
}

// denied is a plan that refuses caching.
func denied(reason string) *plan { return &plan{reason: reason} }

// lookupDenied is the plan after a failed catalog lookup: not memoized.
func lookupDenied(reason string, err error) (*plan, bool) {
	return &plan{reason: reason, err: readError(err)}, false
}

// staticVerdict is the part of the decision the parse tree alone makes.
// It is applied to the statement and to the definition of every view the
// statement reads (recursively, see catalog.relation).
func staticVerdict(info *sqlinfo.Info) string {
	switch {
	case info.Kind != sqlinfo.KindSelect:
		return "not a SELECT (" + info.Kind.String() + ")"
	case info.Text == "":
		// The key is made from the text: an analysis without it (not made
		// by sqlinfo) cannot tell statements with different constants apart.
		return "analysis without its statement text"
	case info.Locking != "":
		return "locking clause " + info.Locking
	case !info.ReadOnly && !info.ReadOnlyIfFunctions:
		return "not read-only: " + info.Reason
	case info.Volatile != "":
		return "result changes from call to call: " + info.Volatile
	}
	for _, call := range info.Calls {
		if call.ValueFunction {
			return "calls SQL-value function " + call.Name + ", whose value depends on the time or on session state the key does not hold"
		}
	}
	for _, t := range info.TablesRead {
		lt := strings.ToLower(t)
		switch {
		case strings.HasPrefix(lt, "pg_temp"):
			return "reads temporary table " + t
		case strings.HasPrefix(lt, "pg_") || strings.HasPrefix(lt, "information_schema."): // pg_catalog.…, pg_class, pg_stat_…
			return "reads system catalog " + t
		}
	}
	return ""
}

// plan returns the plan of info, reading the catalog the first time. A plan
// that a failed catalog lookup denied is not memoized.
//
// The catalog is read on a goroutine of its own, once per statement at a
// time, and the caller waits for it only while its context lasts (it then
// fails with the context's error, as pgx does): a caller whose deadline is
// shorter than the lookups neither waits past it nor keeps the plan from
// being made for the next caller.
func (c *QueryCache) plan(ctx context.Context, info *sqlinfo.Info) *plan {
	if pl := c.plans.get(info); pl != nil {
		return pl
	}
	f, leader := c.plans.start(info)
	if leader {
		go c.makePlanFlight(context.WithoutCancel(ctx), info, f)
	}
	select {
	case <-f.done:
		return f.pl
	case <-ctx.Done():
		return &plan{reason: "context done while the catalog was read", err: ctx.Err()}
	}
}

// makePlanFlight makes info's plan for f and memoizes it if it may be.
func (c *QueryCache) makePlanFlight(ctx context.Context, info *sqlinfo.Info, f *planFlight) {
	defer c.plans.land(info, f)
	defer func() {
		// The caller's goroutine would have panicked: here the process
		// would die. The statement is not cached instead.
		if r := recover(); r != nil {
			c.reportErr(ctx, "catalog", fmt.Errorf("querycache: panic while planning: %v", r))
			f.pl = denied(fmt.Sprintf("planning failed: %v", r))
		}
	}()
	gen := c.catalog.generation()
	pl, keep := c.makePlan(ctx, info)
	// A plan made while the catalog was forgotten (DDL, or a connection
	// leaving session state) may rest on facts read before: not kept.
	if keep && c.catalog.generation() == gen {
		c.plans.put(info, pl)
	}
	f.pl = pl
}

// vetStatement applies staticVerdict and the catalog's verdict on every
// function call of info. It returns why info cannot be cached ("" when it
// can), and the error of a failed catalog lookup (why then says which; the
// answer must not be memoized).
func vetStatement(ctx context.Context, cat *catalog, info *sqlinfo.Info) (why string, err error) {
	if why := staticVerdict(info); why != "" {
		return why, nil
	}
	for _, f := range info.Functions {
		if !slices.ContainsFunc(info.Calls, func(c sqlinfo.Call) bool { return c.Name == f }) {
			return "calls function " + f + " in a way the analyzer does not understand", nil
		}
	}
	for _, call := range info.Calls {
		imm, err := cat.function(ctx, call)
		if err != nil {
			return "catalog lookup failed for function " + call.Name, err
		}
		if !imm {
			return "calls function " + call.Name + " with " + strconv.Itoa(call.Args) +
				" arguments, which is not IMMUTABLE (a built-in of pg_catalog) nor in ImmutableFunctions", nil
		}
	}
	return "", nil
}

func (c *QueryCache) makePlan(ctx context.Context, info *sqlinfo.Info) (*plan, bool) {
	if why, err := vetStatement(ctx, c.catalog, info); err != nil {
		return lookupDenied(why, err)
	} else if why != "" {
		return denied(why), true
	}
	var tags, settings []string
	for _, t := range info.TablesRead {
		v, err := c.catalog.relation(ctx, t)
		if err != nil {
			return lookupDenied("catalog lookup failed for relation "+t, err)
		}
		if !v.ok {
			return denied(v.reason), true
		}
		tags = append(tags, v.tags...)
		for _, s := range v.settings {
			if !slices.Contains(c.tenant, s) {
				return denied("row-level security on " + t + " reads setting " + s + ", which is not in TenantSettings"), true
			}
		}
		settings = append(settings, v.settings...)
	}
	settings = append(settings, c.tenant...)
	slices.Sort(settings)
	settings = slices.Compact(settings)

	pl := &plan{ok: true, settings: settings, digest: c.stmtDigest(info)}
	for _, t := range tags {
		pl.tags = append(pl.tags, c.tag(t))
	}
	slices.Sort(pl.tags)
	pl.tags = slices.Compact(pl.tags)
	pl.tags = append(pl.tags, c.globalTag())
	for _, t := range pl.tags {
		pl.genKeys = append(pl.genKeys, c.genKey(t))
		pl.slots = append(pl.slots, slotOf(t))
	}
	return pl, true
}

// Tags name a relation within the pool's database. Relations are named
// without their schema, so that a write to public.users and a read of users
// meet (a write to another schema's users invalidates them too: more misses,
// never a stale hit).
func (c *QueryCache) tag(rel string) string { return c.session.Database + "/" + rel }

// globalTag is bumped by writes whose tables the analyzer cannot name (DDL,
// DO, CALL, user functions in a write, unparsable text); every entry
// depends on it.
func (c *QueryCache) globalTag() string { return c.session.Database + "/*" }

func (c *QueryCache) genKey(tag string) string { return c.prefix + "g:" + tag }

// writeTags returns the relation names whose cached reads a successful
// statement invalidates, and whether it invalidates everything of the
// database (global) and the catalog knowledge (ddl). Every user function
// counts as a possible writer; QueryCache.writeTags exempts the functions
// of the ImmutableFunctions allow-list.
func writeTags(info *sqlinfo.Info) (rels []string, global, ddl bool) {
	return writeTagsExempt(info, nil)
}

// writeTags is writeTags for this cache: a statement whose only user
// functions are in Config.ImmutableFunctions (declared by the
// application to neither write nor read anything but their arguments)
// does not bump the database-wide tag on their account. Without it every
// read calling such a function, the cache's own fills included, would
// invalidate every entry of the database, its own included.
func (c *QueryCache) writeTags(info *sqlinfo.Info) (rels []string, global, ddl bool) {
	if strings.HasPrefix(info.Text, "/* pgxperf:catalog */") {
		return nil, false, false // pgxperf's own catalog reads
	}
	if info.Kind == sqlinfo.KindSelect && info.ReadOnly && c.catalog.hiddenWrite(info) {
		return nil, true, false // a user function behind a built-in name may write anything
	}
	if len(c.catalog.immutable) == 0 {
		return writeTagsExempt(info, nil)
	}
	return writeTagsExempt(info, c.catalog.listed)
}

// writeTagsExempt is writeTags where the user functions for which exempt
// returns true are known not to write.
func writeTagsExempt(info *sqlinfo.Info, exempt func(string) bool) (rels []string, global, ddl bool) {
	userCode := len(info.UnknownFunctions) > 0
	if userCode && exempt != nil {
		userCode = slices.ContainsFunc(info.UnknownFunctions, func(f string) bool { return !exempt(f) })
	}
	switch info.Kind {
	case sqlinfo.KindEmpty, sqlinfo.KindTransaction:
		return nil, false, false
	case sqlinfo.KindSelect:
		if info.ReadOnly {
			return nil, false, false
		}
		return relNames(info.TablesWritten), userCode, false
	case sqlinfo.KindInsert, sqlinfo.KindUpdate, sqlinfo.KindDelete, sqlinfo.KindMerge:
		rels = relNames(info.TablesWritten)
		return rels, len(rels) == 0 || userCode, false
	case sqlinfo.KindCopy:
		return relNames(info.TablesWritten), userCode, false
	case sqlinfo.KindUtility:
		if info.ReadOnly {
			return nil, false, false
		}
		switch strings.TrimPrefix(info.Reason, "utility statement ") {
		case "SET", "RESET", "LISTEN", "UNLISTEN", "NOTIFY", "PREPARE", "DEALLOCATE", "VACUUM", "ANALYZE",
			"LOCK", "CHECKPOINT", "DISCARD", "LOAD", "CLUSTER", "REINDEX":
			return nil, false, false
		}
		// DO, CALL, EXECUTE, EXPLAIN ANALYZE of a write, anything new.
		return relNames(info.TablesWritten), true, false
	case sqlinfo.KindDDL:
		return relNames(info.TablesWritten), true, true
	}
	return nil, true, false // unparsed or multi-statement text
}

// relNames turns relation names as written into tag names: the name after
// the last dot, and the whole name when it has one (a quoted name may
// contain a dot).
func relNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if i := strings.LastIndexByte(n, '.'); i >= 0 {
			out = append(out, n[i+1:])
		}
		out = append(out, n)
	}
	return out
}

// ---- local epochs ----

// epochSlots is the number of per-tag counters of the local epochs. Tags
// that share a slot invalidate each other's in-process entries: a miss, not
// a stale hit.
const epochSlots = 4096

func slotOf(tag string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tag))
	return h.Sum32() % epochSlots
}
