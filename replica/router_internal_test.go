package replica

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
)

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "0/1"} {
		l, err := parseLSN(s)
		require.NoError(t, err)
		require.Equal(t, s, l.String())
	}
	for _, bad := range []string{"", "16", "x/1", "1/x", "1/2/3", "100000000/0"} {
		_, err := parseLSN(bad)
		require.Error(t, err, bad)
	}
	a, _ := parseLSN("1/0")
	b, _ := parseLSN("0/FFFFFFFF")
	require.Greater(t, a, b)
}

func TestSessionToken(t *testing.T) {
	s := NewSession()
	require.Equal(t, "", s.Token())
	s.observe(0x16B374D848)
	s.observe(0x10) // never lowers
	require.Equal(t, pgLSN(0x16B374D848), s.position())
	back, err := ParseToken(s.Token())
	require.NoError(t, err)
	require.Equal(t, s.position(), back.position())
	empty, err := ParseToken("")
	require.NoError(t, err)
	require.Zero(t, empty.position())
	for _, bad := range []string{"x", "pgxperf1.", "pgxperf1.zz", "pgxperf1.12345678901234567", "pgxperf2.10"} {
		_, err := ParseToken(bad)
		require.ErrorIs(t, err, ErrBadToken, bad)
	}
}

// The documented nil behaviour: a nil Router's Close and Nodes, a nil
// Session's Token, a context without a session.
func TestNilSafe(t *testing.T) {
	var r *Router
	r.Close()
	require.Nil(t, r.Nodes())
	var s *Session
	require.Equal(t, "", s.Token())
	require.Nil(t, SessionFromContext(context.Background()))
	require.Nil(t, SessionFromContext(WithSession(context.Background(), nil)))
	_, err := New(context.Background(), Config{})
	require.ErrorIs(t, err, ErrNoPrimary)
}

func newRouter(t testing.TB, opts Config, replicas int) *Router {
	t.Helper()
	// A database with the test schema: relations a statement reads must
	// resolve in the catalog for it to be routed to a replica.
	primaryDSN, replicaDSN := testenv.NewReplicatedDatabase(t)
	ctx := context.Background()
	primary, err := pgxpool.New(ctx, primaryDSN)
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	var reps []Replica
	for i := 0; i < replicas; i++ {
		p, err := pgxpool.New(ctx, replicaDSN)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		reps = append(reps, Replica{Pool: p, Weight: i + 1})
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
	opts.Primary, opts.Replicas = primary, reps
	r, err := New(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	for _, n := range r.replicas {
		require.Eventually(t, func() bool { return n.State() == StateOnline }, 30*time.Second, 10*time.Millisecond,
			"replica %s: %s", n.Name(), n.State())
	}
	// Read-your-writes covers everything committed before the router was
	// made (the test database included): wait until the replicas have
	// replayed it.
	// Every replica must be eligible: with more than one, each is found
	// when the others are excluded.
	read := sqlinfo.Analyze("SELECT 1")
	require.Eventually(t, func() bool {
		if r.route(ctx, read).IsPrimary() {
			return false
		}
		for _, n := range r.replicas {
			if len(r.replicas) > 1 && r.pickOrPrimary(fromContext(ctx), []*node{n}).IsPrimary() {
				return false
			}
		}
		return true
	}, 30*time.Second, time.Millisecond, "reads never went to every replica")
	return r
}

func TestRouteDecisions(t *testing.T) {
	r := newRouter(t, Config{ReadOnlyFunctions: []string{"my_stable_fn"}, WriteFunctions: []string{"my_writer"}}, 1)
	ctx := context.Background()
	rep := r.replicas[0]
	require.Equal(t, StateOnline, rep.State())

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
			n := r.route(ctx, sqlinfo.Analyze(tc.sql))
			require.Equal(t, tc.toReplica, !n.IsPrimary(), sqlinfo.Analyze(tc.sql).Reason)
		})
	}

	read := sqlinfo.Analyze("SELECT * FROM users")
	require.True(t, r.route(ForcePrimary(ctx), read).IsPrimary())

	// A session position the replica has not replayed keeps reads on the primary …
	s := NewSession()
	s.observe(pgLSN(^uint64(0) >> 2))
	sctx := WithSession(ctx, s)
	require.True(t, r.route(sctx, read).IsPrimary())
	// … unless stale reads are allowed.
	require.False(t, r.route(AllowStale(sctx), read).IsPrimary())
	// A position it has replayed lets them go to the replica.
	require.False(t, r.route(WithSession(ctx, NewSession()), read).IsPrimary())

	// Transactions: primary unless read-only and allowed.
	require.True(t, r.routeTx(ctx, false).IsPrimary())
	require.True(t, r.routeTx(ctx, true).IsPrimary())
	require.False(t, r.routeTx(PreferReplica(ctx), true).IsPrimary())

	// A failed replica is left out until the monitor sees it again.
	rep.MarkFailed(context.DeadlineExceeded)
	require.True(t, r.route(ctx, read).IsPrimary())
	require.True(t, r.pickOrPrimary(fromContext(ctx), nil).IsPrimary())
	require.Eventually(t, func() bool { return rep.State() == StateOnline }, 10*time.Second, 50*time.Millisecond)
}

