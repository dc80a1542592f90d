package querycache

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/pgerr"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Invalidation. Every table has a generation in Redis (prefix + "g:" + tag,
// a counter) and every entry records the generations of the tables it read,
// as they were before its statement started. A hit is served only while
// they are unchanged. After a write commits (at once for autocommit), the
// written tables' generations are incremented before control returns to
// the application, so:
//
//   - a read that starts after the commit returned sees the new generation
//     and never an entry made before it;
//   - a read that started before the write and stores its (old) rows after
//     the increment stores them under the old generation, so no later read
//     is served them.
//
// Rolled-back transactions invalidate nothing. The invalidation is driven
// by the connections' tracer, so every write made through the pool is seen:
// Exec, Query, QueryRow, transactions, batches, CopyFrom and connections
// taken with Acquire. In-process (L1) entries check local epochs instead of
// Redis; other instances learn of writes through a pub/sub message.

// epochs are the local invalidation counters: one per slot of tags, and one
// for everything (bumped by global writes and whenever the pub/sub
// connection may have missed messages).
type epochs struct {
	slots [epochSlots]atomic.Uint64
	all   atomic.Uint64
}

func (e *epochs) snapshot(slots []uint32, into []uint64) ([]uint64, uint64) {
	all := e.all.Load()
	into = into[:0]
	for _, s := range slots {
		into = append(into, e.slots[s].Load())
	}
	return into, all
}

// bump invalidates the in-process entries of tags (all of them if global).
func (e *epochs) bump(tags []string, global bool) {
	for _, t := range tags {
		e.slots[slotOf(t)].Add(1)
	}
	if global {
		e.all.Add(1)
	}
}

func (e *epochs) same(slots []uint32, snap []uint64, all uint64) bool {
	if e.all.Load() != all {
		return false
	}
	for i, s := range slots {
		if e.slots[s].Load() != snap[i] {
			return false
		}
	}
	return true
}

// invalidator is the pgx tracer (QueryTracer, BatchTracer, CopyFromTracer,
// PrepareTracer) that invalidates a QueryCache's entries after writes
// commit. The Pool installs it through bridge.QueryCacheInvalidator.
//
// It also watches every statement for session state that the cache key does
// not hold (see sessionOps): while any connection carries such state, the
// cache neither serves nor stores anything.
type invalidator struct {
	c *QueryCache
	// key names this invalidator's state in a connection's CustomData, so
	// that the state lives and dies with the connection and nothing here
	// keeps a closed connection alive.
	key string
	// conns holds the state of connections without CustomData (a PgConn
	// made by hand with pgconn.Construct), keyed weakly: an entry never
	// keeps its connection alive, a new connection at a freed one's address
	// is another key, and the entry goes with ForgetConn or when the
	// connection is collected.
	conns sync.Map // weak.Pointer[pgx.Conn] → *connState

	pendingMu  sync.Mutex
	pending    map[string]uint64 // tags whose generation could not be incremented → when last kept
	pendingDDL bool              // a DDL is among them: tell the other instances
	keeps      uint64            // counts keep calls, for pending's values
	dirty      atomic.Bool       // pending is not empty: this instance reads no entries
	retrying   bool
	wake       chan struct{} // a new write was kept: retry now
	lastReport int64         // monotonicNow of the last retry failure reported

	sessMu    sync.Mutex
	sessConns map[*connState]bool    // connections that carry session state → a non-custom setting among it
	sessCount atomic.Int64           // len(sessConns)
	sessHard  atomic.Int64           // connections in sessConns with a non-custom setting
	sessEpoch atomic.Uint64          // counts connections entering sessConns
	sessWhy   atomic.Pointer[string] // the last setting that diverged, for the bypass reason
}

var (
	_ pgx.QueryTracer    = (*invalidator)(nil)
	_ pgx.BatchTracer    = (*invalidator)(nil)
	_ pgx.CopyFromTracer = (*invalidator)(nil)
	_ pgx.PrepareTracer  = (*invalidator)(nil)
)

// connState is what one connection has written in its open transaction,
// and the session state it carries.
type connState struct {
	cur    *sqlinfo.Info
	curSQL string
	rels   []string
	global bool
	ddl    bool
	infos  []*sqlinfo.Info // the writing statements, for the statistics
	names  map[string]string
	copied []string

	// sess names the settings (and "pg_temp" for temporary objects) that
	// statements changed on this connection and that the cache key does
	// not hold; non-empty means the connection is in sessConns. Guarded by
	// invalidator.sessMu (the connection's own goroutine writes it, and
	// ForgetConn or the connection's cleanup may clear it).
	sess      map[string]struct{}
	cleanup   bool // a cleanup is registered on the connection
	psSaved   bool // psBefore holds the reported parameters before cur ran
	psBefore  [len(reportedParams)]string
	forgotten bool // ForgetConn ran: the connection is closed
}

