package pgxperf_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/replica"
)

// A replica that is promoted (no longer in recovery) is taken out of
// rotation and logged; reads go on, served by the primary.
func TestFailoverPromotedReplicaTakenOut(t *testing.T) {
	c := testenv.StartCluster(t, 1)
	p := clusterPool(t, c, replica.Config{}, 4)
	ctx := testCtx(t)
	require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"))

	rc, err := pgx.Connect(ctx, c.ReplicaDSN(0))
	require.NoError(t, err)
	var promoted bool
	require.NoError(t, rc.QueryRow(ctx, "SELECT pg_promote(true, 30)").Scan(&promoted))
	require.NoError(t, rc.Close(ctx))
	require.True(t, promoted)

	start := time.Now()
	require.Eventually(t, func() bool {
		return p.Report().Nodes[1].State == replica.StatePromoted
	}, 5*time.Second, 10*time.Millisecond)
	t.Logf("promoted replica taken out after %v (%.2f×CheckInterval)", time.Since(start).Round(time.Millisecond),
		float64(time.Since(start))/float64(failoverInterval))
	before := p.Report().Nodes[1].Routed
	for i := 0; i < 20; i++ {
		var n int
		require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n))
		require.Equal(t, 100, n)
	}
	require.Equal(t, before, p.Report().Nodes[1].Routed, "no read goes to the promoted node")
}
