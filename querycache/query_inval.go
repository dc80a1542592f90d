package querycache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// Invalidator is the pgx tracer (QueryTracer, BatchTracer, CopyFromTracer,
// PrepareTracer) that invalidates a QueryCache's entries after writes
// commit. Get it from QueryCache.Invalidator.
type Invalidator struct {
	c     *QueryCache
	conns sync.Map // *pgx.Conn → *connState

	pendingMu sync.Mutex
	pending   map[string]uint64 // tags whose generation could not be incremented → when last kept
	keeps     uint64            // counts keep calls, for pending's values
	dirty     atomic.Bool       // pending is not empty: this instance reads no entries
	retrying  bool
}

var (
	_ pgx.QueryTracer    = (*Invalidator)(nil)
	_ pgx.BatchTracer    = (*Invalidator)(nil)
	_ pgx.CopyFromTracer = (*Invalidator)(nil)
	_ pgx.PrepareTracer  = (*Invalidator)(nil)
)

// connState is what one connection has written in its open transaction.
type connState struct {
	cur    *sqlinfo.Info
	rels   []string
	global bool
	ddl    bool
	infos  []*sqlinfo.Info // the writing statements, for the statistics
	names  map[string]string
	copied []string
}

func newInvalidator(c *QueryCache) *Invalidator {
	return &Invalidator{c: c, pending: map[string]uint64{}}
}

func (i *Invalidator) state(conn *pgx.Conn) *connState {
	if v, ok := i.conns.Load(conn); ok {
		return v.(*connState)
	}
	v, _ := i.conns.LoadOrStore(conn, &connState{})
	return v.(*connState)
}

// ForgetConn drops what the invalidator keeps for a closed connection.
func (i *Invalidator) ForgetConn(conn *pgx.Conn) { i.conns.Delete(conn) }

func (i *Invalidator) analyze(st *connState, sql string) *sqlinfo.Info {
	if q, ok := st.names[sql]; ok {
		sql = q
	}
	return sqlinfo.Analyze(sql)
}

// failedOnServer reports whether err says the server rejected the statement
// (so it changed nothing); any other error may follow a change.
func failedOnServer(err error) bool { return pgerr.Rejected(err) }

func (st *connState) add(info *sqlinfo.Info) {
	rels, global, ddl := writeTags(info)
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
func (i *Invalidator) settle(ctx context.Context, conn *pgx.Conn, st *connState, rolledBack bool) {
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
func (i *Invalidator) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	st := i.state(conn)
	st.cur = i.analyze(st, data.SQL)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (i *Invalidator) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	st := i.state(conn)
	info := st.cur
	st.cur = nil
	if info == nil {
		return
	}
	if !failedOnServer(data.Err) {
		st.add(info)
	}
	rolledBack := info.TxOp == sqlinfo.TxRollback ||
		(info.TxOp == sqlinfo.TxCommit && data.Err == nil && data.CommandTag.String() == "ROLLBACK") ||
		(info.TxOp == sqlinfo.TxCommit && failedOnServer(data.Err))
	i.settle(ctx, conn, st, rolledBack)
}

// TraceBatchStart implements pgx.BatchTracer.
func (i *Invalidator) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (i *Invalidator) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	st := i.state(conn)
	info := i.analyze(st, data.SQL)
	if !failedOnServer(data.Err) {
		st.add(info)
	}
}

// TraceBatchEnd implements pgx.BatchTracer. A batch whose implicit
// transaction failed rolled back, but one with its own COMMIT may have
// committed part of it: it invalidates all it wrote.
func (i *Invalidator) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchEndData) {
	i.settle(ctx, conn, i.state(conn), false)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (i *Invalidator) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	st := i.state(conn)
	st.copied = append(st.copied[:0], strings.Join(data.TableName, "."))
	return ctx
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (i *Invalidator) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	st := i.state(conn)
	if !failedOnServer(data.Err) && len(st.copied) > 0 {
		st.rels = append(st.rels, relNames(st.copied)...)
	}
	st.copied = st.copied[:0]
	i.settle(ctx, conn, st, false)
}

// TracePrepareStart implements pgx.PrepareTracer: it remembers prepared
// statements' SQL, since pgx traces their executions by name.
func (i *Invalidator) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
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
func (i *Invalidator) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// invalidate increments the generations of rels (and the global one) in
// Redis and tells the other instances. It runs before the write's call
// returns. When Redis cannot be reached the tags are kept and retried, and
// this instance stops reading entries until they are through.
func (i *Invalidator) invalidate(ctx context.Context, rels []string, global, ddl bool, infos []*sqlinfo.Info) {
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
	if err := i.push(ctx, tags, ddl); err != nil {
		i.keep(tags)
	}
	// Again after Redis has the new generations: a reader that took its
	// epoch snapshot between the first bump and the increment may have read
	// the old generation and entry from Redis, and must not keep it in
	// process memory.
	c.epochs.bump(tags, global)
}

