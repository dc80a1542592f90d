package pgxperf_test

// Integration tests of the query cache's safety classes through
// pgxperf.Pool, against the real Postgres and Redis: constants are part of
// the key, volatile statements and views are refused, overloads are
// resolved by their number of arguments, allow-listed functions are cached
// without invalidating the database, and writes through views invalidate
// their base tables.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
)

// safetyRows runs sql and returns its rows, each printed as one string.
func safetyRows(t *testing.T, ctx context.Context, p *pgxperf.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := p.Query(ctx, sql, args...)
	require.NoError(t, err, sql)
	out := []string{}
	for rows.Next() {
		v, err := rows.Values()
		require.NoError(t, err)
		out = append(out, fmt.Sprint(v...))
	}
	require.NoError(t, rows.Err(), sql)
	return out
}

// stmtStats returns the cache statistics of sql's statement (by fingerprint).
func safetyStats(p *pgxperf.Pool, sql string) querycache.StatementStats {
	fp := sqlinfo.Analyze(sql).FingerprintHex
	for _, st := range p.Cache().Stats().Statements {
		if st.Fingerprint == fp {
			return st
		}
	}
	return querycache.StatementStats{}
}

// TestCacheSafetyLiteralsNeverShareEntries: statements that differ only in
// a literal (tenant names, ids, IN lists, arrays, dollar-quoted and escape
// strings, negative numbers, floats) never serve each other's rows.
func TestCacheSafetyLiteralsNeverShareEntries(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{},
		`CREATE TABLE tenant_rows (id int PRIMARY KEY, tenant text NOT NULL, n int NOT NULL, f float8 NOT NULL, tags text[] NOT NULL);
INSERT INTO tenant_rows SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, g - 20, g / 4.0,
	CASE WHEN g % 3 = 0 THEN ARRAY['red'] ELSE ARRAY['blue'] END FROM generate_series(1, 40) g`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	fresh := querycache.Skip(ctx)
	pairs := [][2]string{
		{"SELECT id, n FROM tenant_rows WHERE tenant = 'acme' ORDER BY id", "SELECT id, n FROM tenant_rows WHERE tenant = 'globex' ORDER BY id"},
		{"SELECT id, tenant FROM tenant_rows WHERE id = 1", "SELECT id, tenant FROM tenant_rows WHERE id = 2"},
		{"SELECT id FROM tenant_rows WHERE id IN (1, 3, 5) ORDER BY id", "SELECT id FROM tenant_rows WHERE id IN (2, 4, 6) ORDER BY id"},
		{"SELECT count(*) FROM tenant_rows WHERE n > -5", "SELECT count(*) FROM tenant_rows WHERE n > 5"},
		{"SELECT count(*) FROM tenant_rows WHERE f > 1.5", "SELECT count(*) FROM tenant_rows WHERE f > 2.5"},
		{"SELECT id FROM tenant_rows WHERE tenant = $$acme$$ ORDER BY id LIMIT 3", "SELECT id FROM tenant_rows WHERE tenant = $$globex$$ ORDER BY id LIMIT 3"},
		{`SELECT id FROM tenant_rows WHERE tenant = E'\x61cme' ORDER BY id LIMIT 3`, `SELECT id FROM tenant_rows WHERE tenant = E'glob\x65x' ORDER BY id LIMIT 3`},
		{"SELECT count(*) FROM tenant_rows WHERE tags @> ARRAY['red']", "SELECT count(*) FROM tenant_rows WHERE tags @> ARRAY['blue']"},
		{"SELECT count(*) FROM tenant_rows WHERE tags = '{red}'::text[]", "SELECT count(*) FROM tenant_rows WHERE tags = '{blue}'::text[]"},
		{"SELECT id FROM tenant_rows WHERE id = CAST('7' AS int)", "SELECT id FROM tenant_rows WHERE id = CAST('8' AS int)"},
		{"SELECT id FROM tenant_rows WHERE tenant = @t AND n > 1 ORDER BY id", "SELECT id FROM tenant_rows WHERE tenant = @t AND n > 2 ORDER BY id"},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10 {
		a, b := 1+r.IntN(40), 1+r.IntN(40)
		if a != b {
			pairs = append(pairs, [2]string{
				fmt.Sprintf("SELECT tenant, n FROM tenant_rows WHERE id = %d", a),
				fmt.Sprintf("SELECT tenant, n FROM tenant_rows WHERE id = %d", b)})
		}
	}
	for _, pair := range pairs {
		var args []any
		if sqlinfo.Analyze(pair[0]).NamedArgs != nil {
			args = []any{pgx.NamedArgs{"t": "acme"}}
		}
		want := [2][]string{safetyRows(t, fresh, p, pair[0], args...), safetyRows(t, fresh, p, pair[1], args...)}
		require.NotEqual(t, want[0], want[1], "the pair must have different results: %v", pair)
		for round := range 3 {
			for i, sql := range pair {
				require.Equal(t, want[i], safetyRows(t, cctx, p, sql, args...), "round %d: %s", round, sql)
			}
		}
	}
	var hits int64
	for _, st := range p.Cache().Stats().Statements {
		hits += st.Hits
	}
	require.Positive(t, hits, "the statements must have been served from the cache")
}

// TestCacheSafetyRefusesVolatile: statements whose result changes from call
// to call, directly or through a view (also nested), are never cached.
func TestCacheSafetyRefusesVolatile(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{},
		`INSERT INTO users (email, display_name) VALUES ('a@example.com', 'A'), ('b@example.com', 'B')`,
		`CREATE VIEW v_svf AS SELECT id FROM users WHERE created_at < CURRENT_TIMESTAMP + interval '1 day'`,
		`CREATE VIEW v_nested AS SELECT id FROM v_svf`,
		`CREATE VIEW v_random AS SELECT id, random() AS r FROM users`,
		`CREATE VIEW v_setting AS SELECT id, current_setting('application_name') AS app FROM users`,
		`CREATE VIEW v_now AS SELECT id FROM users WHERE created_at < now()`,
		`CREATE VIEW v_sample AS SELECT id FROM users TABLESAMPLE SYSTEM (50)`,
		`CREATE VIEW v_sys AS SELECT id, xmin AS x FROM users`,
		`CREATE VIEW v_user AS SELECT id FROM users WHERE display_name <> current_user`,
		`CREATE FUNCTION imm_user(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1'`,
		`CREATE VIEW v_imm_user AS SELECT imm_user(id::int) FROM users`,
		`CREATE SEQUENCE tickets`,
		`CREATE TABLE people (first text)`,
		`INSERT INTO people VALUES ('x')`,
		`CREATE FUNCTION ticket(people) RETURNS bigint LANGUAGE sql VOLATILE AS 'SELECT nextval(''tickets'')'`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	for _, tc := range []struct{ sql, why string }{
		{"SELECT id FROM users WHERE created_at < 'now'::timestamptz", "clock-relative"},
		{"SELECT id FROM users WHERE created_at::date = date ' Today '", "clock-relative"},
		{"SELECT id FROM users WHERE created_at < timestamptz 'tomorrow'", "clock-relative"},
		{"SELECT id FROM users WHERE created_at::date IN ('2024-01-01', 'YESTERDAY')", "clock-relative"},
		{"SELECT id FROM users WHERE created_at::date = ANY('{today,tomorrow}'::date[])", "clock-relative"},
		{"SELECT id FROM users WHERE created_at < CAST('now' AS timestamp with time zone)", "clock-relative"},
		{"SELECT count(*) FROM users TABLESAMPLE SYSTEM (50)", "TABLESAMPLE"},
		{"SELECT count(*) FROM users TABLESAMPLE BERNOULLI (50) REPEATABLE (1)", "TABLESAMPLE"},
		{"SELECT ctid, id FROM users", "system column ctid"},
		{"SELECT id FROM users WHERE xmin::text <> ''", "system column xmin"},
		{"SELECT tableoid::regclass::text FROM users", "system column tableoid"},
		{"SELECT CURRENT_DATE", "SQL-value function"},
		{"SELECT id FROM users WHERE created_at < LOCALTIMESTAMP", "SQL-value function"},
		{"SELECT current_user", "SQL-value function"},
		{"SELECT count(*) FROM v_svf", "view v_svf"},
		{"SELECT count(*) FROM v_nested", "view v_svf"},
		{"SELECT count(*) FROM v_random", "random"},
		{"SELECT count(*) FROM v_setting", "current_setting"},
		{"SELECT count(*) FROM v_now", "now"},
		{"SELECT count(*) FROM v_sample", "TABLESAMPLE"},
		{"SELECT count(*) FROM v_sys", "system column"},
		{"SELECT count(*) FROM v_user", "current_user"},
		{"SELECT count(*) FROM v_imm_user", "imm_user"},
		{"SELECT p.ticket FROM people p", "row type"}, // p.ticket calls ticket(p)
		{"SELECT last_value FROM users_id_seq", "sequence"},
		{"SELECT pg_sleep(0)", "pg_sleep"},
		{"SELECT txid_current()", "not read-only"},
		{"SELECT setseed(0.5)", "not read-only"},
		{"SELECT id FROM users ORDER BY random() LIMIT 1", "random"},
		{"SELECT now()", "now"},
		{"SELECT statement_timestamp()", "statement_timestamp"},
		{"SELECT imm_user(1)", "imm_user"}, // a user function the application did not list
	} {
		t.Run(tc.sql, func(t *testing.T) {
			for range 2 {
				rows, err := p.Query(cctx, tc.sql)
				require.NoError(t, err)
				rows.Close()
				require.NoError(t, rows.Err())
			}
			// Statements that differ only in literals share a fingerprint
			// and so their statistics: they run one after the other.
			st := safetyStats(p, tc.sql)
			require.GreaterOrEqual(t, st.Bypasses, int64(2), "%+v", st)
			require.Zero(t, st.Stores, "%+v", st)
			require.Zero(t, st.Hits, "%+v", st)
			require.True(t, containsFold(st.LastBypass, tc.why), "bypass reason %q, want %q", st.LastBypass, tc.why)
		})
	}
}

// TestCacheSafetyOverloadByArity: a call is judged by the overloads its
// number of arguments can resolve to, not by every function of its name.
func TestCacheSafetyOverloadByArity(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{},
		`INSERT INTO users (email, display_name) VALUES ('a@example.com', 'Anna')`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	// length(text) and every other one-argument length is IMMUTABLE;
	// length(bytea, name) is STABLE.
	for _, sql := range []string{
		"SELECT length(display_name) FROM users WHERE email = $1",
		"SELECT length(display_name::name::text), lower(email) FROM users WHERE email = $1",
		"SELECT upper(substr(display_name, 1, 2)), replace(email, '@', ' at ') FROM users WHERE email = $1",
	} {
		for range 3 {
			safetyRows(t, cctx, p, sql, "a@example.com")
		}
		st := safetyStats(p, sql)
		require.Equal(t, int64(2), st.Hits, "%s: %+v", sql, st)
	}
	sql := "SELECT length(convert_to(display_name, 'UTF8'), 'UTF8') FROM users WHERE email = $1"
	for range 2 {
		safetyRows(t, cctx, p, sql, "a@example.com")
	}
	st := safetyStats(p, sql)
	require.Zero(t, st.Hits)
	require.Contains(t, st.LastBypass, "not IMMUTABLE")
}

// TestCacheSafetyAllowListedFunction: an IMMUTABLE user function listed in
// ImmutableFunctions is cached end to end, and reading it does not
// invalidate the database's other entries.
func TestCacheSafetyAllowListedFunction(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{ImmutableFunctions: []string{"slugify", "App.Shout"}},
		`INSERT INTO users (email, display_name) VALUES ('a@example.com', 'Anna Lee')`,
		`CREATE FUNCTION slugify(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(replace($1, ' ', '-')) $$`,
		`CREATE SCHEMA app; CREATE FUNCTION app.shout(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper($1) $$`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	const other = "SELECT count(*) FROM users"
	safetyRows(t, cctx, p, other)
	for _, sql := range []string{
		"SELECT slugify(display_name) FROM users WHERE email = $1",
		"SELECT SLUGIFY(display_name) AS s FROM users WHERE email = $1",
		"SELECT app.shout(display_name) FROM users WHERE email = $1",
	} {
		// SLUGIFY and slugify share a fingerprint, and so statistics.
		before := safetyStats(p, sql).Hits
		for range 3 {
			safetyRows(t, cctx, p, sql, "a@example.com")
		}
		st := safetyStats(p, sql)
		require.Equal(t, int64(2), st.Hits-before, "%s: %+v", sql, st)
	}
	require.Equal(t, []string{"anna-lee"}, safetyRows(t, cctx, p, "SELECT slugify(display_name) FROM users WHERE email = $1", "a@example.com"))
	// The reads above did not bump the database-wide tag: the first
	// entry is still valid.
	safetyRows(t, cctx, p, other)
	st := safetyStats(p, other)
	require.Equal(t, int64(1), st.Hits, "%+v", st)
	require.Zero(t, st.Stale, "%+v", st)
}

// TestCacheSafetyWritesThroughViews: a write through a view (auto-updatable,
// nested, with an INSTEAD OF trigger, or a rule on another relation)
// invalidates cached reads of the base table and of other views over it.
func TestCacheSafetyWritesThroughViews(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{},
		`INSERT INTO users (id, email, display_name) VALUES (1, 'a@example.com', 'v0')`,
		`CREATE VIEW active_users AS SELECT id, display_name FROM users WHERE is_active`,
		`CREATE VIEW active_users2 AS SELECT id, display_name FROM active_users`,
		`CREATE VIEW named_users AS SELECT id, display_name AS name FROM users`,
		`CREATE VIEW distinct_users AS SELECT DISTINCT id, display_name FROM users`,
		`CREATE FUNCTION distinct_users_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE users SET display_name = NEW.display_name WHERE id = OLD.id; RETURN NEW; END $$`,
		`CREATE TRIGGER distinct_users_upd INSTEAD OF UPDATE ON distinct_users FOR EACH ROW EXECUTE FUNCTION distinct_users_upd()`,
		`CREATE TABLE renames (id bigint, name text)`,
		`CREATE RULE renames_apply AS ON INSERT TO renames DO INSTEAD UPDATE users SET display_name = NEW.name WHERE id = NEW.id`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	reads := []string{
		"SELECT display_name FROM users WHERE id = $1",
		"SELECT name FROM named_users WHERE id = $1",
		"SELECT display_name FROM active_users2 WHERE id = $1",
	}
	writes := []string{
		"UPDATE active_users SET display_name = $2 WHERE id = $1",
		"UPDATE active_users2 SET display_name = $2 WHERE id = $1",
		"UPDATE distinct_users SET display_name = $2 WHERE id = $1",
		"INSERT INTO renames (id, name) VALUES ($1, $2)",
		"UPDATE named_users SET name = $2 WHERE id = $1",
	}
	for i, w := range writes {
		// Fill (and hit) every read.
		for _, r := range reads {
			for range 2 {
				safetyRows(t, cctx, p, r, 1)
			}
		}
		want := fmt.Sprintf("v%d", i+1)
		_, err := p.Exec(ctx, w, 1, want)
		require.NoError(t, err, w)
		for _, r := range reads {
			require.Equal(t, []string{want}, safetyRows(t, cctx, p, r, 1), "%s after %s", r, w)
		}
	}
	var hits int64
	for _, r := range reads {
		hits += safetyStats(p, r).Hits
	}
	require.Positive(t, hits)
}

// A multi-statement text that fails after committing part of itself (its
// own COMMIT, then an error) still invalidates what it wrote: the server's
// error does not mean nothing changed.
func TestCacheSafetyFailedMultiStatementInvalidates(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{}, `CREATE TABLE counters (id int PRIMARY KEY, n int); INSERT INTO counters VALUES (1, 0)`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	read := func() int {
		var n int
		require.NoError(t, p.QueryRow(cctx, "SELECT n FROM counters WHERE id = 1").Scan(&n))
		return n
	}
	require.Equal(t, 0, read())
	require.Equal(t, 0, read()) // a hit
	_, err := p.Exec(ctx, "BEGIN; UPDATE counters SET n = 1 WHERE id = 1; COMMIT; SELECT 1/0")
	require.Error(t, err)
	require.Equal(t, 1, read(), "the committed UPDATE must invalidate although the text failed")
}

// A SELECT the parser proves read-only can write through a user function
// that shadows a built-in's name: it invalidates like a write whose tables
// are unknown, so a cached read of what it wrote is fresh.
func TestCacheSafetyHiddenWriteInvalidates(t *testing.T) {
	ctx := testCtx(t)
	p, _, _ := cachePool(t, querycache.Config{}, `CREATE TABLE applog (m text)`,
		`CREATE FUNCTION log(m text) RETURNS int LANGUAGE sql AS 'INSERT INTO applog VALUES (m) RETURNING 1'`)
	cctx := querycache.WithTTL(ctx, time.Minute)
	count := func() int {
		var n int
		require.NoError(t, p.QueryRow(cctx, "SELECT count(*) FROM applog").Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { count(); return cacheStats(t, p, "SELECT count(*) FROM applog").Hits > 0 },
		10*time.Second, 10*time.Millisecond, "the read is cached")
	for i := range 5 {
		var one int
		require.NoError(t, p.QueryRow(ctx, "SELECT log($1)", fmt.Sprint(i)).Scan(&one))
		require.Equal(t, i+1, count(), "a write through log(text), which the parser takes for the built-in")
	}
}
