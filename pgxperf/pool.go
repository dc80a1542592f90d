package pgxperf

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/pgxrows"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// DBTX is the interface sqlc generates for pgx/v5 (with :copyfrom and :batch
// queries); *Pool satisfies it, as does *pgxpool.Pool.
type DBTX interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

var (
	_ DBTX = (*Pool)(nil)
	_ DBTX = (*pgxpool.Pool)(nil)
)

// Pool is a drop-in replacement for *pgxpool.Pool: it has the same methods with
// the same signatures and semantics, and traces every call. It is safe for
// concurrent use.
type Pool struct {
	primary  *pgxpool.Pool
	replicas []*pgxpool.Pool
	router   *replica.Router        // nil without replicas
	tracer   *tracer.Tracer         // nil when monitoring is disabled
	cache    *querycache.QueryCache // nil when the query cache is off
	redis    *redis.Client          // the cache's client when the Pool made it from RedisURL
	// attachWrites hands the router, once it exists, to the primary's
	// write watch (replica's tracer of every write); nil without replicas.
	attachWrites func(r any)
	opts         Config // the caller's, copied
	logger       *slog.Logger

	busyMu sync.Mutex
	// busy are the connections acquired and not yet released (with
	// monitoring off; the tracer keeps them otherwise), held weakly: a
	// connection taken out of the pool with Hijack and dropped is not kept
	// alive, its entry goes when it is collected, and a new connection at
	// its address is another key.
	busy   map[weak.Pointer[pgx.Conn]]struct{}
	leases [leaseShards]leaseShard

	closing atomic.Pointer[closeState] // set when Close starts

	closeOnce sync.Once
}

// New creates a Pool from a connection string, like pgxpool.New.
func New(ctx context.Context, connString string) (*Pool, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(ctx, &Config{Pool: cfg})
}

// NewWithConfig creates a Pool from a pgxpool config, like pgxpool.NewWithConfig.
// The config must have been created by pgxpool.ParseConfig. Hooks and the
// tracer already set on it are kept and run as before; the config itself is
// copied, not modified.
func NewWithConfig(ctx context.Context, config *pgxpool.Config) (*Pool, error) {
	return NewFromConfig(ctx, &Config{Pool: config})
}

// NewFromConfig creates a Pool with pgxperf's own settings (see Config and
// ConfigFromEnv). opts is copied, not modified. Any configuration error
// matches ErrInvalidConfig.
func NewFromConfig(ctx context.Context, opts *Config) (*Pool, error) {
	if opts == nil || opts.Pool == nil {
		return nil, errors.Join(ErrInvalidConfig, errors.New("pgxperf: Config.Pool is nil"))
	}
	if err := validateConfig(opts); err != nil {
		return nil, err
	}
	config := opts.Pool
	cfg := config.Copy()
	p := &Pool{
		opts:   *opts,
		logger: opts.Logger,
		busy:   make(map[weak.Pointer[pgx.Conn]]struct{}),
	}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	warnNoParser(p.logger, opts)
	var ours pgx.QueryTracer = &connTracker{pool: p}
	if !opts.DisableMonitoring {
		tc := opts.Tracer
		if tc.Logger == nil {
			tc.Logger = opts.Logger
		}
		p.tracer = tracer.New(tc)
		ours = p.tracer
	}
	if err := p.newCache(config); err != nil {
		return nil, err
	}
	userTracer := cfg.ConnConfig.Tracer
	var inval pgx.QueryTracer // the invalidator runs on the primary only: replicas take no writes
	if p.cache != nil {
		inval = bridge.QueryCacheInvalidator(p.cache)
	}
	var writes pgx.QueryTracer // the router's read-your-writes: every write on the primary
	if len(opts.ReplicaURLs) > 0 {
		writes, p.attachWrites = bridge.ReplicaWriteWatch()
	}
	cfg.ConnConfig.Tracer = chainTracer(ours, inval, writes, userTracer)
	p.chainHooks(cfg)
	primary, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		p.closeCache()
		return nil, err
	}
	p.primary = primary
	if p.cache != nil {
		bridge.QueryCacheUseCatalog(p.cache, primary)
	}
	if len(opts.ReplicaURLs) > 0 {
		if err := p.startReplicas(ctx, config, userTracer); err != nil {
			p.Close()
			return nil, err
		}
		p.attachWrites(p.router)
	}
	return p, nil
}

// warnNoParser logs, once per Pool, that routing and caching are off when
// the program was built without cgo: without pg_query no statement is proven
// read-only or cacheable, so every statement goes to the primary and none is
// cached. The Pool still works (and traces, with the lexer's fingerprints).
func warnNoParser(l *slog.Logger, o *Config) {
	if sqlinfo.ParserAvailable {
		return
	}
	var off []string
	if len(o.ReplicaURLs) > 0 {
		off = append(off, "read routing (every statement goes to the primary)")
	}
	if o.RedisURL != "" || o.Cache.Client != nil {
		off = append(off, "the query cache (nothing is cached)")
	}
	if len(off) > 0 {
		l.Warn("pgxperf: built without cgo (CGO_ENABLED=0): no SQL parser, so no statement is proven read-only or cacheable; "+
			"build with cgo to use them", "disabled", strings.Join(off, "; "))
	}
}

