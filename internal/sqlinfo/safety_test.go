package sqlinfo_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// TestHasClockWord checks the test for clock-relative date/time input words.
func TestHasClockWord(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"now", true}, {"NOW", true}, {" Now ", true}, {"\tnow\n", true}, {"today", true},
		{"TOMORROW", true}, {"yesterday", true}, {"tomorrow 10:00", true}, {"10:00 tomorrow", true},
		{"{now,today}", true}, {"[today,tomorrow)", true}, {"now()", true}, {"(1,now)", true},
		{"now1", true}, {"é now", true},
		{"", false}, {"know", false}, {"snow", false}, {"nowhere", false}, {"todays", false},
		{"epoch", false}, {"infinity", false}, {"-infinity", false}, {"allballs", false},
		{"2024-01-01 10:00:00+00", false}, {"no w", false}, {"n0w", false},
	} {
		require.Equal(t, tc.want, sqlinfo.HasClockWord(tc.s), "%q", tc.s)
	}
}

// TestVolatileConstructs checks Info.Volatile: clock-relative date/time
// literals in every spelling, TABLESAMPLE and system columns.
func TestVolatileConstructs(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT 'now'::timestamptz", "'now'"},
		{"SELECT ' NOW '::timestamp", "' NOW '"},
		{"SELECT CAST('today' AS date)", "'today'"},
		{"SELECT timestamptz 'now'", "'now'"},
		{"SELECT date 'Tomorrow'", "'Tomorrow'"},
		{"SELECT time 'now', timetz 'now'", "'now'"},
		{"SELECT timestamp with time zone 'yesterday'", "'yesterday'"},
		{"SELECT 'now'::timestamp without time zone", "'now'"},
		{"SELECT * FROM t WHERE d IN ('2024-01-01', 'today')", "'today'"},
		{"SELECT * FROM t WHERE d = ANY(ARRAY['today'::date])", "'today'"},
		{"SELECT '{now,today}'::date[]", "'{now,today}'"},
		{"SELECT '[today,tomorrow)'::daterange", "today"},
		{"SELECT $$now$$::timestamptz", "'now'"},
		{"SELECT $tag$ today $tag$::date", "today"},
		{`SELECT E'no\x77'::timestamptz`, "'now'"},
		{`SELECT U&'\006Eow'::timestamptz`, "'now'"},
		{"SELECT 'now'::text::timestamptz", "'now'"},
		{"SELECT * FROM t WHERE created < 'tomorrow 10:00'", "tomorrow"},
		{"SELECT * FROM t WHERE x = (SELECT max(y) FROM u WHERE d > 'now')", "'now'"},
		{"SELECT * FROM t TABLESAMPLE SYSTEM (10)", "TABLESAMPLE"},
		{"SELECT * FROM t TABLESAMPLE BERNOULLI (10) REPEATABLE (1)", "TABLESAMPLE"},
		{"SELECT * FROM (SELECT * FROM t TABLESAMPLE SYSTEM (1)) s", "TABLESAMPLE"},
		{"SELECT ctid, id FROM t", "system column ctid"},
		{"SELECT t.xmin FROM t", "system column xmin"},
		{"SELECT id FROM t WHERE xmax = 0", "system column xmax"},
		{"SELECT cmin, cmax FROM t", "system column cmin"},
		{"SELECT tableoid::regclass FROM t", "system column tableoid"},
		{"SELECT * FROM t ORDER BY t.ctid", "system column ctid"},

		{"SELECT 'epoch'::timestamptz, 'infinity'::date, 'allballs'::time", ""},
		{"SELECT * FROM t WHERE name = 'snow' AND d = '2024-01-01'::date", ""},
		{"SELECT now, today FROM t", ""}, // columns of those names
		{"SELECT id FROM t WHERE id = 1", ""},
		{"SELECT * FROM t LIMIT 10", ""},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			in := sqlinfo.Analyze(tc.sql)
			require.Equal(t, sqlinfo.KindSelect, in.Kind, "%v", in.ParseError)
			if tc.want == "" {
				require.Empty(t, in.Volatile)
				return
			}
			require.Contains(t, in.Volatile, tc.want)
		})
	}
}

