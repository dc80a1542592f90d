package querycache

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/tracer"
)

// What pgxperf.Pool calls and applications do not: see internal/bridge.
func init() {
	bridge.QueryCacheWants = func(c any, ctx context.Context, info *sqlinfo.Info) bool {
		return c.(*QueryCache).wants(ctx, info)
	}
	bridge.QueryCacheQuery = func(c any, ctx context.Context, info *sqlinfo.Info, args []any,
		load func(ctx context.Context) (pgx.Rows, error)) (pgx.Rows, bool, error) {
		return c.(*QueryCache).query(ctx, info, args, load)
	}
	bridge.QueryCacheQueryRow = func(c any, ctx context.Context, info *sqlinfo.Info, args []any,
		load func(ctx context.Context) (pgx.Rows, error)) (pgx.Row, bool) {
		return c.(*QueryCache).queryRow(ctx, info, args, load)
	}
	bridge.QueryCacheUseCatalog = func(c any, pool *pgxpool.Pool) { c.(*QueryCache).useCatalog(pool) }
	bridge.QueryCacheNew = func(cfg any, poolConfig *pgxpool.Config, tr any,
		acquire func(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error)) (any, error) {
		c := cfg.(Config)
		c.tracer, _ = tr.(*tracer.Tracer)
		c.catalogAcquire = acquire
		return newForPool(c, poolConfig)
	}
	bridge.QueryCacheInvalidator = func(c any) pgx.QueryTracer { return c.(*QueryCache).inval }
	bridge.QueryCacheForgetConn = func(c any, conn *pgx.Conn) { c.(*QueryCache).inval.ForgetConn(conn) }
	bridge.QueryCacheSessionConns = func(c any) int { return c.(*QueryCache).sessionConns() }
}
