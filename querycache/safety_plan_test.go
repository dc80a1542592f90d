package querycache

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// TestStaticVerdictRefusesVolatile checks the default-deny classes that the
// parse tree shows: clock-relative literals, TABLESAMPLE, system columns,
// SQL-value functions, and analyses without their text.
func TestStaticVerdictRefusesVolatile(t *testing.T) {
	for _, tc := range []struct{ sql, why string }{
		{"SELECT id FROM t WHERE d > 'now'::timestamptz", "clock-relative"},
		{"SELECT id FROM t WHERE d > ' NOW '::timestamp", "clock-relative"},
		{"SELECT id FROM t WHERE d = CAST('Today' AS date)", "clock-relative"},
		{"SELECT id FROM t WHERE d = date 'tomorrow'", "clock-relative"},
		{"SELECT id FROM t WHERE d < timestamptz 'now'", "clock-relative"},
		{"SELECT id FROM t WHERE d IN ('2024-01-01', 'yesterday')", "clock-relative"},
		{"SELECT id FROM t WHERE d = ANY('{now,today}'::date[])", "clock-relative"},
		{"SELECT time 'now', timetz 'now'", "clock-relative"},
		{"SELECT timestamp with time zone 'now'", "clock-relative"},
		{"SELECT * FROM t TABLESAMPLE SYSTEM (10)", "TABLESAMPLE"},
		{"SELECT * FROM t TABLESAMPLE BERNOULLI (5) REPEATABLE (42)", "TABLESAMPLE"},
		{"SELECT ctid, * FROM t", "system column ctid"},
		{"SELECT id FROM t WHERE xmin::text::bigint > 5", "system column xmin"},
		{"SELECT t.tableoid FROM t", "system column tableoid"},
		{"SELECT cmax FROM t", "system column cmax"},
		{"SELECT CURRENT_DATE", "SQL-value function current_date"},
		{"SELECT id FROM t WHERE d < LOCALTIMESTAMP", "SQL-value function localtimestamp"},
		{"SELECT CURRENT_TIMESTAMP(3)", "SQL-value function current_timestamp"},
		{"SELECT current_user", "SQL-value function current_user"},
		{"SELECT session_user", "SQL-value function session_user"},
		{"SELECT current_schema", "SQL-value function current_schema"},
		{"SELECT txid_current()", "not read-only"},
		{"SELECT setseed(0.5)", "not read-only"},
		{"SELECT id FROM t WHERE 'epoch'::timestamptz < d", ""},
		{"SELECT id FROM t LIMIT 10", ""},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			why := staticVerdict(sqlinfo.Analyze(tc.sql))
			if tc.why == "" {
				require.Empty(t, why)
			} else {
				require.Contains(t, why, tc.why)
			}
		})
	}
	// An Info made by hand, without its text, is never keyed.
	in := *sqlinfo.Analyze("SELECT id FROM t WHERE id = 1")
	in.Text = ""
	require.Contains(t, staticVerdict(&in), "without its statement text")
}

// TestWriteTagsExemptsListedFunctions: a read calling only functions of
// the allow-list does not bump the database-wide tag; any other user
// function still does.
func TestWriteTagsExemptsListedFunctions(t *testing.T) {
	c, err := newQueryCache(Config{
		Client:             redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}),
		ImmutableFunctions: []string{" Slugify ", `app."Odd"`},
	}, sessionInfo{Database: "db"}, nil)
	require.NoError(t, err)
	defer c.Close()
	for _, tc := range []struct {
		sql    string
		rels   []string
		global bool
	}{
		{sql: "SELECT slugify(title) FROM t"},
		{sql: "SELECT SLUGIFY(title) FROM t"},
		{sql: `SELECT app."Odd"(title) FROM t`},
		{sql: `SELECT "Slugify"(title) FROM t`, global: true}, // another function
		{sql: "SELECT app.odd(title) FROM t", global: true},   // another function
		{sql: "SELECT other(title) FROM t", global: true},
		{sql: "SELECT slugify(title), other(title) FROM t", global: true},
		{sql: "INSERT INTO t (s) SELECT slugify('a b')", rels: []string{"t"}},
		{sql: "INSERT INTO t (s) SELECT other('a b')", rels: []string{"t"}, global: true},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			info := sqlinfo.Analyze(tc.sql)
			rels, global, _ := c.writeTags(info)
			require.ElementsMatch(t, tc.rels, rels)
			require.Equal(t, tc.global, global)
			// The package-level writeTags keeps counting every user function.
			_, g, _ := writeTags(info)
			require.Equal(t, len(info.UnknownFunctions) > 0, g)
		})
	}
}

func TestFoldName(t *testing.T) {
	for in, want := range map[string]string{
		"slugify":            "slugify",
		" Slugify ":          "slugify",
		"App.Slugify":        "app.slugify",
		`"MyFunc"`:           "MyFunc",
		`app."My""Func"`:     `app.My"Func`,
		` "A" . "B" `:        "A.B",
		`app . slugify`:      "app.slugify",
		"":                   "",
		`"unterminated`:      "unterminated",
		"pg_catalog.length ": "pg_catalog.length",
	} {
		require.Equal(t, want, foldName(in), "%q", in)
	}
}

// TestCatalogFunctionAndPolicyWithoutPool: the allow-list answers without
// the catalog, SQL-value functions are never IMMUTABLE, and a policy whose
// text changes from call to call is refused before any lookup.
func TestCatalogFunctionAndPolicyWithoutPool(t *testing.T) {
	cat := newCatalog(nil, []string{"slugify"}, func(context.Context, string, error) {})
	ok, err := cat.function(t.Context(), sqlinfo.Call{Name: "slugify", Args: 1})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = cat.function(t.Context(), sqlinfo.Call{Name: "current_date", ValueFunction: true})
	require.NoError(t, err)
	require.False(t, ok)
	_, err = cat.function(t.Context(), sqlinfo.Call{Name: "lower", Args: 1})
	require.ErrorIs(t, err, errNoCatalog)
	_, why := cat.policy(t.Context(), "docs", "(created_at > 'now'::timestamp with time zone)")
	require.Contains(t, why, "changes from call to call")
	_, why = cat.policy(t.Context(), "docs", "(xmin <> '0'::xid)")
	require.Contains(t, why, "system column")
}