func validateConfig(o *Config) error {
	for _, bad := range []struct {
		name string
		d    time.Duration
	}{{"QueryTimeout", o.QueryTimeout}, {"AcquireTimeout", o.AcquireTimeout}, {"CloseTimeout", o.CloseTimeout}} {
		if bad.d < 0 {
			return errors.Join(ErrInvalidConfig, errors.New("pgxperf: Config."+bad.name+" is negative"))
		}
	}
	for _, u := range o.ReplicaURLs {
		if _, err := pgxpool.ParseConfig(u); err != nil {
			return errors.Join(ErrInvalidConfig, err)
		}
	}
	if o.RedisURL != "" {
		if err := validateRedisURL(o.RedisURL); err != nil {
			return errors.Join(ErrInvalidConfig, err)
		}
	}
	return nil
}

// chainTracer installs pgxperf's tracers first, then the caller's (last),
// never replacing it. Nil tracers are left out.
func chainTracer(tracers ...pgx.QueryTracer) pgx.QueryTracer {
	tracers = slices.DeleteFunc(tracers, func(t pgx.QueryTracer) bool { return t == nil })
	if len(tracers) == 1 {
		return tracers[0]
	}
	return multitracer.New(tracers...)
}

// chainHooks wraps the caller's BeforeClose hook so it keeps running and the
// Pool forgets closed connections. (AfterRelease is deliberately left alone:
// when it is set, pgxpool releases every connection from a new goroutine.)
func (p *Pool) chainHooks(cfg *pgxpool.Config) {
	userClose := cfg.BeforeClose
	cfg.BeforeClose = func(c *pgx.Conn) {
		p.markIdle(c)
		if p.tracer != nil {
			bridge.TracerForgetConn(p.tracer, c)
		}
		if p.cache != nil {
			bridge.QueryCacheForgetConn(p.cache, c)
		}
		if userClose != nil {
			userClose(c)
		}
		p.closeHook(c) // last: it ends the session
	}
}

// busyCleanupKey marks, in a connection's CustomData, that markBusy has
// registered the cleanup that drops its entry from Pool.busy.
const busyCleanupKey = "pgxperf/busy-cleanup"

func (p *Pool) markBusy(c *pgx.Conn) {
	if c == nil {
		return
	}
	k := weak.Make(c)
	p.busyMu.Lock()
	p.busy[k] = struct{}{}
	p.busyMu.Unlock()
	if cd := c.PgConn().CustomData(); cd != nil && cd[busyCleanupKey] == nil {
		cd[busyCleanupKey] = true // once per connection, not per acquire
		runtime.AddCleanup(c, func(k weak.Pointer[pgx.Conn]) {
			p.busyMu.Lock()
			delete(p.busy, k)
			p.busyMu.Unlock()
		}, k)
	}
}

func (p *Pool) markIdle(c *pgx.Conn) {
	if c == nil {
		return
	}
	p.busyMu.Lock()
	delete(p.busy, weak.Make(c))
	p.busyMu.Unlock()
}

// Tracer returns the tracer whose statistics the Pool reports, or nil when
// monitoring is disabled.
func (p *Pool) Tracer() *tracer.Tracer { return p.tracer }

// ---- the pgxpool.Pool method set ----

// acquire acquires a connection of the primary, bounded by Config.AcquireTimeout.
func (p *Pool) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	return p.acquireFrom(ctx, p.primary)
}

// Acquire returns a connection from the primary pool: the genuine
// *pgxpool.Conn, so Hijack and type assertions keep working. Release it when done.
func (p *Pool) Acquire(ctx context.Context) (*pgxpool.Conn, error) { return p.acquire(ctx) }

// AcquireFunc acquires a connection, calls f with it and releases it.
func (p *Pool) AcquireFunc(ctx context.Context, f func(*pgxpool.Conn) error) error {
	c, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return f(c)
}

// AcquireAllIdle acquires all idle connections of the primary pool (see pgxpool).
func (p *Pool) AcquireAllIdle(ctx context.Context) []*pgxpool.Conn {
	return p.primary.AcquireAllIdle(ctx)
}

// Reset closes all connections of the pool, as pgxpool.Pool.Reset does.
func (p *Pool) Reset() { p.primary.Reset() }

// Config returns a copy of the primary pool's config. Its ConnConfig.Tracer is
// pgxperf's tracer chained with yours.
func (p *Pool) Config() *pgxpool.Config { return p.primary.Config() }

