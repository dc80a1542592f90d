package tracer

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/multirows"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// defaultSlowThreshold is the slow-query threshold used when
// Config.SlowThreshold is zero: the brief's target is 95% of queries under 100 ms.
const defaultSlowThreshold = 100 * time.Millisecond

// Config configures a Tracer. The zero value is ready to use: statistics for
// at most 5000 fingerprints, slow queries (≥ 100 ms) logged to
// slog.Default(), no argument values stored anywhere.
type Config struct {
	// MaxFingerprints bounds the distinct fingerprints the Tracer keeps
	// statistics for; statements beyond it are counted together under
	// fingerprint 0. Zero or less means 5000, pg_stat_statements.max's default.
	MaxFingerprints int

	// SlowThreshold is the duration from which a statement is logged as slow.
	// Zero means 100 ms; a negative value disables the slow log.
	SlowThreshold time.Duration
	// Logger receives the slow-query records. Nil means slog.Default().
	Logger *slog.Logger
	// SlowLevel is the level of slow-query records (zero value: slog.LevelInfo;
	// New uses slog.LevelWarn unless SlowLevelSet is true).
	SlowLevel    slog.Level
	SlowLevelSet bool

	// RedactArgs opts in to keeping argument values: when set, it is called
	// with a statement's SQL and arguments (pgx's leading option arguments
	// removed) for slow-query records and slowest samples, and what it returns is
	// logged and kept. When nil, argument values are never logged nor stored.
	// It must not retain args.
	RedactArgs func(sql string, args []any) []any

	// MaxSQLLength cuts the SQL text of log records and samples (default 2048 bytes).
	MaxSQLLength int

	// Observers receive every finished statement, in order (see Observer).
	// The slice is copied by New; nil entries are not allowed.
	Observers []Observer
}

// Tracer is a pgx tracer that records per-fingerprint statistics and logs slow
// queries. It implements pgx.QueryTracer, pgx.BatchTracer, pgx.CopyFromTracer,
// pgx.PrepareTracer, pgx.ConnectTracer, pgxpool.AcquireTracer and
// pgxpool.ReleaseTracer. Its methods are safe for concurrent use. Create one
// with New; a nil *Tracer must not be installed (ObserveCacheHit alone
// accepts one, and does nothing).
type Tracer struct {
	*shared
	role Role
}

// shared is the state every role of one Tracer shares.
type shared struct {
	reg       *registry
	analyzer  *sqlinfo.Analyzer
	slow      time.Duration
	logger    *slog.Logger
	level     slog.Level
	redact    func(string, []any) []any
	maxSQL    int
	observers []Observer // set by New, never changed
	conns     sync.Map   // uintptr(*pgx.Conn) → *connState
	// connFront caches conns lookups by connection address (a pool has few
	// connections): one atomic load instead of a map lookup per statement.
	connFront [connFrontSlots]atomic.Pointer[connState]
}

const connFrontSlots = 256

var (
	_ pgx.QueryTracer       = (*Tracer)(nil)
	_ pgx.BatchTracer       = (*Tracer)(nil)
	_ pgx.CopyFromTracer    = (*Tracer)(nil)
	_ pgx.PrepareTracer     = (*Tracer)(nil)
	_ pgx.ConnectTracer     = (*Tracer)(nil)
	_ pgxpool.AcquireTracer = (*Tracer)(nil)
	_ pgxpool.ReleaseTracer = (*Tracer)(nil)
)

// New returns a Tracer for a primary pool, configured by cfg (copied,
// Observers included). Install it with
// cfg.ConnConfig.Tracer = tracer.New(tracer.Config{}); combine it with other
// tracers through pgx's multitracer package. One Tracer may serve several
// connections and pools; their statements share its statistics.
func New(cfg Config) *Tracer {
	s := &shared{
		reg:      newRegistry(cfg.MaxFingerprints),
		analyzer: sqlinfo.Default(),
		slow:     cfg.SlowThreshold,
		logger:   cfg.Logger,
		level:    slog.LevelWarn,
		redact:   cfg.RedactArgs,
		maxSQL:   cfg.MaxSQLLength,
	}
	if s.slow == 0 {
		s.slow = defaultSlowThreshold
	}
	if cfg.SlowLevelSet {
		s.level = cfg.SlowLevel
	}
	if s.maxSQL <= 0 {
		s.maxSQL = 2048
	}
	s.observers = append([]Observer(nil), cfg.Observers...)
	return &Tracer{shared: s}
}

