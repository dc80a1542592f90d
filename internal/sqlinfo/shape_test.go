package sqlinfo_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// TestTables checks which relations are read and written, across every
// place a relation can appear.
func TestTables(t *testing.T) {
	cases := []struct {
		sql           string
		read, written []string
	}{
		{"SELECT * FROM users", []string{"users"}, nil},
		{"SELECT * FROM public.users u JOIN projects p ON p.owner_id = u.id", []string{"projects", "public.users"}, nil},
		{"SELECT * FROM db.app.users", []string{"db.app.users"}, nil},
		{"SELECT * FROM a WHERE x IN (SELECT x FROM b) AND EXISTS (SELECT 1 FROM c)", []string{"a", "b", "c"}, nil},
		{"SELECT (SELECT max(id) FROM b) FROM a", []string{"a", "b"}, nil},
		{"SELECT * FROM a UNION SELECT * FROM b EXCEPT SELECT * FROM c", []string{"a", "b", "c"}, nil},
		{"SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.id = a.id) x", []string{"a", "b"}, nil},
		{"SELECT * FROM (SELECT * FROM a) sub JOIN b USING (id)", []string{"a", "b"}, nil},
		{"SELECT * FROM users u JOIN users v ON u.id = v.manager_id", []string{"users"}, nil},
		// CTE names are not tables; a non-recursive CTE's own body sees the real table.
		{"WITH r AS (SELECT * FROM content) SELECT * FROM r JOIN users ON true", []string{"content", "users"}, nil},
		{"WITH content AS (SELECT * FROM content) SELECT * FROM content", []string{"content"}, nil},
		{"WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b", nil, nil},
		{"WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t) SELECT * FROM t", nil, nil},
		{"SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x", []string{"x"}, nil},
		{"WITH r AS (SELECT 1) SELECT * FROM public.r", []string{"public.r"}, nil},
		// Writes.
		{"INSERT INTO users (a) VALUES (1)", nil, []string{"users"}},
		{"INSERT INTO archive SELECT * FROM content", []string{"content"}, []string{"archive"}},
		{"UPDATE users SET a = 1", nil, []string{"users"}},
		{"UPDATE users u SET a = p.a FROM projects p WHERE p.id = u.pid", []string{"projects"}, []string{"users"}},
		{"DELETE FROM content c USING projects p WHERE p.id = c.pid", []string{"projects"}, []string{"content"}},
		{"DELETE FROM a WHERE id IN (SELECT id FROM b)", []string{"b"}, []string{"a"}},
		{"MERGE INTO metrics m USING staging s ON m.id = s.id WHEN MATCHED THEN DELETE", []string{"staging"}, []string{"metrics"}},
		{"WITH d AS (DELETE FROM s RETURNING *) INSERT INTO archive SELECT * FROM d", nil, []string{"archive", "s"}},
		{"WITH u AS (UPDATE a SET x = 1 RETURNING id) SELECT * FROM u JOIN b USING (id)", []string{"b"}, []string{"a"}},
		{"COPY users FROM STDIN", nil, []string{"users"}},
		{"COPY users TO STDOUT", []string{"users"}, nil},
		{"COPY (SELECT * FROM users) TO STDOUT", []string{"users"}, nil},
		{"TRUNCATE a, public.b", nil, []string{"a", "public.b"}},
		{"SELECT * INTO archive FROM content", []string{"content"}, []string{"archive"}},
		{"CREATE TABLE t AS SELECT * FROM content", []string{"content"}, []string{"t"}},
		{"CREATE TABLE t (id int REFERENCES users (id))", []string{"users"}, []string{"t"}},
		{"CREATE VIEW v AS SELECT * FROM content", []string{"content"}, []string{"v"}},
		{"CREATE INDEX i ON content (id)", nil, []string{"content"}},
		{"ALTER TABLE content ADD FOREIGN KEY (a) REFERENCES users", []string{"users"}, []string{"content"}},
		{"DROP TABLE IF EXISTS a, app.b", nil, []string{"a", "app.b"}},
		{"DROP FUNCTION f(int)", nil, nil},
		{"LOCK TABLE content", nil, []string{"content"}},
		{"VACUUM content", nil, []string{"content"}},
		// Locked relations are FROM items, not extra tables.
		{"SELECT * FROM content c FOR UPDATE OF c", []string{"content"}, nil},
		// EXPLAIN without ANALYZE executes nothing: everything is read.
		{"EXPLAIN DELETE FROM content", []string{"content"}, nil},
		{"EXPLAIN ANALYZE DELETE FROM content", nil, []string{"content"}},
		{"PREPARE p AS SELECT * FROM users", []string{"users"}, nil},
		{"SELECT 1; UPDATE a SET x = 1", nil, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			in := sqlinfo.AnalyzeUncached(c.sql)
			require.False(t, in.Fallback, "%v", in.ParseError)
			require.Equal(t, c.read, in.TablesRead, "read")
			require.Equal(t, c.written, in.TablesWritten, "written")
		})
	}
}

