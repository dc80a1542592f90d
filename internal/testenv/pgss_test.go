package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartPgStatStatements(t *testing.T) {
	var (
		dsn     string
		dir     string
		started bool
	)
	t.Run("server", func(t *testing.T) {
		dsn = StartPgStatStatements(t)
		started = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "CREATE EXTENSION pg_stat_statements")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT $1::int /* counted */", 1)
		require.NoError(t, err)
		var calls int64
		require.NoError(t, conn.QueryRow(ctx,
			"SELECT calls FROM pg_stat_statements WHERE query LIKE '%/* counted */%' AND query NOT LIKE '%pg_stat_statements%'").Scan(&calls))
		assert.Equal(t, int64(1), calls)
		require.NoError(t, conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir))
		assert.True(t, strings.HasPrefix(filepath.Base(filepath.Dir(dir)), clusterDirPrefix), "data directory %s", dir)
	})
	if !started {
		t.Skip("the server did not start (under CI the subtest above has already failed)")
	}
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "%s is removed: %v", dir, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pgx.Connect(ctx, dsn)
	assert.Error(t, err, "the server is stopped")
}
