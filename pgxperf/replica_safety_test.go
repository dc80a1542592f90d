package pgxperf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
)

// The caller's own errors on a replica — no rows, a Scan into the wrong
// type, a wrong number of destinations, a SQL error — are the caller's
// answer: the replica stays in rotation, nothing is retried on the primary,
// and the error is returned as pgx returns it. Every read method is tried.
func TestReplicaClientErrorsAreNotHealthSignals(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	waitReplicaServes(t, ctx, p)
	rep := func() replica.NodeStats { return p.Router().Nodes()[1] }

	type call struct {
		name string
		run  func() error
		want func(*testing.T, error)
	}
	isNoRows := func(t *testing.T, err error) { require.ErrorIs(t, err, pgx.ErrNoRows) }
	isErr := func(t *testing.T, err error) { require.Error(t, err) }
	calls := []call{
		{"QueryRow no rows", func() error {
			var n int
			return p.QueryRow(ctx, "SELECT 1 FROM users WHERE id = -1").Scan(&n)
		}, isNoRows},
		{"QueryRow scan type error", func() error {
			var b struct{}
			return p.QueryRow(ctx, "SELECT 1").Scan(&b)
		}, isErr},
		{"QueryRow wrong destination count", func() error {
			var a int
			return p.QueryRow(ctx, "SELECT 1, 2").Scan(&a)
		}, isErr},
		{"Query scan error", func() error {
			rows, err := p.Query(ctx, "SELECT 'x'::text FROM generate_series(1, 3)")
			if err != nil {
				return err
			}
			defer rows.Close()
			var n int
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					return err
				}
			}
			return rows.Err()
		}, isErr},
		{"CollectOneRow no rows", func() error {
			rows, err := p.Query(ctx, "SELECT 1 WHERE false")
			if err != nil {
				return err
			}
			_, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[int])
			return err
		}, isNoRows},
		{"SQL error", func() error {
			_, err := p.Exec(ctx, "SELECT 1/0")
			return err
		}, isErr},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before := routed(p)
			retries := rep().Retries
			for range 5 {
				c.want(t, c.run())
			}
			during := minus(routed(p), before)
			require.Equal(t, replica.StateOnline, rep().State, "the replica stays online")
			require.Equal(t, retries, rep().Retries, "no retry")
			require.Equal(t, []int64{0, 5}, during, "served by the replica, once each, not re-run on the primary")
		})
	}
}

// A replica pool is configured like the primary: RuntimeParams, the exec
// mode (simple protocol for PgBouncer), AfterConnect hooks and pool sizes
// come from the primary's config; only the address, credentials, database
// and the URL's own parameters come from the replica URL.
func TestReplicaPoolConfiguredLikePrimary(t *testing.T) {
	primary, rep := testenv.NewReplicatedDatabase(t)
	ctx := testCtx(t)
	setup, err := pgx.Connect(ctx, primary)
	require.NoError(t, err)
	_, err = setup.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.marker (v text);
		INSERT INTO app.marker VALUES ('app schema')`)
	require.NoError(t, err)
	require.NoError(t, setup.Close(ctx))
	testenv.WaitForReplica(t, primary, rep)

	cfg, err := pgxpool.ParseConfig(primary)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = "app"
	cfg.ConnConfig.RuntimeParams["application_name"] = "configured-in-code"
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.MaxConns = 3
	var hooked []string
	done := make(chan string, 16)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		var rec bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec); err != nil {
			return err
		}
		if rec {
			done <- "replica"
		} else {
			done <- "primary"
		}
		return nil
	}
	p, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
		ReplicaURLs: []string{rep + "&statement_timeout=12345"},
		Routing:     replica.Config{CheckInterval: 50 * time.Millisecond, MaxLagBytes: 1 << 40, MaxLagTime: time.Hour},
	})
	require.NoError(t, err)
	defer p.Close()
	waitReplicaServes(t, ctx, p)

	var schema, app, timeout, marker string
	var rec bool
	require.NoError(t, p.QueryRow(ctx, "SELECT current_schema(), current_setting('application_name'), current_setting('statement_timeout'), (SELECT v FROM marker), pg_is_in_recovery()").
		Scan(&schema, &app, &timeout, &marker, &rec))
	require.True(t, rec, "served by the replica")
	require.Equal(t, "app", schema, "search_path from the primary's RuntimeParams")
	require.Equal(t, "configured-in-code", app)
	require.Equal(t, "12345ms", timeout, "the replica URL's own parameter")
	require.Equal(t, "app schema", marker)

	rc := bridge.ReplicaPools(p.Router())[1].Config()
	require.Equal(t, pgx.QueryExecModeSimpleProtocol, rc.ConnConfig.DefaultQueryExecMode)
	require.EqualValues(t, 3, rc.MaxConns)
	require.NotEqual(t, p.Config().ConnConfig.Port, rc.ConnConfig.Port, "the replica's own address")

	close(done)
	for h := range done {
		hooked = append(hooked, h)
	}
	require.Contains(t, hooked, "replica", "AfterConnect ran on replica connections")
}

// A read that a replica refuses as a write (SQLSTATE 25006, e.g. a user
// function that writes, listed as read-only by mistake) runs on the
// primary and leaves the replica in rotation.
func TestReplicaReadOnlyRefusalRunsOnPrimary(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{Routing: replica.Config{ReadOnlyFunctions: []string{"bump_counter"}}})
	ctx := testCtx(t)
	_, err := p.Exec(ctx, `CREATE TABLE counter (n int); INSERT INTO counter VALUES (0);
		CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql AS 'UPDATE counter SET n = n + 1 RETURNING n'`)
	require.NoError(t, err)
	waitReplicaServes(t, ctx, p)
	var n int
	err = p.QueryRow(ctx, "SELECT bump_counter()").Scan(&n)
	require.NoError(t, err, "%v", errors.Unwrap(err))
	require.Equal(t, 1, n)
	require.Equal(t, replica.StateOnline, p.Router().Nodes()[1].State)
}
