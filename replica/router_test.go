package replica_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/replica"
)

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "0/1"} {
		l, err := replica.ParseLSN(s)
		require.NoError(t, err)
		require.Equal(t, s, l.String())
	}
	for _, bad := range []string{"", "16", "x/1", "1/x", "1/2/3", "100000000/0"} {
		_, err := replica.ParseLSN(bad)
		require.Error(t, err, bad)
	}
	a, _ := replica.ParseLSN("1/0")
	b, _ := replica.ParseLSN("0/FFFFFFFF")
	require.Greater(t, a, b)
}

func TestSessionToken(t *testing.T) {
	s := replica.NewSession()
	require.Equal(t, "", s.Token())
	s.Observe(0x16B374D848)
	s.Observe(0x10) // never lowers
	require.Equal(t, replica.LSN(0x16B374D848), s.LSN())
	back, err := replica.ParseToken(s.Token())
	require.NoError(t, err)
	require.Equal(t, s.LSN(), back.LSN())
	empty, err := replica.ParseToken("")
	require.NoError(t, err)
	require.Zero(t, empty.LSN())
	for _, bad := range []string{"x", "pgxperf1.", "pgxperf1.zz", "pgxperf1.12345678901234567", "pgxperf2.10"} {
		_, err := replica.ParseToken(bad)
		require.ErrorIs(t, err, replica.ErrBadToken, bad)
	}
}

func newRouter(t testing.TB, opts replica.Options, replicas int) *replica.Router {
	t.Helper()
	primaryDSN := testenv.RequirePrimary(t)
	replicaDSN := testenv.RequireReplica(t)
	ctx := context.Background()
	primary, err := pgxpool.New(ctx, primaryDSN)
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	var reps []replica.Replica
	for i := 0; i < replicas; i++ {
		p, err := pgxpool.New(ctx, replicaDSN)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		reps = append(reps, replica.Replica{Pool: p, Weight: i + 1})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// These tests are about routing, on the shared replica, which other
	// packages' tests load with WAL at the same time (a seeded database is
	// tens of MiB): lag limits are for the tests on clusters of their own
	// (pgxperf/failover_test.go), so a burst must not make this replica
	// "lagging" here.
	if opts.MaxLagBytes == 0 {
		opts.MaxLagBytes = 1 << 40
	}
	if opts.MaxLagTime == 0 {
		opts.MaxLagTime = time.Hour
	}
	r, err := replica.New(ctx, replica.Config{Primary: primary, Replicas: reps, Options: opts})
	require.NoError(t, err)
	t.Cleanup(r.Close)
	for _, n := range r.Replicas() {
		require.Eventually(t, func() bool { return n.State() == replica.StateOnline }, 30*time.Second, 10*time.Millisecond,
			"replica %s: %s", n.Name(), n.State())
	}
	return r
}

func TestRouteDecisions(t *testing.T) {
	r := newRouter(t, replica.Options{ReadOnlyFunctions: []string{"my_stable_fn"}, WriteFunctions: []string{"my_writer"}}, 1)
	ctx := context.Background()
	rep := r.Replicas()[0]
	require.Equal(t, replica.StateOnline, rep.State())

	for _, tc := range []struct {
		sql       string
		toReplica bool
	}{
		{"SELECT * FROM users WHERE id = $1", true},
		{"SELECT now(), count(*) FROM content", true},
		{"SHOW search_path", true},
		{"SELECT my_stable_fn(1)", true},
		{"SELECT my_writer(1)", false},
		{"SELECT * FROM users FOR UPDATE SKIP LOCKED", false},
		{"SELECT nextval('s')", false},
		{"SELECT pg_advisory_lock(1)", false},
		{"WITH d AS (DELETE FROM users RETURNING id) SELECT * FROM d", false},
		{"INSERT INTO users (email) VALUES ($1)", false},
		{"SELECT 1; SELECT 2", false},
		{"SELEC garbage", false},
		{"/* pgxperf:primary */ SELECT * FROM users", false},
		{"BEGIN", false},
		{"SET statement_timeout = 5", false},
		{"LISTEN x", false},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			n := r.Route(ctx, sqlinfo.Analyze(tc.sql))
			require.Equal(t, tc.toReplica, !n.IsPrimary(), sqlinfo.Analyze(tc.sql).Reason)
		})
	}

	read := sqlinfo.Analyze("SELECT * FROM users")
	require.True(t, r.Route(replica.ForcePrimary(ctx), read).IsPrimary())

	// A session position the replica has not replayed keeps reads on the primary …
	s := replica.NewSession()
	s.Observe(replica.LSN(^uint64(0) >> 2))
	sctx := replica.WithSession(ctx, s)
	require.True(t, r.Route(sctx, read).IsPrimary())
	// … unless stale reads are allowed.
	require.False(t, r.Route(replica.AllowStale(sctx), read).IsPrimary())
	// A position it has replayed lets them go to the replica.
	require.False(t, r.Route(replica.WithSession(ctx, replica.NewSession()), read).IsPrimary())

	// Transactions: primary unless read-only and allowed.
	require.True(t, r.RouteTx(ctx, false).IsPrimary())
	require.True(t, r.RouteTx(ctx, true).IsPrimary())
	require.False(t, r.RouteTx(replica.PreferReplica(ctx), true).IsPrimary())

	// A failed replica is left out until the monitor sees it again.
	rep.MarkFailed(context.DeadlineExceeded)
	require.True(t, r.Route(ctx, read).IsPrimary())
	require.True(t, r.Next(ctx, nil).IsPrimary())
	require.Eventually(t, func() bool { return rep.State() == replica.StateOnline }, 10*time.Second, 50*time.Millisecond)
}

