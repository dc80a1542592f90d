package pgxperf

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/pgxrows"
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
	writes   *writeWatch            // tells the router about writes; nil without replicas
	opts     Options
	logger   *slog.Logger

	busyMu sync.Mutex
	busy   map[*pgx.Conn]struct{} // connections acquired and not yet released
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
	return NewWithOptions(ctx, cfg, Options{})
}

// NewWithConfig creates a Pool from a pgxpool config, like pgxpool.NewWithConfig.
// The config must have been created by pgxpool.ParseConfig. Hooks and the
// tracer already set on it are kept and run as before.
func NewWithConfig(ctx context.Context, config *pgxpool.Config) (*Pool, error) {
	return NewWithOptions(ctx, config, Options{})
}

// NewFromConfig creates a Pool from a complete Config (see ConfigFromEnv).
func NewFromConfig(ctx context.Context, cfg *Config) (*Pool, error) {
	if cfg == nil || cfg.Pool == nil {
		return nil, errors.Join(ErrInvalidConfig, errors.New("pgxperf: Config.Pool is nil"))
	}
	return NewWithOptions(ctx, cfg.Pool, cfg.Options)
}

// NewWithOptions creates a Pool from a pgxpool config and pgxperf's Options.
// The config is copied; the caller's value is not modified.
func NewWithOptions(ctx context.Context, config *pgxpool.Config, opts Options) (*Pool, error) {
	if config == nil {
		return nil, errors.Join(ErrInvalidConfig, errors.New("pgxperf: nil *pgxpool.Config"))
	}
	if err := validateOptions(&opts); err != nil {
		return nil, err
	}
	cfg := config.Copy()
	p := &Pool{
		opts:   opts,
		logger: opts.Logger,
		busy:   make(map[*pgx.Conn]struct{}),
	}
	if p.logger == nil {
		p.logger = slog.Default()
	}
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
		p.writes = &writeWatch{}
		writes = p.writes
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
		p.writes.router.Store(p.router)
	}
	return p, nil
}

func validateOptions(o *Options) error {
	for _, bad := range []struct {
		name string
		d    time.Duration
	}{{"QueryTimeout", o.QueryTimeout}, {"AcquireTimeout", o.AcquireTimeout}, {"CloseTimeout", o.CloseTimeout}} {
		if bad.d < 0 {
			return errors.Join(ErrInvalidConfig, errors.New("pgxperf: Options."+bad.name+" is negative"))
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
			p.tracer.ForgetConn(c)
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

func (p *Pool) markBusy(c *pgx.Conn) {
	if c == nil {
		return
	}
	p.busyMu.Lock()
	p.busy[c] = struct{}{}
	p.busyMu.Unlock()
}

func (p *Pool) markIdle(c *pgx.Conn) {
	if c == nil {
		return
	}
	p.busyMu.Lock()
	delete(p.busy, c)
	p.busyMu.Unlock()
}

// Primary returns the underlying pgxpool of the primary, for code that needs
// the concrete type. Statements sent through it are still traced.
func (p *Pool) Primary() *pgxpool.Pool { return p.primary }

// Tracer returns the tracer whose statistics the Pool reports, or nil when
// monitoring is disabled.
func (p *Pool) Tracer() *tracer.Tracer { return p.tracer }

// ---- the pgxpool.Pool method set ----

// callContext applies Options.QueryTimeout to a context without a deadline.
// The returned cancel is nil when nothing was added.
func (p *Pool) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.opts.QueryTimeout <= 0 || ctx == nil {
		return ctx, nil
	}
	if _, has := ctx.Deadline(); has {
		return ctx, nil
	}
	return context.WithTimeout(ctx, p.opts.QueryTimeout)
}

// acquire acquires a connection of the primary, bounded by Options.AcquireTimeout.
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
	if p.router != nil {
		ctx, cancel := p.callContext(ctx)
		if cancel != nil {
			defer cancel()
		}
		return p.routedExec(ctx, sql, arguments)
	}
	return p.primaryExec(ctx, sql, arguments)
}

func (p *Pool) primaryExec(ctx context.Context, sql string, arguments []any) (pgconn.CommandTag, error) {
	ctx, cancel := p.callContext(ctx)
	if cancel != nil {
		defer cancel()
	}
	return p.execOn(ctx, p.primary, sql, arguments)
}

// Query runs a query that returns rows, like pgxpool.Pool.Query. Close the
// rows (or read them to the end) to release the connection. With replicas, a
// statement proven read-only runs on one.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.cache != nil {
		if rows, served, err := p.cachedQuery(ctx, sql, args); served {
			return rows, err
		}
	}
	if p.router != nil {
		ctx, cancel := p.callContext(ctx)
		rows, err := p.routedQuery(ctx, sql, args)
		if cancel != nil {
			if err != nil {
				cancel()
				return rows, err
			}
			return &cancelRows{Rows: rows, cancel: cancel}, nil
		}
		return rows, err
	}
	return p.primaryQuery(ctx, sql, args)
}