// forRole returns a Tracer that shares t's statistics, settings and
// observers but records its statements under role (pgxperf uses it for the
// pools of replicas, through internal/bridge).
func (t *Tracer) forRole(role Role) *Tracer { return &Tracer{shared: t.shared, role: role} }

// Snapshot returns a copy of the statistics, sorted by total time, largest
// first (ties by fingerprint). A Tracer of a replica pool that pgxperf made
// shares its statistics with the primary's. It is safe for concurrent use
// with the statements being recorded. A nil Tracer (pgxperf.Pool.Tracer
// with monitoring disabled) has an empty Snapshot.
func (t *Tracer) Snapshot() Snapshot {
	if t == nil {
		return Snapshot{}
	}
	return t.reg.snapshot()
}

// Reset discards every statistic (and the findings recorded) and restarts
// the clock (Snapshot.Since). Statements running meanwhile are counted in
// the new period. It is safe for concurrent use; on a nil Tracer it does
// nothing.
func (t *Tracer) Reset() {
	if t != nil {
		t.reg.reset()
	}
}

// ---- per-connection state ----

// connState is what the tracer remembers about one connection: the pool wait
// that preceded its next statement and the statements prepared under a name.
type connState struct {
	key            uintptr // the connection's address
	conn           weak.Pointer[pgx.Conn]
	busy           atomic.Bool // acquired from a pool and not released
	dead           atomic.Bool
	pendingAcquire atomic.Int64
	mu             sync.Mutex
	prepared       map[string]string // statement name → SQL
	// last is the analysis and entry of the connection's last statement, for
	// the next one: a pool runs the same statements again and again. Only the
	// goroutine that holds the connection touches it.
	last *frontRef
}

func connKey(c *pgx.Conn) uintptr { return uintptr(unsafe.Pointer(c)) }

func connFrontIndex(key uintptr) uintptr { return ((key >> 4) * 0x9E3779B97F4A7C15) >> (64 - 8) }

func (s *shared) connState(c *pgx.Conn) *connState {
	if c == nil {
		return nil
	}
	key := connKey(c)
	slot := &s.connFront[connFrontIndex(key)]
	if st := slot.Load(); st != nil && st.key == key && !st.dead.Load() {
		return st
	}
	if v, ok := s.conns.Load(key); ok {
		st := v.(*connState)
		slot.Store(st)
		return st
	}
	return nil
}

func (s *shared) connStateCreate(c *pgx.Conn) *connState {
	if st := s.connState(c); st != nil {
		return st
	}
	key := connKey(c)
	st := &connState{key: key, conn: weak.Make(c)}
	if v, loaded := s.conns.LoadOrStore(key, st); loaded {
		return v.(*connState)
	}
	// Forget the state when the connection is garbage: the key is an address,
	// so delete only this state, never a newer connection's at the same address.
	runtime.AddCleanup(c, func(k uintptr) { s.forget(k, st) }, key)
	return st
}

// forgetConn drops what the tracer remembers about a connection. pgxperf calls
// it from pgxpool's BeforeClose hook (through internal/bridge); other users
// need not (the state is also dropped when the connection is garbage collected).
func (t *Tracer) forgetConn(c *pgx.Conn) {
	if c == nil {
		return
	}
	if v, ok := t.conns.Load(connKey(c)); ok {
		t.forget(connKey(c), v.(*connState))
	}
}

// forget drops st, the state of the connection at address key, from the map
// and the front table; a newer connection's state at the same address stays.
func (s *shared) forget(key uintptr, st *connState) {
	st.dead.Store(true)
	s.conns.CompareAndDelete(key, st)
	s.connFront[connFrontIndex(key)].CompareAndSwap(st, nil)
}