// TestFunctions checks the called-function lists.
func TestFunctions(t *testing.T) {
	cases := []struct {
		sql            string
		funcs, unknown []string
	}{
		{"SELECT 1", nil, nil},
		{"SELECT count(*), COUNT(x), Lower(y) FROM t", []string{"count", "lower"}, nil},
		{"SELECT now(), CURRENT_TIMESTAMP(3), current_user", []string{"current_timestamp", "current_user", "now"}, nil},
		{"SELECT extract(year FROM d), trim(both FROM s), s AT TIME ZONE 'utc' FROM t", []string{"btrim", "extract", "timezone"}, nil},
		{"SELECT pg_catalog.upper(x) FROM t", []string{"pg_catalog.upper"}, nil},
		{"SELECT app.f(x), g(1), nextval('s') FROM t", []string{"app.f", "g", "nextval"}, []string{"app.f", "g"}},
		{"SELECT * FROM generate_series(1, 3) g JOIN t ON t.id = g", []string{"generate_series"}, nil},
		{"INSERT INTO t VALUES (my_default())", []string{"my_default"}, []string{"my_default"}},
		{"CALL refresh()", []string{"refresh"}, []string{"refresh"}},
		{`SELECT "Lower"(x), "NOW"() FROM t`, []string{"Lower", "NOW"}, []string{"Lower", "NOW"}},
		{`SELECT "lower"(x), "pg_catalog"."upper"(x) FROM t`, []string{"lower", "pg_catalog.upper"}, nil},
		{"SELECT sum(x) FILTER (WHERE abs(y) > 1) OVER (PARTITION BY z) FROM t", []string{"abs", "sum"}, nil},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			in := sqlinfo.AnalyzeUncached(c.sql)
			require.False(t, in.Fallback, "%v", in.ParseError)
			require.Equal(t, c.funcs, in.Functions, "functions")
			require.Equal(t, c.unknown, in.UnknownFunctions, "unknown")
		})
	}
}

// TestBatchShaped checks the batch-shape detection, which the fingerprint
// cannot provide.
func TestBatchShaped(t *testing.T) {
	cases := []struct {
		sql   string
		batch bool
	}{
		{"SELECT * FROM users WHERE id = $1", false},
		{"SELECT * FROM users WHERE id = ANY($1)", true},
		{"SELECT * FROM users WHERE id = ANY($1::bigint[])", true},
		{"SELECT * FROM users WHERE id = ANY(ARRAY[1, 2, 3])", true},
		{"SELECT * FROM users WHERE id = ANY('{1,2,3}')", true},
		{"SELECT * FROM users WHERE id <> ALL($1)", true},
		{"SELECT * FROM users WHERE $1 = ANY(tags)", false},
		{"SELECT * FROM users WHERE id = ANY(SELECT user_id FROM sessions)", false},
		{"SELECT * FROM users WHERE id IN (1, 2, 3)", true},
		{"SELECT * FROM users WHERE id IN ($1, $2)", true},
		{"SELECT * FROM users WHERE id NOT IN ($1, $2)", true},
		{"SELECT * FROM users WHERE id IN ($1)", false},
		{"SELECT * FROM users WHERE id IN (SELECT user_id FROM sessions)", false},
		{"INSERT INTO t (a) VALUES ($1)", false},
		{"INSERT INTO t (a) VALUES ($1), ($2)", true},
		{"INSERT INTO t (a) SELECT unnest($1::int[])", true},
		{"INSERT INTO t SELECT * FROM jsonb_to_recordset($1) AS x(a int)", true},
		{"UPDATE t SET a = v.a FROM unnest($1::int[], $2::text[]) AS v(id, a) WHERE t.id = v.id", true},
		{"UPDATE t SET a = v.a FROM (VALUES (1, 'x'), (2, 'y')) v(id, a) WHERE t.id = v.id", true},
		{"DELETE FROM t WHERE id = ANY($1)", true},
		{"SELECT unnest(tags) FROM t", false},
		{"SELECT * FROM t WHERE id = ANY(@ids)", true},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			in := sqlinfo.AnalyzeUncached(c.sql)
			require.False(t, in.Fallback, "%v", in.ParseError)
			require.Equal(t, c.batch, in.BatchShaped)
		})
	}
}

