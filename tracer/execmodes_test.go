package tracer_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxtest"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/tracer"
)

// Every query exec mode pgx has must be traced the same way: one call per
// statement, rows counted, the SQL (never a statement name) analyzed.
func TestTracerAllQueryExecModes(t *testing.T) {
	dsn := testenv.RequirePrimary(t)
	var tr *tracer.Tracer
	runner := pgxtest.ConnTestRunner{
		CreateConfig: func(ctx context.Context, t testing.TB) *pgx.ConnConfig {
			cfg, err := pgx.ParseConfig(dsn)
			require.NoError(t, err)
			tr = tracer.New(tracer.Config{SlowThreshold: -1})
			cfg.Tracer = tr
			return cfg
		},
		AfterConnect: func(context.Context, testing.TB, *pgx.Conn) {},
		AfterTest:    func(context.Context, testing.TB, *pgx.Conn) {},
		CloseConn: func(ctx context.Context, t testing.TB, conn *pgx.Conn) {
			require.NoError(t, conn.Close(ctx))
		},
	}
	pgxtest.RunWithQueryExecModes(testCtx(t), t, runner, nil, func(ctx context.Context, t testing.TB, conn *pgx.Conn) {
		const q = "SELECT x FROM generate_series(1, $1::int) AS x WHERE x > $2::int"
		for i := 0; i < 3; i++ {
			rows, err := conn.Query(ctx, q, 5, 2)
			require.NoError(t, err)
			got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			require.NoError(t, err)
			require.Equal(t, []int32{3, 4, 5}, got)
		}
		_, err := conn.Exec(ctx, "SELECT $1::text", "x")
		require.NoError(t, err)

		st := stats(t, tr, q)
		require.EqualValues(t, 3, st.Calls)
		require.EqualValues(t, 9, st.Rows)
		require.Equal(t, "select", st.Kind)
		require.EqualValues(t, 1, stats(t, tr, "SELECT $1::text").Calls)
	})
}