// resolveSQL maps a prepared statement's name to its SQL.
func (s *shared) resolveSQL(st *connState, sql string) string {
	if st == nil || hasSpace(sql) {
		return sql
	}
	st.mu.Lock()
	text, ok := st.prepared[sql]
	st.mu.Unlock()
	if ok {
		return text
	}
	return sql
}

// hasSpace reports whether sql has a space, tab or line break: then it is a
// statement, not a prepared statement's name. The loop stops at the first
// one, a few bytes in ("SELECT …"), where strings.ContainsAny builds a set first.
func hasSpace(sql string) bool {
	for i := 0; i < len(sql); i++ {
		switch sql[i] {
		case ' ', '\t', '\n', '\r':
			return true
		}
	}
	return false
}

// ---- query ----

type queryKey struct{}

// queryState is the context a traced query carries between start and end.
// Embedding the parent context makes it one allocation per query; it is kept
// small (96 bytes) because every statement pays for it.
type queryState struct {
	context.Context
	stmt    *frontRef // the analysis and its statistics entry
	sql     string
	args    []any
	start   time.Duration // monotonic, since epoch
	acquire time.Duration
	prepare time.Duration
	scope   *scopeState // nil unless the context carries a scope
}

// epoch anchors the monotonic clock: a statement's start is read as
// time.Since(epoch), one monotonic clock read, and turned into wall time only
// when needed.
var epoch = time.Now()

func now() time.Duration { return time.Since(epoch) }

func wall(mono time.Duration) time.Time { return epoch.Add(mono) }

func (q *queryState) Value(key any) any {
	if key == (queryKey{}) {
		return q
	}
	return q.Context.Value(key)
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *Tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if isInternal(data.SQL) {
		// One of pgxperf's own statements: not recorded. A nil stmt
		// (every other statement has one) tells TraceQueryEnd; the struct
		// stays in its allocation size class.
		return &queryState{Context: ctx}
	}
	q := &queryState{Context: ctx, sql: data.SQL}
	st := t.connState(conn)
	if st != nil {
		q.acquire = time.Duration(st.pendingAcquire.Swap(0))
		q.sql = t.resolveSQL(st, q.sql)
	}
	q.sql, q.args = t.unwrapArgs(ctx, conn, q.sql, data.Args)
	info := t.analyzer.Analyze(q.sql)
	if st != nil && st.last != nil && st.last.info == info {
		q.stmt = st.last
	} else {
		q.stmt = t.reg.ref(info)
		if st != nil {
			st.last = q.stmt
		}
	}
	q.scope = startScope(ctx, t)
	q.start = now()
	return q
}

// unwrapArgs removes pgx's leading option arguments and applies a custom
// query rewriter, so the analyzed SQL is what the server receives.
func (t *Tracer) unwrapArgs(ctx context.Context, conn *pgx.Conn, sql string, args []any) (string, []any) {
	for len(args) > 0 {
		switch a := args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			args = args[1:]
			continue
		case pgx.NamedArgs, pgx.StrictNamedArgs:
			// The analyzer rewrites @name placeholders to $n itself, in pgx's
			// order, and caches the result: no per-call rewrite needed.
			return sql, args
		case int, int32, int64, string, bool, float64, []byte, nil:
			// The common argument types: not a rewriter, skip the interface check.
		default:
			if rw, ok := a.(pgx.QueryRewriter); ok {
				return rewrite(ctx, conn, rw, sql, args[1:])
			}
		}
		break
	}
	return sql, args
}

