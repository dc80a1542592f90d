package pgxperf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
)

// This file plugs the query cache (package querycache) into the Pool. It is
// on when Config.Cache.Client is set or Config.RedisURL is given; even then
// a statement is cached only when opted in (querycache.WithTTL on the
// context, a Cache.Rules entry, or a /* pgxperf:cache */ comment) and the
// cache proves it safe. Only Pool.Query and Pool.QueryRow outside a
// transaction read the cache; every write on the pool's connections
// (transactions, batches, CopyFrom and Acquire included) invalidates it
// after it commits.

// newCache builds the query cache before the primary pool exists, so that
// its invalidator can be installed on the pool's connections.
func (p *Pool) newCache(cfg *pgxpool.Config) error {
	qc := p.opts.Cache
	if qc.Client == nil {
		if p.opts.RedisURL == "" {
			return nil
		}
		ro, err := redis.ParseURL(p.opts.RedisURL)
		if err != nil {
			return errors.Join(ErrInvalidConfig, fmt.Errorf("pgxperf: RedisURL: %w", err))
		}
		cacheClientOptions(ro)
		p.redis = redis.NewClient(ro)
		qc.Client = p.redis
	}
	if qc.Logger == nil {
		qc.Logger = p.logger
	}
	// Hits are recorded by the Pool's tracer (statistics, n1detect scopes);
	// catalog lookups acquire within Config.AcquireTimeout.
	c, err := bridge.QueryCacheNew(qc, cfg, p.tracer, p.catalogAcquire)
	if err != nil {
		if p.redis != nil {
			_ = p.redis.Close()
		}
		return errors.Join(ErrInvalidConfig, err)
	}
	p.cache = c.(*querycache.QueryCache)
	return nil
}

// cacheClientOptions makes the client the Pool builds from RedisURL fail
// fast on a sick Redis; the query cache bounds every call by its timeouts
// (Timeout for reads, InvalidateTimeout for a write's invalidation), and
// these keep go-redis from spending them:
//
//   - ContextTimeoutEnabled: deadlines bound socket reads and writes too
//     (otherwise a hung Redis costs its ReadTimeout, seconds, per call
//     until the breaker opens);
//   - MaxRetries -1 (unless the URL sets max_retries): no command retries
//     with backoff; a failed lookup goes to the database and a failed
//     invalidation is kept and retried every InvalidateRetry in the
//     background;
//   - DialerRetries 1: a refused connection (Redis down, the breaker not
//     open yet) fails at once instead of after five dials 100 ms apart,
//     so a write returns in milliseconds, not after InvalidateTimeout;
//   - DialTimeout 1 s (unless the URL sets dial_timeout): the calls' own
//     deadlines are shorter still; this bounds the client's background
//     dials.
func cacheClientOptions(ro *redis.Options) {
	ro.ContextTimeoutEnabled = true
	if ro.MaxRetries == 0 {
		ro.MaxRetries = -1
	}
	if ro.DialerRetries <= 0 {
		ro.DialerRetries = 1
	}
	if ro.DialTimeout == 0 {
		ro.DialTimeout = time.Second
	}
}

// catalogAcquire takes a connection for the cache's catalog lookups, which
// run while a cached read waits: on the primary, within
// Config.AcquireTimeout like the Pool's own statements (ErrAcquireTimeout
// beyond it).
func (p *Pool) catalogAcquire(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	if pool != p.primary {
		return pool.Acquire(ctx)
	}
	return p.acquire(ctx)
}

// Cache returns the Pool's query cache, or nil when it is off.
func (p *Pool) Cache() *querycache.QueryCache { return p.cache }

// cacheLoad runs a statement for the cache, down the rest of the chain
// (timeout, route, acquire, execute) on the primary: a stored result must
// reflect every write committed before its lookup began, which only the
// primary guarantees.
func (p *Pool) cacheLoad(c call) func(ctx context.Context) (pgx.Rows, error) {
	return func(ctx context.Context) (pgx.Rows, error) {
		lc := c
		lc.ctx = ctx
		if p.router != nil {
			lc.ctx = replica.ForcePrimary(ctx)
		}
		return p.query(lc)
	}
}

// cachedQuery is the cache step of Query: it serves the call from the cache
// when it is opted in and cacheable; served is false otherwise.
func (p *Pool) cachedQuery(c *call) (rows pgx.Rows, served bool, err error) {
	if !bridge.QueryCacheWants(p.cache, c.ctx, c.analysis()) {
		return nil, false, nil
	}
	return bridge.QueryCacheQuery(p.cache, c.ctx, c.info, c.args, p.cacheLoad(*c)) // the loader keeps a copy: c stays on the caller's stack
}

// cachedQueryRow is the cache step of QueryRow.
func (p *Pool) cachedQueryRow(c *call) (pgx.Row, bool) {
	if !bridge.QueryCacheWants(p.cache, c.ctx, c.analysis()) {
		return nil, false
	}
	return bridge.QueryCacheQueryRow(p.cache, c.ctx, c.info, c.args, p.cacheLoad(*c)) // the loader keeps a copy: c stays on the caller's stack
}