// TestBatchShapeBeyondFingerprint shows what BatchShaped adds: pg_query
// gives "id = $1", "id = ANY($1)" and "id IN (1,2,3)" one fingerprint.
func TestBatchShapeBeyondFingerprint(t *testing.T) {
	one := sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id = $1")
	anyOf := sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id = ANY($1)")
	list := sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id IN (1, 2, 3)")
	require.Equal(t, one.Fingerprint, anyOf.Fingerprint)
	require.Equal(t, one.Fingerprint, list.Fingerprint)
	require.False(t, one.BatchShaped)
	require.True(t, anyOf.BatchShaped)
	require.True(t, list.BatchShaped)
}

// TestParams checks the highest placeholder number.
func TestParams(t *testing.T) {
	cases := map[string]int{
		"SELECT 1":                      0,
		"SELECT $1":                     1,
		"SELECT $2, $1":                 2,
		"SELECT * FROM t WHERE a = $10": 10,
		"SELECT * FROM t WHERE a = @a AND b = @b AND c = @a": 2,
		"SELECT * FROM t WHERE a = $3 AND":                   3, // unparsed: counted by the fallback lexer
		"SELECT '$5', $$ $6 $$, \"$7\"":                      0,
	}
	for sql, want := range cases {
		require.Equal(t, want, sqlinfo.AnalyzeUncached(sql).Params, sql)
	}
}

// TestSQLCHeader checks the sqlc "-- name:" annotation for every command.
func TestSQLCHeader(t *testing.T) {
	for _, cmd := range []string{":one", ":many", ":exec", ":execrows", ":execresult", ":execlastid",
		":batchexec", ":batchmany", ":batchone", ":copyfrom"} {
		in := sqlinfo.AnalyzeUncached("-- name: GetUser " + cmd + "\nSELECT * FROM users WHERE id = $1")
		require.Equal(t, "GetUser", in.SQLCName, cmd)
		require.Equal(t, cmd, in.SQLCCommand)
		require.Equal(t, sqlinfo.KindSelect, in.Kind)
	}
	cases := []struct{ sql, name, cmd string }{
		{"  \n-- name: ListUsers :many\n-- lists users\nSELECT 1", "ListUsers", ":many"},
		{"--name:Compact :exec\nDELETE FROM t", "Compact", ":exec"},
		{"/* doc */ -- name: AfterBlock :one\nSELECT 1", "AfterBlock", ":one"},
		{"-- name: Bad :unknown\nSELECT 1", "", ""},
		{"-- name: MissingCommand\nSELECT 1", "", ""},
		{"SELECT 1 -- name: Trailing :one", "", ""},
		{"-- name: Broken :one\nSELEC 1", "Broken", ":one"},
		{"-- just a comment\nSELECT 1", "", ""},
	}
	for _, c := range cases {
		in := sqlinfo.AnalyzeUncached(c.sql)
		require.Equal(t, c.name, in.SQLCName, c.sql)
		require.Equal(t, c.cmd, in.SQLCCommand, c.sql)
	}
	// The annotation is a comment: it does not change the fingerprint.
	require.Equal(t,
		sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id = $1").Fingerprint,
		sqlinfo.AnalyzeUncached("-- name: GetUser :one\nSELECT * FROM users WHERE id = $1").Fingerprint)
}

func TestPaged(t *testing.T) {
	for _, tc := range []struct {
		sql   string
		paged bool
	}{
		{"SELECT id FROM content WHERE id > $1 ORDER BY id LIMIT 500", true},
		{"SELECT id FROM content WHERE project_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 50", true},
		{"SELECT id FROM content ORDER BY id LIMIT $1 OFFSET $2", true},
		{"SELECT id FROM content WHERE id > 100 ORDER BY id LIMIT 20", true},
		{"SELECT id FROM content WHERE id = $1", false},
		{"SELECT id FROM content WHERE id = $1 LIMIT 1", false},
		{"SELECT id FROM content WHERE id > $1 LIMIT 10", false}, // no ORDER BY: not a page walk
		{"SELECT id FROM content ORDER BY id LIMIT 10", false},
		{"UPDATE content SET title = $1 WHERE id > $2", false},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			require.Equal(t, tc.paged, sqlinfo.AnalyzeUncached(tc.sql).Paged)
		})
	}
}

func TestCursorParams(t *testing.T) {
	require.Equal(t, []int{1}, sqlinfo.AnalyzeUncached("SELECT id FROM content WHERE id > $1 ORDER BY id LIMIT 500").CursorParams)
	require.Equal(t, []int{2, 3}, sqlinfo.AnalyzeUncached("SELECT id FROM content WHERE project_id = $1 AND (created_at, id) < ($2, $3::bigint) ORDER BY created_at DESC, id DESC LIMIT 50").CursorParams)
	require.Equal(t, []int{2}, sqlinfo.AnalyzeUncached("SELECT id FROM content ORDER BY id LIMIT $1 OFFSET $2").CursorParams)
}