// Statements that may run user-defined code stay on the primary unless the
// functions are listed or TrustVolatility is set: declared volatility is a
// promise Postgres does not enforce. The cases cover every way user code
// hides from a parser that sees calls by name: a user function shadowing a
// built-in name, operators, aggregates, domain checks, views and
// row-level security policies over user functions, and views calling
// built-ins with side effects.
func TestUserCodeStaysOnPrimary(t *testing.T) {
	dsn := testenv.NewDatabase(t, testenv.WithSQL(`
		CREATE FUNCTION pure_add(a int, b int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT a + b';
		CREATE FUNCTION sneaky() RETURNS int STABLE LANGUAGE sql AS 'SELECT pg_advisory_lock(1)::text::int';
		CREATE FUNCTION bump() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1';
		CREATE SCHEMA shadow;
		CREATE FUNCTION shadow.lower(t text) RETURNS text STABLE LANGUAGE sql AS 'SELECT t';
		CREATE FUNCTION int_plus(a int, b bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS 'SELECT a + b';
		CREATE OPERATOR %%% (LEFTARG = int, RIGHTARG = bigint, FUNCTION = int_plus);
		CREATE AGGREGATE my_sum(int) (SFUNC = int4pl, STYPE = int);
		CREATE FUNCTION positive(i int) RETURNS bool IMMUTABLE LANGUAGE sql AS 'SELECT i > 0';
		CREATE DOMAIN posint AS int CHECK (positive(VALUE));
		CREATE TABLE plain (id int, owner text);
		CREATE VIEW v_user_fn AS SELECT pure_add(id, 1) AS x FROM plain;
		CREATE VIEW v_nested AS SELECT x FROM v_user_fn;
		CREATE VIEW v_lock AS SELECT pg_try_advisory_lock(id) AS l FROM plain;
		CREATE VIEW v_set AS SELECT set_config('search_path', 'x', false) AS s;
		CREATE VIEW v_clean AS SELECT id FROM plain WHERE id > 0;
		CREATE TABLE guarded (id int, owner text);
		ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
		CREATE POLICY p ON guarded USING (pure_add(id, 0) > 0);
		CREATE TABLE people (first text, last text);
		CREATE FUNCTION fullname(people) RETURNS text STABLE LANGUAGE sql AS 'SELECT $1.first';
		CREATE VIEW v_dom AS SELECT 5::posint AS n;
		CREATE VIEW v_fn_view AS SELECT * FROM v_user_fn;
		CREATE TABLE guarded2 (id int);
		ALTER TABLE guarded2 ENABLE ROW LEVEL SECURITY;
		CREATE POLICY p2 ON guarded2 USING (EXISTS (SELECT 1 FROM v_lock));`))
	ctx := context.Background()
	primary, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer primary.Close()
	repPool, err := pgxpool.New(ctx, testenv.RequireReplica(t))
	require.NoError(t, err)
	defer repPool.Close()
	newR := func(o Config) *Router {
		o.MaxLagBytes, o.MaxLagTime = 1<<40, time.Hour
		o.SessionConsistency = true // routing decisions only
		o.Primary, o.Replicas = primary, []Replica{{Pool: repPool}}
		r, err := New(ctx, o)
		require.NoError(t, err)
		t.Cleanup(r.Close)
		require.Eventually(t, func() bool { return r.replicas[0].State() == StateOnline }, 30*time.Second, 10*time.Millisecond)
		return r
	}
	strict := newR(Config{})
	trusting := newR(Config{TrustVolatility: true})
	listed := newR(Config{ReadOnlyFunctions: []string{"pure_add"}})

	tests := []struct {
		sql                        string
		strict, trusting, isListed bool // true: a replica may serve it
	}{
		{"SELECT 1", true, true, true},
		{"SELECT lower(owner), length(owner) FROM plain", false, true, false}, // shadow.lower (STABLE) exists
		{"SELECT length(owner) FROM plain", true, true, true},
		{"SELECT pure_add(1, 2)", false, true, true},
		{"SELECT sneaky()", false, true, false},
		{"SELECT bump()", false, false, false},
		{"SELECT no_such_fn()", false, false, false},
		{"SELECT 1 %%% 2::bigint", false, true, false},
		{"SELECT my_sum(id) FROM plain", false, false, false},
		{"SELECT 5::posint", false, false, false},
		{"SELECT * FROM v_user_fn", false, true, false},
		{"SELECT * FROM v_nested", false, true, false},
		{"SELECT * FROM v_lock", false, false, false},
		{"SELECT * FROM v_set", false, false, false},
		{"SELECT * FROM v_clean", true, true, true},
		{"SELECT * FROM guarded", false, true, false},
		{"SELECT * FROM plain", true, true, true},
		{"SELECT p.fullname FROM people p", false, true, false}, // a call written as a column
		{"SELECT first FROM people", false, true, false},        // conservative: the table has one
		{"SELECT * FROM v_dom", false, false, false},            // a domain check in a view
		{"SELECT * FROM v_fn_view", false, true, false},
		{"SELECT * FROM guarded2", false, false, false}, // a policy's subquery reads a view that locks
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			info := sqlinfo.Analyze(tt.sql)
			require.Equal(t, tt.strict, !strict.route(ctx, info).IsPrimary(), "default")
			require.Equal(t, tt.trusting, !trusting.route(ctx, info).IsPrimary(), "TrustVolatility")
			require.Equal(t, tt.isListed, !listed.route(ctx, info).IsPrimary(), "ReadOnlyFunctions")
		})
	}

	// A user cast applies to types, written or not: with one in the
	// database, every statement stays on the primary (unless trusted and
	// STABLE or IMMUTABLE).
	_, err = primary.Exec(ctx, `CREATE TYPE mood AS ENUM ('ok');
		CREATE FUNCTION mood_int(mood) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT 1';
		CREATE CAST (mood AS int) WITH FUNCTION mood_int(mood)`)
	require.NoError(t, err)
	strict.noteSchemaChange()
	trusting.noteSchemaChange()
	require.True(t, strict.route(ctx, sqlinfo.Analyze("SELECT * FROM plain")).IsPrimary(), "a user cast exists")
	require.False(t, trusting.route(ctx, sqlinfo.Analyze("SELECT * FROM plain")).IsPrimary(), "an IMMUTABLE cast, trusted")

	// What the catalog said is forgotten when the schema changes: a function
	// redefined from STABLE to VOLATILE goes back to the primary.
	_, err = primary.Exec(ctx, "CREATE FUNCTION flips() RETURNS int STABLE LANGUAGE sql AS 'SELECT 1'")
	require.NoError(t, err)
	trusting.noteSchemaChange()
	flips := sqlinfo.Analyze("SELECT flips()")
	require.False(t, trusting.route(ctx, flips).IsPrimary())
	_, err = primary.Exec(ctx, "CREATE OR REPLACE FUNCTION flips() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1'")
	require.NoError(t, err)
	// Without being told: the monitor sees the catalogs change.
	start := time.Now()
	require.Eventually(t, func() bool { return trusting.route(ctx, flips).IsPrimary() }, 30*time.Second, 10*time.Millisecond,
		"a function redefined VOLATILE elsewhere stays on a replica")
	t.Logf("redefinition noticed by the monitor after %v", time.Since(start).Round(time.Millisecond))
}

