package pgxperf_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
)

func newReplicatedPool(t *testing.T, opts pgxperf.Config) *pgxperf.Pool {
	t.Helper()
	primary, rep := testenv.NewReplicatedDatabase(t)
	cfg, err := pgxpool.ParseConfig(primary)
	require.NoError(t, err)
	cfg.MaxConns = 4
	opts.ReplicaURLs = []string{rep}
	opts.Tracer.SlowThreshold = -1
	if opts.Routing.CheckInterval == 0 {
		opts.Routing.CheckInterval = 100 * time.Millisecond
	}
	// The shared replica takes WAL bursts from other packages' tests (a
	// seeded database is tens of MiB): lag exclusion is tested on clusters of
	// their own (failover_test.go), so a burst must not exclude it here.
	if opts.Routing.MaxLagBytes == 0 {
		opts.Routing.MaxLagBytes = 1 << 40
	}
	if opts.Routing.MaxLagTime == 0 {
		opts.Routing.MaxLagTime = time.Hour
	}
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(context.Background(), &opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	require.Eventually(t, func() bool { return p.Router().Nodes()[1].State == replica.StateOnline },
		30*time.Second, 10*time.Millisecond)
	return p
}

// waitReplicaServes waits until a plain read is served by a replica again
// and returns how long that took.
func waitReplicaServes(t *testing.T, ctx context.Context, p *pgxperf.Pool) time.Duration {
	t.Helper()
	start := time.Now()
	for !inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()") {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("reads still on the primary 10 s after the last write")
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func inRecovery(t *testing.T, ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, args ...any) bool {
	t.Helper()
	var rec bool
	require.NoError(t, q.QueryRow(ctx, sql, args...).Scan(&rec))
	return rec
}

func TestRoutingReadsToReplicaWritesToPrimary(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{})
	ctx := testCtx(t)

	require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"), "a plain read goes to the replica")
	require.False(t, inRecovery(t, ctx, p, "SELECT /* pgxperf:primary */ pg_is_in_recovery()"), "comment hint")
	require.False(t, inRecovery(t, replica.ForcePrimary(ctx), p, "SELECT pg_is_in_recovery()"), "context override")

	// Statements a standby would reject run on the primary and succeed.
	_, err := p.Exec(ctx, "INSERT INTO users (email, display_name) VALUES ($1, $2)", "route@example.com", "Route")
	require.NoError(t, err)
	require.False(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery() FROM users LIMIT 1 FOR UPDATE"), "locking clause")
	var n int64
	require.NoError(t, p.QueryRow(ctx, "SELECT nextval('users_id_seq')").Scan(&n))
	require.NoError(t, p.QueryRow(ctx, "SELECT pg_advisory_xact_lock(42)::text IS NULL").Scan(new(bool)))

	// A transaction stays on the primary.
	tx, err := p.Begin(ctx)
	require.NoError(t, err)
	require.False(t, inRecovery(t, ctx, tx, "SELECT pg_is_in_recovery()"))
	require.NoError(t, tx.Commit(ctx))

	// Reads after those writes go to the primary until the replica has
	// replayed them (read-your-writes by default), then back to the replica.
	t.Logf("reads back on the replica %v after the last write", waitReplicaServes(t, ctx, p))

	// A read-only transaction may use a replica when asked to.
	tx, err = p.BeginTx(replica.PreferReplica(ctx), pgx.TxOptions{AccessMode: pgx.ReadOnly})
	require.NoError(t, err)
	require.True(t, inRecovery(t, ctx, tx, "SELECT pg_is_in_recovery()"))
	require.NoError(t, tx.Rollback(ctx))

	// A batch of reads goes to the replica; a batch with a write to the primary.
	b := &pgx.Batch{}
	b.Queue("SELECT pg_is_in_recovery()")
	br := p.SendBatch(ctx, b)
	var rec bool
	require.NoError(t, br.QueryRow().Scan(&rec))
	require.NoError(t, br.Close())
	require.True(t, rec)

	rep := p.Report()
	require.Len(t, rep.Nodes, 2)
	require.Equal(t, replica.StateOnline, rep.Nodes[1].State)
	require.Positive(t, rep.Nodes[1].Routed)
	require.Positive(t, rep.Nodes[0].Routed)
	var sb strings.Builder
	require.NoError(t, rep.WriteText(&sb, 0))
	require.Contains(t, sb.String(), "routing:")
	var replicaCalls int64
	for _, st := range rep.Statements {
		replicaCalls += st.ReplicaCalls
	}
	require.Positive(t, replicaCalls, "statistics know which role served a statement")
}

// Read-your-writes: in a session, a read right after a write sees it,
// whatever the replica's lag.
func TestReadYourWrites(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	sess := replica.NewSession()
	sctx := replica.WithSession(ctx, sess)
	stale := 0
	for i := 0; i < 200; i++ {
		email := fmt.Sprintf("ryw%d@example.com", i)
		_, err := p.Exec(sctx, "INSERT INTO users (email, display_name) VALUES ($1, 'x')", email)
		require.NoError(t, err)
		var c int
		require.NoError(t, p.QueryRow(sctx, "SELECT count(*) FROM users WHERE email = $1", email).Scan(&c))
		if c != 1 {
			stale++
		}
	}
	require.Zero(t, stale)
	require.NotEmpty(t, sess.Token()) // a position was recorded
	tok := sess.Token()
	back, err := replica.ParseToken(tok)
	require.NoError(t, err)
	require.Equal(t, sess.Token(), back.Token())

	// Once the replica has replayed past the session's position, reads go back to it.
	require.Eventually(t, func() bool {
		return inRecovery(t, sctx, p, "SELECT pg_is_in_recovery()")
	}, 10*time.Second, 50*time.Millisecond)
}

// Close ends every server session the Pool opened, the monitor's included,
// on the primary and on the replica.
func TestCloseEndsReplicaAndMonitorSessions(t *testing.T) {
	primary, rep := testenv.NewReplicatedDatabase(t)
	ctx := testCtx(t)
	cfg, err := pgxpool.ParseConfig(primary)
	require.NoError(t, err)
	p, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
		ReplicaURLs: []string{rep},
		Routing:     replica.Config{CheckInterval: 50 * time.Millisecond},
	})
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"))
		_, err := p.Exec(ctx, "SELECT 1")
		require.NoError(t, err)
	}
	db := testenv.DatabaseName(primary)
	sessions := func(dsn string) int {
		c, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer c.Close(ctx)
		var n int
		require.NoError(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db).Scan(&n))
		return n
	}
	require.Positive(t, sessions(testenv.PrimaryDSN()))
	p.Close()
	require.Zero(t, sessions(testenv.PrimaryDSN()), "primary sessions left after Close")
	require.Zero(t, sessions(testenv.ReplicaDSN()), "replica sessions left after Close")
}

// Replica reads are read ahead (64 KiB) before the first row reaches the
// caller; a larger result streams on. Both read like pgx's own rows.
func TestReplicaReadAheadAndStreaming(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	for _, n := range []int{0, 1, 50, 3000} {
		rows, err := p.Query(ctx, "SELECT g, repeat('x', 100) AS pad, pg_is_in_recovery() AS rec FROM generate_series(1, $1::int) g ORDER BY g", n)
		require.NoError(t, err)
		type row struct {
			G   int32
			Pad string
			Rec bool
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
		require.NoError(t, err)
		require.Len(t, got, n)
		for i, r := range got {
			require.Equal(t, int32(i+1), r.G)
			require.Len(t, r.Pad, 100)
			require.True(t, r.Rec, "served by the replica")
		}
		require.Equal(t, fmt.Sprintf("SELECT %d", n), rows.CommandTag().String())
	}
	require.Zero(t, p.Stat().AcquiredConns())
	for _, pool := range []int{1} {
		require.Zero(t, p.Report().Nodes[pool].Errors)
	}
}
