package pgxperf_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
)

// A text of several statements run by Exec counts every statement's rows
// in the statistics; Exec still returns the last command tag, as pgx does.
func TestMultiStatementExecCountsEveryRow(t *testing.T) {
	ctx := testCtx(t)
	p, err := pgxperf.New(ctx, testenv.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Exec(ctx, "CREATE TABLE multi(x int)")
	require.NoError(t, err)
	for _, tc := range []struct {
		sql     string
		lastTag string
		rows    int64
	}{
		{"INSERT INTO multi SELECT generate_series(1, 5); UPDATE multi SET x = x + 10 WHERE x <= 3; DELETE FROM multi WHERE x = 6",
			"DELETE 0", 5 + 3 + 0},
		{"INSERT INTO multi VALUES (1); INSERT INTO multi VALUES (2), (3); SELECT 1", "SELECT 1", 1 + 2 + 1},
	} {
		tag, err := p.Exec(ctx, tc.sql)
		require.NoError(t, err)
		require.Equal(t, tc.lastTag, tag.String())
		st, ok := p.Tracer().Snapshot().Lookup(sqlinfo.Analyze(tc.sql).Fingerprint)
		require.True(t, ok)
		require.Equal(t, int64(1), st.Calls)
		require.Equal(t, tc.rows, st.Rows, tc.sql)
	}
	// A failing statement ends the text, as in pgx: the error and the rows so far.
	_, err = p.Exec(ctx, "INSERT INTO multi VALUES (7); SELECT 1/0; INSERT INTO multi VALUES (8)")
	require.Error(t, err)
	var n int
	require.NoError(t, p.QueryRow(context.Background(), "SELECT count(*) FROM multi WHERE x IN (7, 8)").Scan(&n))
	require.Zero(t, n, "the simple protocol runs the text as one implicit transaction")
}
