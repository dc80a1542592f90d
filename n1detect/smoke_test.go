package n1detect_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/pgxperf"
)

func TestSmokeNPlusOne(t *testing.T) {
	dsn := testenv.SharedSeededDatabase(t)
	ctx0, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxperf.New(ctx0, dsn)
	require.NoError(t, err)
	defer pool.Close()

	ctx, scope := n1detect.Start(ctx0, "smoke", n1detect.Config{})
	rows, err := pool.Query(ctx, "SELECT id, owner_id FROM projects WHERE id <= 10 ORDER BY id")
	require.NoError(t, err)
	type p struct{ ID, Owner int64 }
	projects, err := pgx.CollectRows(rows, pgx.RowToStructByPos[p])
	require.NoError(t, err)
	for _, pr := range projects {
		var email string
		require.NoError(t, pool.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", pr.Owner).Scan(&email))
	}
	findings := scope.Finish()
	require.Len(t, findings, 1, "%v", findings)
	f := findings[0]
	t.Log("\n" + f.String())
	require.Equal(t, n1detect.NPlusOne, f.Kind)
	require.Equal(t, 10, f.Count)
	require.Contains(t, f.CallSite.File, "smoke_test.go")
	require.NotNil(t, f.Parent)
	require.Contains(t, f.Fix, "= ANY($1)")
	require.Len(t, pool.Report().Statements, 2)
}