func rewrite(ctx context.Context, conn *pgx.Conn, rw pgx.QueryRewriter, sql string, args []any) (string, []any) {
	if rs, ra, err := rw.RewriteQuery(ctx, conn, sql, args); err == nil {
		return rs, ra
	}
	return sql, args
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *Tracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	q, ok := ctx.(*queryState) // what TraceQueryStart returned, unless another tracer wrapped it
	if !ok {
		if q, ok = ctx.Value(queryKey{}).(*queryState); !ok {
			return // started by another tracer or never started: nothing to measure
		}
	}
	if q.stmt == nil { // pgxperf's own statement (TraceQueryStart)
		return
	}
	ev := Event{
		Op:          OpQuery,
		SQL:         q.sql,
		Args:        q.args,
		Start:       wall(q.start),
		Duration:    now() - q.start - q.prepare,
		PrepareTime: q.prepare,
		AcquireWait: q.acquire,
		Rows:        data.CommandTag.RowsAffected(),
		Err:         data.Err,
		Role:        t.role,
		Conn:        conn,
		info:        q.stmt.info,
	}
	if ev.info.Kind == sqlinfo.KindMulti {
		if n, ok := multirows.From(ctx); ok {
			ev.Rows = n // every statement's rows, not only the last one's
		}
	}
	var e *entry
	if q.stmt.reg == t.reg { // not another Tracer's statement (two on one connection)
		e = q.stmt.e
	}
	if used := t.finish(ctx, &ev, e); used != e && e != nil {
		// The registry was reset since: the connection forgets the old entry.
		if st := t.connState(conn); st != nil && st.last == q.stmt {
			st.last = nil
		}
	}
	if q.scope != nil {
		q.scope.observe(ctx, t, &ev)
		if q.scope.done(t) {
			q.scope = nil
		}
	}
}

// finish records a statement into e, its entry (nil: look it up), logs it
// when slow and calls the observers. It returns the entry it recorded into.
func (t *Tracer) finish(ctx context.Context, ev *Event, e *entry) *entry {
	ev.Fingerprint = ev.info.Fingerprint
	e, slowest := t.reg.record(ev, e)
	slow := t.slow >= 0 && ev.Duration >= t.slow
	var site CallSite
	if slow || slowest {
		site = captureCallSite(2)
	}
	if slowest {
		e.setSlowest(t.sample(ev, site))
	}
	if slow {
		t.logSlow(ctx, ev, site)
	}
	for _, o := range t.observers {
		o(ctx, *ev)
	}
	return e
}