func newInvalidator(c *QueryCache) *invalidator {
	return &invalidator{
		c:         c,
		key:       "pgxperf/querycache.Invalidator." + c.origin,
		pending:   map[string]uint64{},
		wake:      make(chan struct{}, 1),
		sessConns: map[*connState]bool{},
	}
}

// lookup returns the connection's state, nil if it has none.
func (i *invalidator) lookup(conn *pgx.Conn) *connState {
	if m := conn.PgConn().CustomData(); m != nil {
		st, _ := m[i.key].(*connState)
		return st
	}
	if v, ok := i.conns.Load(weak.Make(conn)); ok {
		return v.(*connState)
	}
	return nil
}

// state returns the connection's state, made on first use. Only the
// goroutine that uses the connection calls it.
func (i *invalidator) state(conn *pgx.Conn) *connState {
	if m := conn.PgConn().CustomData(); m != nil {
		if st, ok := m[i.key].(*connState); ok {
			return st
		}
		st := &connState{}
		m[i.key] = st
		return st
	}
	k := weak.Make(conn)
	if v, ok := i.conns.Load(k); ok {
		return v.(*connState)
	}
	v, loaded := i.conns.LoadOrStore(k, &connState{})
	if !loaded {
		// The entry goes with the connection (ForgetConn may come first).
		runtime.AddCleanup(conn, func(k weak.Pointer[pgx.Conn]) { i.conns.Delete(k) }, k)
	}
	return v.(*connState)
}

// ForgetConn drops what the invalidator keeps for a closed connection,
// including the session state that kept the cache off: pgxperf.Pool calls
// it from the pool's BeforeClose hook. A connection closed without it (one
// taken with Hijack, or of a pool of your own) is forgotten when it is
// garbage collected.
func (i *invalidator) ForgetConn(conn *pgx.Conn) {
	st := i.lookup(conn)
	if m := conn.PgConn().CustomData(); m != nil {
		delete(m, i.key)
	}
	i.conns.Delete(weak.Make(conn))
	if st != nil {
		i.sessMu.Lock()
		st.forgotten = true
		i.clearSessLocked(st)
		i.sessMu.Unlock()
	}
}

func (i *invalidator) analyze(st *connState, sql string) (*sqlinfo.Info, string) {
	if q, ok := st.names[sql]; ok {
		sql = q
	}
	return sqlinfo.Analyze(sql), sql
}

// failedOnServer reports whether err says the server rejected the statement
// (so it changed nothing); any other error may follow a change.
func failedOnServer(err error) bool { return pgerr.Rejected(err) }

func (st *connState) add(c *QueryCache, info *sqlinfo.Info) {
	rels, global, ddl := c.writeTags(info)
	if len(rels) == 0 && !global && !ddl {
		return
	}
	st.rels = append(st.rels, rels...)
	st.global = st.global || global
	st.ddl = st.ddl || ddl
	if len(st.infos) < 64 {
		st.infos = append(st.infos, info)
	}
}

func (st *connState) reset() {
	st.rels, st.global, st.ddl, st.infos = st.rels[:0], false, false, st.infos[:0]
}

func (st *connState) pending() bool { return len(st.rels) > 0 || st.global || st.ddl }

// settle flushes or drops what the connection wrote once it is outside a
// transaction: committed (or maybe committed) writes invalidate, rolled-back
// ones do not.
func (i *invalidator) settle(ctx context.Context, conn *pgx.Conn, st *connState, rolledBack bool) {
	if !st.pending() {
		return
	}
	switch conn.PgConn().TxStatus() {
	case 'T', 'E':
		return // still in a transaction: wait for its end
	}
	if !rolledBack {
		i.invalidate(ctx, st.rels, st.global, st.ddl, st.infos)
	}
	st.reset()
}

// TraceQueryStart implements pgx.QueryTracer.
func (i *invalidator) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	st := i.state(conn)
	st.cur, st.curSQL = i.analyze(st, data.SQL)
	i.beforeStatement(conn, st, st.cur)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (i *invalidator) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	st := i.state(conn)
	info, sql := st.cur, st.curSQL
	st.cur, st.curSQL = nil, ""
	if info == nil {
		return
	}
	i.afterStatement(conn, st, info, sql, data.Err)
	// A multi-statement text that failed may have committed its first
	// statements (a COMMIT of its own, or statements before it in simple
	// protocol each in their own transaction): it invalidates anyway.
	if !failedOnServer(data.Err) || info.Kind == sqlinfo.KindMulti {
		st.add(i.c, info)
	}
	rolledBack := info.TxOp == sqlinfo.TxRollback ||
		(info.TxOp == sqlinfo.TxCommit && data.Err == nil && data.CommandTag.String() == "ROLLBACK") ||
		(info.TxOp == sqlinfo.TxCommit && failedOnServer(data.Err))
	i.settle(ctx, conn, st, rolledBack)
}