func TestUserFunctionVolatilityFromCatalog(t *testing.T) {
	dsn := testenv.NewDatabase(t, testenv.WithSQL(`
		CREATE FUNCTION pure_add(a int, b int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT a + b';
		CREATE FUNCTION bump() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1';`))
	ctx := context.Background()
	primary, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer primary.Close()
	repPool, err := pgxpool.New(ctx, testenv.RequireReplica(t))
	require.NoError(t, err)
	defer repPool.Close()
	r, err := replica.New(ctx, replica.Config{Primary: primary, Replicas: []replica.Replica{{Pool: repPool}}})
	require.NoError(t, err)
	defer r.Close()
	require.False(t, r.Route(ctx, sqlinfo.Analyze("SELECT pure_add(1, 2)")).IsPrimary(), "immutable user function: replica")
	require.True(t, r.Route(ctx, sqlinfo.Analyze("SELECT bump()")).IsPrimary(), "volatile user function: primary")
	require.True(t, r.Route(ctx, sqlinfo.Analyze("SELECT no_such_fn()")).IsPrimary(), "unknown function: primary")
}

func TestBalancing(t *testing.T) {
	r := newRouter(t, replica.Options{}, 2) // weights 1 and 2
	ctx := context.Background()
	read := sqlinfo.Analyze("SELECT 1 FROM users")
	counts := map[string]int{}
	for i := 0; i < 300; i++ {
		counts[r.Route(ctx, read).Name()]++
	}
	require.Equal(t, 100, counts["replica-1"])
	require.Equal(t, 200, counts["replica-2"])

	lf := newRouter(t, replica.Options{Balance: replica.LeastInFlight}, 2)
	first := lf.Route(ctx, read)
	done := first.Acquired()
	require.NotEqual(t, first.Name(), lf.Route(ctx, read).Name(), "the busy replica is avoided")
	done()
}

func BenchmarkRoute(b *testing.B) {
	r := newRouter(b, replica.Options{}, 2)
	ctx := replica.WithSession(context.Background(), replica.NewSession())
	info := sqlinfo.Analyze("SELECT id, title FROM content WHERE project_id = $1")
	b.ReportAllocs()
	for b.Loop() {
		if r.Route(ctx, info).IsPrimary() {
			b.Fatal("routed to the primary")
		}
	}
}

// The router on its own: after ObserveWrite, a session's reads avoid replicas
// that have not replayed the write, then come back to them.
func TestStandaloneReadYourWrites(t *testing.T) {
	r := newRouter(t, replica.Options{CheckInterval: 50 * time.Millisecond}, 1)
	ctx := context.Background()
	s := replica.NewSession()
	sctx := replica.WithSession(ctx, s)
	_, err := r.Primary().Pool().Exec(ctx, "SELECT pg_logical_emit_message(false, 'pgxperf', 'write')")
	require.NoError(t, err)
	require.NoError(t, r.ObserveWrite(ctx, s))
	require.NotZero(t, s.LSN())
	read := sqlinfo.Analyze("SELECT 1 FROM pg_class LIMIT 1")
	// Until the monitor sees the replica past the write, reads go to the
	// primary (TestRouteDecisions pins that with a position far ahead);
	// then they come back to the replica.
	require.Eventually(t, func() bool { return !r.Route(sctx, read).IsPrimary() }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, r.ObserveWrite(ctx, nil))
}