func (t *Tracer) sample(ev *Event, site CallSite) Sample {
	s := Sample{Duration: ev.Duration, At: ev.Start, SQL: truncate(ev.SQL, t.maxSQL), CallSite: site, Role: ev.Role}
	if ev.Err != nil {
		s.Err = ev.Err.Error()
	}
	if t.redact != nil && len(ev.Args) > 0 {
		s.Args = t.redact(ev.SQL, ev.Args)
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func (t *Tracer) logSlow(ctx context.Context, ev *Event, site CallSite) {
	logger := t.logger
	if logger == nil {
		logger = slog.Default()
	}
	if !logger.Enabled(ctx, t.level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("fingerprint", ev.info.FingerprintHex),
		slog.Duration("duration", ev.Duration),
		slog.Int64("rows", ev.Rows),
		slog.String("sql", truncate(ev.info.Normalized, t.maxSQL)),
		slog.String("op", ev.Op.String()),
		slog.String("role", ev.Role.String()),
	)
	if site.File != "" {
		attrs = append(attrs, slog.String("caller", site.File+":"+strconv.Itoa(site.Line)), slog.String("function", site.Function))
	}
	if ev.info.SQLCName != "" {
		attrs = append(attrs, slog.String("sqlc_name", ev.info.SQLCName))
	}
	if ev.PrepareTime > 0 {
		attrs = append(attrs, slog.Duration("prepare", ev.PrepareTime))
	}
	if ev.AcquireWait > 0 {
		attrs = append(attrs, slog.Duration("acquire_wait", ev.AcquireWait))
	}
	if code := errorCode(ev.Err); code != "" {
		attrs = append(attrs, slog.String("error_code", code), slog.String("error", ev.Err.Error()))
	}
	if t.redact != nil && len(ev.Args) > 0 {
		attrs = append(attrs, slog.Any("args", t.redact(ev.SQL, ev.Args)))
	}
	logger.LogAttrs(ctx, t.level, "slow query", attrs...)
}

// ---- prepare ----

type prepareKey struct{}

type prepareState struct {
	context.Context
	name, sql string
	start     time.Time
	nested    *queryState
}

func (p *prepareState) Value(key any) any {
	if key == (prepareKey{}) {
		return p
	}
	return p.Context.Value(key)
}

// TracePrepareStart implements pgx.PrepareTracer.
func (t *Tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	p := &prepareState{Context: ctx, name: data.Name, sql: data.SQL}
	// A statement-cache miss prepares inside the query's trace: charge the
	// prepare time to that query rather than to its execution.
	if q, ok := ctx.Value(queryKey{}).(*queryState); ok && q.sql == data.SQL {
		p.nested = q
	}
	p.start = time.Now()
	return p
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (t *Tracer) TracePrepareEnd(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareEndData) {
	p, ok := ctx.Value(prepareKey{}).(*prepareState)
	if !ok {
		return
	}
	d := time.Since(p.start)
	if data.AlreadyPrepared {
		d = 0
	}
	if p.nested != nil {
		p.nested.prepare += d
	}
	if data.AlreadyPrepared || data.Err != nil || isInternal(p.sql) {
		return
	}
	t.reg.pool.prepares.Add(1)
	t.reg.pool.prepareNanos.Add(int64(d))
	// Remember names the application chose (conn.Prepare, database/sql's
	// statements), not the statement cache's own, which pgx executes by text.
	if p.nested == nil && p.name != "" && p.name != p.sql && conn != nil && !strings.HasPrefix(p.name, "stmtcache_") {
		st := t.connStateCreate(conn)
		st.mu.Lock()
		if st.prepared == nil || len(st.prepared) >= maxPreparedNames {
			// Deallocations are not traced: start over rather than grow without bound.
			st.prepared = make(map[string]string)
		}
		st.prepared[p.name] = p.sql
		st.mu.Unlock()
	}
}

// maxPreparedNames bounds the statement names remembered per connection.
const maxPreparedNames = 1024

// ---- batch ----

type batchKey struct{}

type batchState struct {
	context.Context
	start time.Time
	last  time.Time
	id    uint64
	scope *scopeState // nil unless the context carries a scope
}

// batchIDs numbers the batches of the process (Event.BatchID).
var batchIDs atomic.Uint64

func (b *batchState) Value(key any) any {
	if key == (batchKey{}) {
		return b
	}
	return b.Context.Value(key)
}

// TraceBatchStart implements pgx.BatchTracer.
func (t *Tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	b := &batchState{Context: ctx, id: batchIDs.Add(1)}
	b.scope = startScope(ctx, t)
	b.start = time.Now()
	b.last = b.start
	return b
}

// TraceBatchQuery implements pgx.BatchTracer: each statement of a batch is
// recorded with Batch set, timed from when pgx started reading its result.
func (t *Tracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	b, _ := ctx.Value(batchKey{}).(*batchState)
	now := time.Now()
	start := data.ReadStartTime
	if start.IsZero() && b != nil {
		start = b.last
	}
	if start.IsZero() {
		start = now
	}
	if b != nil {
		b.last = now
	}
	sql := t.resolveSQL(t.connState(conn), data.SQL)
	sql, args := t.unwrapArgs(ctx, conn, sql, data.Args)
	ev := Event{
		Op:       OpBatchQuery,
		info:     t.analyzer.Analyze(sql),
		SQL:      sql,
		Args:     args,
		Start:    start,
		Duration: now.Sub(start),
		Rows:     data.CommandTag.RowsAffected(),
		Err:      data.Err,
		Role:     t.role,
		Batch:    true,
		Conn:     conn,
	}
	if b != nil {
		ev.BatchID = b.id
	}
	t.finish(ctx, &ev, nil)
	if b != nil && b.scope != nil {
		// The batch's statements share its callers: keep them until TraceBatchEnd.
		b.scope.observe(ctx, t, &ev)
	}
}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *Tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if b, ok := ctx.Value(batchKey{}).(*batchState); ok && b.scope != nil && b.scope.done(t) {
		b.scope = nil
	}
}

// ---- copy ----

type copyKey struct{}

type copyState struct {
	context.Context
	sql   string
	start time.Time
	scope *scopeState // nil unless the context carries a scope
}

func (c *copyState) Value(key any) any {
	if key == (copyKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// TraceCopyFromStart implements pgx.CopyFromTracer. The statement is recorded
// as "COPY table (columns) FROM STDIN".
func (t *Tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	var sb strings.Builder
	sb.WriteString("COPY ")
	sb.WriteString(data.TableName.Sanitize())
	if len(data.ColumnNames) > 0 {
		sb.WriteString(" (")
		for i, c := range data.ColumnNames {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(pgx.Identifier{c}.Sanitize())
		}
		sb.WriteString(")")
	}
	sb.WriteString(" FROM STDIN")
	c := &copyState{Context: ctx, sql: sb.String()}
	c.scope = startScope(ctx, t)
	c.start = time.Now()
	return c
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	c, ok := ctx.Value(copyKey{}).(*copyState)
	if !ok {
		return
	}
	ev := Event{
		Op:       OpCopyFrom,
		info:     t.analyzer.Analyze(c.sql),
		SQL:      c.sql,
		Start:    c.start,
		Duration: time.Since(c.start),
		Rows:     data.CommandTag.RowsAffected(),
		Err:      data.Err,
		Role:     t.role,
		Conn:     conn,
	}
	t.finish(ctx, &ev, nil)
	if c.scope != nil {
		c.scope.observe(ctx, t, &ev)
		if c.scope.done(t) {
			c.scope = nil
		}
	}
}

// ---- connect, acquire, release ----

type connectKey struct{}

type timedState struct {
	context.Context
	key   any
	start time.Time
}

func (s *timedState) Value(key any) any {
	if key == s.key {
		return s
	}
	return s.Context.Value(key)
}

// TraceConnectStart implements pgx.ConnectTracer.
func (t *Tracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return &timedState{Context: ctx, key: connectKey{}, start: time.Now()}
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (t *Tracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	s, ok := ctx.Value(connectKey{}).(*timedState)
	if !ok {
		return
	}
	t.reg.pool.connects.Add(1)
	t.reg.pool.connectNanos.Add(int64(time.Since(s.start)))
	if data.Err != nil {
		t.reg.pool.connectErrors.Add(1)
	}
}

type acquireKey struct{}

// acquireState carries an Acquire's start (monotonic: no wall-clock read)
// in 24 bytes: every pool call pays for it.
type acquireState struct {
	context.Context
	start time.Duration
}

func (s *acquireState) Value(key any) any {
	if key == (acquireKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// TraceAcquireStart implements pgxpool.AcquireTracer.
func (t *Tracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return &acquireState{Context: ctx, start: now()}
}

// TraceAcquireEnd implements pgxpool.AcquireTracer. The wait is recorded for
// the pool and charged to the connection's next statement; the connection is
// marked in use until TraceRelease (pgxperf's Close cancels the queries of
// connections still in use at its deadline).
func (t *Tracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	s, ok := ctx.(*acquireState) // what TraceAcquireStart returned, unless wrapped
	if !ok {
		if s, ok = ctx.Value(acquireKey{}).(*acquireState); !ok {
			return
		}
	}
	d := now() - s.start
	t.reg.pool.acquired(d, data.Err)
	if data.Err == nil && data.Conn != nil {
		st := t.connStateCreate(data.Conn)
		st.pendingAcquire.Store(int64(d))
		st.busy.Store(true)
	}
}

// TraceRelease implements pgxpool.ReleaseTracer.
func (t *Tracer) TraceRelease(_ *pgxpool.Pool, data pgxpool.TraceReleaseData) {
	t.reg.pool.releases.Add(1)
	if st := t.connState(data.Conn); st != nil {
		if st.pendingAcquire.Load() != 0 { // a statement usually took it
			st.pendingAcquire.Store(0)
		}
		st.busy.Store(false)
	}
}

// inUse returns the connections acquired from a pool traced by t (any role)
// and not released yet. pgxperf's Close cancels their queries when they
// outlast its deadline.
func (t *Tracer) inUse() []*pgx.Conn {
	var out []*pgx.Conn
	t.conns.Range(func(_, v any) bool {
		st := v.(*connState)
		if st.busy.Load() && !st.dead.Load() {
			if c := st.conn.Value(); c != nil {
				out = append(out, c)
			}
		}
		return true
	})
	return out
}