// TraceBatchStart implements pgx.BatchTracer.
func (i *invalidator) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (i *invalidator) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	st := i.state(conn)
	info, sql := i.analyze(st, data.SQL)
	i.afterStatement(conn, st, info, sql, data.Err)
	if !failedOnServer(data.Err) {
		st.add(i.c, info)
	}
}

// TraceBatchEnd implements pgx.BatchTracer. A batch whose implicit
// transaction failed rolled back, but one with its own COMMIT may have
// committed part of it: it invalidates all it wrote.
func (i *invalidator) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchEndData) {
	i.settle(ctx, conn, i.state(conn), false)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (i *invalidator) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	st := i.state(conn)
	st.copied = append(st.copied[:0], strings.Join(data.TableName, "."))
	return ctx
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (i *invalidator) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	st := i.state(conn)
	if !failedOnServer(data.Err) && len(st.copied) > 0 {
		st.rels = append(st.rels, relNames(st.copied)...)
	}
	st.copied = st.copied[:0]
	i.settle(ctx, conn, st, false)
}

// TracePrepareStart implements pgx.PrepareTracer: it remembers prepared
// statements' SQL, since pgx traces their executions by name.
func (i *invalidator) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if data.Name != "" && data.Name != data.SQL {
		st := i.state(conn)
		if st.names == nil {
			st.names = map[string]string{}
		}
		if len(st.names) < 1024 {
			st.names[data.Name] = data.SQL
		}
	}
	return ctx
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (i *invalidator) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// invalidate increments the generations of rels (and the global one) in
// Redis and tells the other instances. It runs before the write's call
// returns. When Redis cannot be reached, or invalidations are already
// waiting for it, the tags are kept and retried off the caller's goroutine,
// and this instance reads and stores no entries until they are through.
func (i *invalidator) invalidate(ctx context.Context, rels []string, global, ddl bool, infos []*sqlinfo.Info) {
	c := i.c
	tags := make([]string, 0, len(rels)+1)
	for _, r := range rels {
		tags = append(tags, c.tag(r))
	}
	if global {
		tags = append(tags, c.globalTag())
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	// Local first: this instance's in-process entries are gone before the
	// caller sees the write succeed.
	c.epochs.bump(tags, global)
	if ddl {
		c.forgetCatalog()
	}
	for _, info := range infos {
		c.stats.of(info).invalidations.Add(1)
	}
	c.stats.countTables(tags)
	if i.dirty.Load() {
		// Earlier invalidations are waiting for Redis: this one joins them
		// rather than making the writer wait for a Redis that was just
		// unreachable (the retry delivers it as soon as Redis answers).
		i.keep(tags, ddl)
	} else if err := i.push(ctx, tags, ddl); err != nil {
		i.keep(tags, ddl)
	}
	// Again after Redis has the new generations: a reader that took its
	// epoch snapshot between the first bump and the increment may have read
	// the old generation and entry from Redis, and must not keep it in
	// process memory.
	c.epochs.bump(tags, global)
}

// pipeline increments the tags' generations and publishes them, in one
// round trip on client.
func (i *invalidator) pipeline(ctx context.Context, client redis.UniversalClient, tags []string, ddl bool) error {
	c := i.c
	msg := c.origin + "\n"
	if ddl {
		msg += "ddl\n"
	}
	msg += strings.Join(tags, "\n")
	_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range tags {
			p.Incr(ctx, c.genKey(t))
		}
		p.Publish(ctx, c.channel, msg)
		return nil
	})
	return err
}

// push delivers an invalidation on the writer's goroutine, under the
// breaker (while it is open nothing waits) and InvalidateTimeout.
func (i *invalidator) push(ctx context.Context, tags []string, ddl bool) error {
	if len(tags) == 0 {
		return nil
	}
	return i.c.call(ctx, "invalidate", i.c.invalTimeout, func(ctx context.Context) error {
		return i.pipeline(ctx, i.c.client, tags, ddl)
	})
}

// keep records tags whose invalidation has not reached Redis and makes sure
// the retry loop runs.
func (i *invalidator) keep(tags []string, ddl bool) {
	if len(tags) == 0 && !ddl {
		return
	}
	i.pendingMu.Lock()
	defer i.pendingMu.Unlock()
	i.keeps++
	for _, t := range tags {
		i.pending[t] = i.keeps
	}
	i.pendingDDL = i.pendingDDL || ddl
	if !i.dirty.Swap(true) {
		i.c.logger.Warn("pgxperf querycache: invalidation failed; this instance bypasses the cache until it reaches redis",
			"tables", len(tags))
	}
	select {
	case i.wake <- struct{}{}:
	default:
	}
	if i.retrying || i.c.closed.Load() {
		return
	}
	i.retrying = true
	i.c.bg.Add(1)
	go i.retry()
}