// Stat returns the primary pool's statistics.
func (p *Pool) Stat() *pgxpool.Stat { return p.primary.Stat() }

// Ping acquires a connection and pings the server (pgx does not trace pings).
func (p *Pool) Ping(ctx context.Context) error {
	ctx, cancel := p.callContext(ctx)
	if cancel != nil {
		defer cancel()
	}
	c, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return c.Ping(ctx)
}

// Exec executes sql with arguments, like pgxpool.Pool.Exec. With replicas,
// a statement proven read-only may run on one.
func (p *Pool) Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error) {
	o := execOp{call: newCall(ctx, sql, arguments), p: p}
	p.withTimeout(&o.call)
	defer o.endTimeout()
	if p.router == nil {
		// The route step is a no-op: the op stays on the stack.
		err := o.Run(o.ctx, p.primary, false)
		return o.tag, err
	}
	ro := o // handed to package replica: on the heap
	err := p.runStmt(&ro.call, &ro)
	return ro.tag, err
}

// Query runs a query that returns rows, like pgxpool.Pool.Query. Close the
// rows (or read them to the end) to release the connection. With replicas, a
// statement proven read-only runs on one.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c := newCall(ctx, sql, args)
	if p.cache != nil {
		if rows, served, err := p.cachedQuery(&c); served {
			return rows, err
		}
	}
	return p.query(c)
}

// query is Query's chain after the cache step.
func (p *Pool) query(c call) (pgx.Rows, error) {
	o := queryOp{call: c, p: p}
	p.withTimeout(&o.call)
	var err error
	if p.router == nil {
		// The route step is a no-op: the op stays on the stack.
		err = o.Run(o.ctx, p.primary, false)
	} else {
		ro := o // handed to package replica: on the heap
		err = p.runStmt(&ro.call, &ro)
		o.rows = ro.rows
	}
	if err != nil {
		o.endTimeout()
		return pgxrows.Fail(err), err
	}
	o.rows.cancel = o.cancel
	return o.rows, nil
}

// QueryRow runs a query that returns at most one row, like pgxpool.Pool.QueryRow.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c := newCall(ctx, sql, args)
	if p.cache != nil {
		if row, served := p.cachedQueryRow(&c); served {
			return row
		}
	}
	if p.router != nil && c.analysis().ReadOnly {
		// A read with replicas runs when Scan is called, scanning the first
		// row straight from the connection, retried on the next node when
		// it fails before that (routedRow). (A write runs now, as pgxpool's.)
		return p.routedRow(c)
	}
	rows, err := p.query(c)
	if err != nil {
		return pgxrows.Fail(err)
	}
	return pgxrows.Row{Rows: rows}
}

// routedRow is QueryRow's result for a read with replicas: the timeout
// step's deadline starts now, the rest of the chain runs at Scan.
// It is its op (one allocation for both).
type routedRow struct{ op scanOp }

func (p *Pool) routedRow(c call) *routedRow {
	p.withTimeout(&c)
	return &routedRow{op: scanOp{call: c, p: p}}
}

func (r *routedRow) Scan(dest ...any) error {
	defer r.op.endTimeout()
	r.op.dest = dest
	return r.op.p.runStmt(&r.op.call, &r.op)
}

// SendBatch sends all queued queries in one round trip, like pgxpool.Pool.SendBatch.
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	b = safeBatch(b)
	o := &batchOp{p: p, b: b}
	c := newCall(ctx, "", nil)
	p.withTimeout(&c)
	if err := p.runBatch(c.ctx, b, o); err != nil {
		c.endTimeout()
		return pgx.FailedBatchResults(b, err)
	}
	o.results.cancel = c.cancel
	return o.results
}

// Begin starts a transaction on the primary, like pgxpool.Pool.Begin.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx starts a transaction with options, like pgxpool.Pool.BeginTx. The
// whole transaction runs on one connection: the primary's, or with replicas
// a replica's for a read-only transaction when replica.Config's
// ReadOnlyTransactions or the context's replica.PreferReplica allows it.
func (p *Pool) BeginTx(ctx context.Context, txOptions pgx.TxOptions) (pgx.Tx, error) {
	o := &txOp{p: p, opts: txOptions}
	c := newCall(ctx, "", nil)
	p.withTimeout(&c)
	// The deadline covers BEGIN only; the transaction's own calls carry their contexts.
	defer c.endTimeout()
	if err := p.runTx(c.ctx, txOptions, o); err != nil {
		return nil, err
	}
	return o.tx, nil
}

// CopyFrom copies rows into a table on the primary, like pgxpool.Pool.CopyFrom.
func (p *Pool) CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error) {
	o := &copyOp{p: p, table: tableName, columns: columnNames, src: rowSrc}
	c := newCall(ctx, "", nil)
	p.withTimeout(&c)
	defer c.endTimeout()
	err := p.runPrimary(c.ctx, o)
	return o.n, err
}