// TestCalls checks that every call is recorded with its argument count.
func TestCalls(t *testing.T) {
	type c = sqlinfo.Call
	for _, tc := range []struct {
		sql  string
		want []sqlinfo.Call
	}{
		{"SELECT length(x) FROM t", []c{{Name: "length", Args: 1}}},
		{"SELECT length(x), length(y, 'UTF8') FROM t", []c{{Name: "length", Args: 1}, {Name: "length", Args: 2}}},
		{"SELECT count(*), count(x) FROM t", []c{{Name: "count"}, {Name: "count", Args: 1}}},
		{"SELECT concat(VARIADIC ARRAY['a','b'])", []c{{Name: "concat", Args: 1, Variadic: true}}},
		{"SELECT make_interval(days => 1, hours => 2)", []c{{Name: "make_interval", Args: 2}}},
		{"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t", []c{{Name: "percentile_cont", Args: 2}}},
		{"SELECT app.slug(x) FROM t", []c{{Name: "app.slug", Args: 1}}},
		{`SELECT "Slug"(x) FROM t`, []c{{Name: "Slug", Args: 1}}},
		{"SELECT EXTRACT(year FROM d) FROM t", []c{{Name: "extract", Args: 2}}},
		{"SELECT CURRENT_TIMESTAMP, current_user, LOCALTIMESTAMP(3)", []c{
			{Name: "current_timestamp", ValueFunction: true},
			{Name: "current_user", ValueFunction: true},
			{Name: "localtimestamp", ValueFunction: true}}},
		{"SELECT lower(upper(x)), lower(y) FROM t", []c{{Name: "lower", Args: 1}, {Name: "upper", Args: 1}}},
		{"SELECT 1", nil},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			require.Equal(t, tc.want, sqlinfo.Analyze(tc.sql).Calls)
		})
	}
}

// TestSessionStateIsNotReadOnly checks that statements referring to a
// prepared statement or a cursor of their own session never count as
// read-only: another connection does not have it.
func TestSessionStateIsNotReadOnly(t *testing.T) {
	for _, tc := range []struct{ sql, reason string }{
		{"EXPLAIN EXECUTE q(1)", "prepared statement q"},
		{"EXPLAIN (COSTS off) EXECUTE q", "prepared statement q"},
		{"EXPLAIN ANALYZE EXECUTE q(1)", "EXECUTE"},
		{"EXECUTE q(1)", "EXECUTE"},
		{"EXPLAIN UPDATE t SET x = 1 WHERE CURRENT OF c", "cursor c"},
		{"EXPLAIN DELETE FROM t WHERE CURRENT OF c", "cursor c"},
		{"UPDATE t SET x = 1 WHERE CURRENT OF c", "cursor c"},
		{"DELETE FROM t WHERE CURRENT OF c", "cursor c"},
		{"DECLARE c CURSOR FOR SELECT 1", "DECLARE"},
		{"FETCH NEXT FROM c", "FETCH"},
		{"FETCH 10 c", "FETCH"},
		{"MOVE FORWARD 5 IN c", "MOVE"},
		{"CLOSE c", "CLOSE"},
		{"CLOSE ALL", "CLOSE"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			in := sqlinfo.Analyze(tc.sql)
			require.False(t, in.ReadOnly, in.Reason)
			require.Contains(t, in.Reason, tc.reason)
		})
	}
	// EXPLAIN without ANALYZE of an ordinary statement stays read-only.
	require.True(t, sqlinfo.Analyze("EXPLAIN SELECT * FROM t WHERE id = 1").ReadOnly)
}

// TestInfoIsOneText checks that an Info belongs to one exact text: texts
// that differ only in a constant share the fingerprint and the normalized
// text but never an Info, and Text is the text as given.
func TestInfoIsOneText(t *testing.T) {
	a := sqlinfo.Analyze("SELECT * FROM t WHERE tenant = 'acme' AND id = @id")
	b := sqlinfo.Analyze("SELECT * FROM t WHERE tenant = 'globex' AND id = @id")
	require.Equal(t, a.Fingerprint, b.Fingerprint)
	require.Equal(t, a.Normalized, b.Normalized)
	require.NotSame(t, a, b)
	require.Equal(t, "SELECT * FROM t WHERE tenant = 'acme' AND id = @id", a.Text)
	require.Equal(t, "SELECT * FROM t WHERE tenant = 'globex' AND id = @id", b.Text)
	require.Same(t, a, sqlinfo.Analyze("SELECT * FROM t WHERE tenant = 'acme' AND id = @id"))
	for _, sql := range []string{"SELEC 'acme'", "", "  ", "SELECT 1; SELECT 'x'"} {
		require.Equal(t, sql, sqlinfo.Analyze(sql).Text)
		require.Equal(t, sql, sqlinfo.AnalyzeUncached(sql).Text)
	}
}
