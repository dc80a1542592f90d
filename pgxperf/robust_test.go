package pgxperf_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
)

// Statements the C parser of pg_query cannot survive (a left-deep sum of
// 25,000 terms crashed the process with SIGSEGV before Postgres was asked)
// reach Postgres through the Pool, which gives its own answer; nothing
// pgxperf does with the text crashes or stalls.
func TestPathologicalStatementsReachPostgres(t *testing.T) {
	ctx := testCtx(t)
	cfg, err := pgxpool.ParseConfig(testenv.RequirePrimary(t))
	require.NoError(t, err)
	p, err := pgxperf.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer p.Close()

	for _, sql := range []string{
		"SELECT 1" + strings.Repeat("+1", 25000),
		"SELECT 'a'" + strings.Repeat("||'a'", 25000),
		"SELECT 1 " + strings.Repeat("/*", 10000) + strings.Repeat("*/", 10000),
	} {
		_, err := p.Exec(ctx, sql) // Postgres answers: a result or its own error
		t.Logf("%d bytes: %v", len(sql), err)
	}
	var n int
	require.NoError(t, p.QueryRow(ctx, "SELECT 1"+strings.Repeat("+1", 999)).Scan(&n))
	require.Equal(t, 1000, n)
	require.NotEmpty(t, p.Report().Statements, "the statements were traced")
}