func TestBalancing(t *testing.T) {
	r := newRouter(t, Config{}, 2) // weights 1 and 2
	ctx := context.Background()
	read := sqlinfo.Analyze("SELECT 1 FROM users")
	counts := map[string]int{}
	for i := 0; i < 300; i++ {
		counts[r.route(ctx, read).Name()]++
	}
	require.Equal(t, 100, counts["replica-1"])
	require.Equal(t, 200, counts["replica-2"])

	lf := newRouter(t, Config{LeastInFlight: true}, 2)
	first := lf.route(ctx, read)
	first.Begin()
	require.NotEqual(t, first.Name(), lf.route(ctx, read).Name(), "the busy replica is avoided")
	first.Released()
}

func BenchmarkRoute(b *testing.B) {
	r := newRouter(b, Config{}, 2)
	ctx := WithSession(context.Background(), NewSession())
	info := sqlinfo.Analyze("SELECT id, title FROM content WHERE project_id = $1")
	b.ReportAllocs()
	for b.Loop() {
		if r.route(ctx, info).IsPrimary() {
			b.Fatal("routed to the primary")
		}
	}
}

// The router on its own: after observeWrite, a session's reads avoid replicas
// that have not replayed the write, then come back to them.
func TestStandaloneReadYourWrites(t *testing.T) {
	r := newRouter(t, Config{CheckInterval: 50 * time.Millisecond}, 1)
	ctx := context.Background()
	s := NewSession()
	sctx := WithSession(ctx, s)
	_, err := r.primary.Pool().Exec(ctx, "SELECT pg_logical_emit_message(false, 'pgxperf', 'write')")
	require.NoError(t, err)
	require.NoError(t, r.observeWrite(ctx, s))
	require.NotZero(t, s.position())
	read := sqlinfo.Analyze("SELECT 1 FROM pg_class LIMIT 1")
	// Until the monitor sees the replica past the write, reads go to the
	// primary (TestRouteDecisions pins that with a position far ahead);
	// then they come back to the replica.
	require.Eventually(t, func() bool { return !r.route(sctx, read).IsPrimary() }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, r.observeWrite(ctx, nil))
}
