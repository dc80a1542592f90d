package pgxperf

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
)

// This file plugs the query cache (package querycache) into the Pool. It is
// on when Options.Cache.Client is set or Options.RedisURL is given; even then
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
		// Without it go-redis ignores deadlines on socket reads, and a hung
		// Redis would cost its 3 s ReadTimeout per call until the breaker opens.
		ro.ContextTimeoutEnabled = true
		p.redis = redis.NewClient(ro)
		qc.Client = p.redis
	}
	if qc.Logger == nil {
		qc.Logger = p.logger
	}
	c, err := querycache.NewQueryCache(qc, querycache.SessionFromConfig(cfg), nil)
	if err != nil {
		if p.redis != nil {
			_ = p.redis.Close()
		}
		return errors.Join(ErrInvalidConfig, err)
	}
	p.cache = c
	return nil
}

// Cache returns the Pool's query cache, or nil when it is off.
func (p *Pool) Cache() *querycache.QueryCache { return p.cache }

// cacheLoad runs a statement for the cache on the primary: a stored result
// must reflect every write committed before its lookup began, which only the
// primary guarantees.
func (p *Pool) cacheLoad(sql string, args []any) querycache.Loader {
	return func(ctx context.Context) (pgx.Rows, error) {
		if p.router != nil {
			ctx = replica.ForcePrimary(ctx)
			return p.routedQuery(ctx, sql, args)
		}
		return p.primaryQuery(ctx, sql, args)
	}
}

// cachedQuery serves Query from the cache when the call is opted in and
// cacheable; served is false otherwise.
func (p *Pool) cachedQuery(ctx context.Context, sql string, args []any) (rows pgx.Rows, served bool, err error) {
	info := sqlinfo.Analyze(sql)
	if !p.cache.Wants(ctx, info) {
		return nil, false, nil
	}
	return p.cache.Query(ctx, info, args, p.cacheLoad(sql, args))
}

func (p *Pool) cachedQueryRow(ctx context.Context, sql string, args []any) (pgx.Row, bool) {
	info := sqlinfo.Analyze(sql)
	if !p.cache.Wants(ctx, info) {
		return nil, false
	}
	return p.cache.QueryRow(ctx, info, args, p.cacheLoad(sql, args))
}