// push increments the tags' generations and publishes them, in one round trip.
func (i *Invalidator) push(ctx context.Context, tags []string, ddl bool) error {
	c := i.c
	if len(tags) == 0 {
		return nil
	}
	msg := c.origin + "\n"
	if ddl {
		msg += "ddl\n"
	}
	msg += strings.Join(tags, "\n")
	return c.call(ctx, "invalidate", func(ctx context.Context) error {
		_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, t := range tags {
				p.Incr(ctx, c.genKey(t))
			}
			p.Publish(ctx, c.channel, msg)
			return nil
		})
		return err
	})
}

// keep records tags whose invalidation failed and starts retrying them.
func (i *Invalidator) keep(tags []string) {
	i.pendingMu.Lock()
	defer i.pendingMu.Unlock()
	i.keeps++
	for _, t := range tags {
		i.pending[t] = i.keeps
	}
	i.dirty.Store(true)
	i.c.logger.Warn("pgxperf querycache: invalidation failed; reads bypass the cache until it is retried",
		"tables", len(tags))
	if i.retrying || i.c.closed.Load() {
		return
	}
	i.retrying = true
	i.c.bg.Add(1)
	go i.retry()
}

func (i *Invalidator) retry() {
	defer i.c.bg.Done()
	delay := 50 * time.Millisecond
	for {
		select {
		case <-i.c.stop:
			i.pendingMu.Lock()
			i.retrying = false
			i.pendingMu.Unlock()
			return
		case <-time.After(delay):
		}
		if i.flushPending(context.Background()) {
			i.pendingMu.Lock()
			done := len(i.pending) == 0
			if done {
				i.retrying = false
			}
			i.pendingMu.Unlock()
			if done {
				return
			}
		}
		delay = min(2*delay, time.Second)
	}
}

// flushPending pushes the pending tags; it reports whether they all went
// through.
func (i *Invalidator) flushPending(ctx context.Context) bool {
	if !i.dirty.Load() {
		return true
	}
	i.pendingMu.Lock()
	tags := make([]string, 0, len(i.pending))
	seen := make(map[string]uint64, len(i.pending))
	for t, n := range i.pending {
		tags = append(tags, t)
		seen[t] = n
	}
	i.pendingMu.Unlock()
	slices.Sort(tags)
	if err := i.push(ctx, tags, false); err != nil {
		return false
	}
	i.pendingMu.Lock()
	for _, t := range tags {
		// A write kept again while this push was out may have committed
		// after Redis took the push: it stays pending.
		if i.pending[t] == seen[t] {
			delete(i.pending, t)
		}
	}
	if len(i.pending) == 0 {
		i.dirty.Store(false)
	}
	i.pendingMu.Unlock()
	return true
}

// ---- pub/sub ----

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// subscribe keeps the instance subscribed to the invalidation channel while
// the in-process cache is on. While it is not subscribed (not yet, or the
// connection broke and messages may have been lost), the in-process cache is
// not used, and every reconnection flushes it.
func (c *QueryCache) subscribe() {
	defer c.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	// The channel is named at once: a Ring or a Cluster picks the server by
	// it (and panics without one). go-redis keeps it, and subscribes again
	// after every reconnection, which arrives here as a *redis.Subscription.
	ps := c.client.Subscribe(ctx, c.channel)
	defer ps.Close()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check that the connection still works.
				if perr := ps.Ping(ctx); perr != nil {
					c.reportErr(ctx, "subscribe", perr)
					c.l1Down()
				}
				continue
			}
			c.reportErr(ctx, "subscribe", err)
			c.l1Down()
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Messages published while we were away are lost: start over.
				c.epochs.all.Add(1)
				c.l1Live.Store(true)
				backoff = 50 * time.Millisecond
			}
		case *redis.Message:
			c.onMessage(m.Payload)
		}
	}
}

func (c *QueryCache) l1Down() {
	if c.l1Live.Swap(false) {
		c.logger.Warn("pgxperf querycache: invalidation channel lost; in-process cache off until it is back")
	}
	c.epochs.all.Add(1)
}

// onMessage applies another instance's invalidation to the local epochs.
func (c *QueryCache) onMessage(payload string) {
	origin, rest, _ := strings.Cut(payload, "\n")
	if origin == c.origin {
		return
	}
	if r, ok := strings.CutPrefix(rest, "ddl\n"); ok {
		rest = r
		c.forgetCatalog()
	}
	tags := strings.Split(rest, "\n")
	c.epochs.bump(tags, slices.ContainsFunc(tags, func(t string) bool { return strings.HasSuffix(t, "/*") }))
}

// forgetCatalog drops what the catalog and the plans say, after DDL here or
// in another instance.
func (c *QueryCache) forgetCatalog() {
	c.catalog.forget()
	c.plans.clear()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
