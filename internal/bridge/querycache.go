package bridge

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// What package querycache offers package pgxperf, set by querycache's init.
// Each c is a *querycache.QueryCache, passed as any because querycache
// imports this package; a nil *QueryCache is not allowed. load runs the
// statement on the database (the primary) for the cache.
var (
	// QueryCacheNew makes the query cache of a pgxperf.Pool: cfg is a
	// querycache.Config (with a Client), poolConfig the primary's pool
	// config (its session settings go into every key), tr the Pool's
	// *tracer.Tracer or nil (cache hits are recorded there), and acquire,
	// if not nil, takes the connections of the cache's catalog lookups.
	// It returns a *querycache.QueryCache.
	QueryCacheNew func(cfg any, poolConfig *pgxpool.Config, tr any,
		acquire func(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error)) (any, error)

	// QueryCacheWants reports, cheaply, whether a statement run with ctx is
	// opted into c (it may still be refused as not cacheable), so that the
	// caller builds no loader for calls the cache will not handle.
	QueryCacheWants func(c any, ctx context.Context, info *sqlinfo.Info) bool

	// QueryCacheQuery serves a Query through c. served is false when the call
	// is not opted in or not cacheable now: the caller then runs the
	// statement itself. Otherwise rows and err are the call's result.
	QueryCacheQuery func(c any, ctx context.Context, info *sqlinfo.Info, args []any,
		load func(ctx context.Context) (pgx.Rows, error)) (rows pgx.Rows, served bool, err error)

	// QueryCacheQueryRow is QueryCacheQuery for QueryRow.
	QueryCacheQueryRow func(c any, ctx context.Context, info *sqlinfo.Info, args []any,
		load func(ctx context.Context) (pgx.Rows, error)) (row pgx.Row, served bool)

	// QueryCacheUseCatalog sets the pool c reads the catalog from (the
	// primary); c caches nothing until it has one.
	QueryCacheUseCatalog func(c any, pool *pgxpool.Pool)

	// QueryCacheInvalidator returns c's invalidator, the tracer to install
	// on the primary's connections (it is also a pgx.BatchTracer,
	// pgx.CopyFromTracer and pgx.PrepareTracer).
	QueryCacheInvalidator func(c any) pgx.QueryTracer

	// QueryCacheForgetConn drops what c's invalidator holds for a closing
	// connection (call it from BeforeClose).
	QueryCacheForgetConn func(c any, conn *pgx.Conn)

	// QueryCacheSessionConns returns how many connections carry session
	// state set by a statement, during which c is bypassed (for tests).
	QueryCacheSessionConns func(c any) int
)