func (p *Pool) primaryQuery(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	ctx, cancel := p.callContext(ctx)
	return p.queryOn(ctx, cancel, p.primary, sql, args)
}

// QueryRow runs a query that returns at most one row, like pgxpool.Pool.QueryRow.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.cache != nil {
		if row, served := p.cachedQueryRow(ctx, sql, args); served {
			return row
		}
	}
	ctx, cancel := p.callContext(ctx)
	if p.router != nil && cancel == nil {
		return p.routedQueryRow(ctx, sql, args)
	}
	var rows pgx.Rows
	var err error
	if p.router != nil {
		rows, err = p.routedQuery(ctx, sql, args)
	} else {
		rows, err = p.queryOn(ctx, nil, p.primary, sql, args)
	}
	if err != nil {
		if cancel != nil {
			cancel()
		}
		return pgxrows.Fail(err)
	}
	return &cancelRow{rows: rows, cancel: cancel}
}

// SendBatch sends all queued queries in one round trip, like pgxpool.Pool.SendBatch.
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	b = safeBatch(b)
	ctx, cancel := p.callContext(ctx)
	if p.router != nil {
		return p.routedBatch(ctx, cancel, b)
	}
	return p.sendBatchOn(ctx, cancel, p.primary, b, nil)
}

// Begin starts a transaction on the primary, like pgxpool.Pool.Begin.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx starts a transaction with options on the primary, like
// pgxpool.Pool.BeginTx. The whole transaction runs on one connection.
func (p *Pool) BeginTx(ctx context.Context, txOptions pgx.TxOptions) (pgx.Tx, error) {
	if p.router != nil {
		ctx, cancel := p.callContext(ctx)
		if cancel != nil {
			defer cancel()
		}
		return p.routedBeginTx(ctx, txOptions)
	}
	return p.primaryBeginTx(ctx, txOptions)
}

func (p *Pool) primaryBeginTx(ctx context.Context, txOptions pgx.TxOptions) (pgx.Tx, error) {
	ctx, cancel := p.callContext(ctx)
	if cancel != nil {
		// The deadline covers BEGIN only; the transaction's own calls carry their contexts.
		defer cancel()
	}
	return p.beginTxOn(ctx, p.primary, txOptions)
}

// CopyFrom copies rows into a table on the primary, like pgxpool.Pool.CopyFrom.
func (p *Pool) CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error) {
	if p.router != nil {
		if err := p.router.PrimaryErr(); err != nil {
			return 0, err
		}
		p.router.CountPrimary()
		n, err := p.primaryCopyFrom(ctx, tableName, columnNames, rowSrc)
		if mayHaveWritten(err) {
			p.recordWrite(ctx, replica.SessionFromContext(ctx))
		}
		return n, err
	}
	return p.primaryCopyFrom(ctx, tableName, columnNames, rowSrc)
}

func (p *Pool) primaryCopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error) {
	ctx, cancel := p.callContext(ctx)
	if cancel != nil {
		defer cancel()
	}
	l, err := p.take(ctx, p.primary)
	if err != nil {
		return 0, err
	}
	defer l.release()
	return l.c.CopyFrom(ctx, tableName, columnNames, rowSrc)
}
