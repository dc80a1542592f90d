package sqlinfo_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

func TestCacheHint(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		hint bool
		ttl  time.Duration
		no   bool
	}{
		{sql: "SELECT 1"},
		{sql: "SELECT /* pgxperf:cache */ 1", hint: true},
		{sql: "SELECT /* pgxperf:cache ttl=30s */ 1", hint: true, ttl: 30 * time.Second},
		{sql: "SELECT /*pgxperf:cache ttl=1m30s*/ 1", hint: true, ttl: 90 * time.Second},
		{sql: "-- pgxperf:cache ttl=5m\nSELECT 1", hint: true, ttl: 5 * time.Minute},
		{sql: "SELECT /* pgxperf:cache ttl=bogus */ 1", hint: true},
		{sql: "SELECT /* pgxperf:cache ttl=-1s */ 1", hint: true},
		{sql: "SELECT /* pgxperf:cachex */ 1"},
		{sql: "SELECT /* pgxperf:cachex pgxperf:cache ttl=2s */ 1", hint: true, ttl: 2 * time.Second},
		{sql: "SELECT /* pgxperf:nocache */ 1", no: true},
		{sql: "SELEC /* pgxperf:cache */ broken"}, // unparsed text never gets a hint
	} {
		t.Run(tc.sql, func(t *testing.T) {
			info := sqlinfo.AnalyzeUncached(tc.sql)
			require.Equal(t, tc.hint, info.CacheHint)
			require.Equal(t, tc.ttl, info.CacheTTL)
			require.Equal(t, tc.no, info.NoCacheHint)
		})
	}
}

// Hints are read from comments only: the same words inside any kind of
// literal or quoted identifier are data (a user's search text must not turn
// caching on or force the primary).
func TestHintsOnlyInComments(t *testing.T) {
	hints := []string{"pgxperf:primary", "pgxperf:cache", "pgxperf:cache ttl=1h", "pgxperf:nocache",
		"/* pgxperf:cache */", "/* pgxperf:primary */", "-- pgxperf:primary"}
	wrappers := []func(string) string{
		func(h string) string { return "SELECT '" + h + "'" },
		func(h string) string { return "SELECT E'\\'" + h + "'" },
		func(h string) string { return "SELECT $$" + h + "$$" },
		func(h string) string { return "SELECT $tag$ $$ " + h + " $tag$" },
		func(h string) string { return `SELECT 1 AS "` + h + `"` },
		func(h string) string { return "SELECT U&'" + h + "'" },
		func(h string) string { return "SELECT 1 WHERE 'x' <> '" + h + "' AND true" },
	}
	for _, h := range hints {
		for i, wrap := range wrappers {
			sql := wrap(h)
			t.Run(sql, func(t *testing.T) {
				info := sqlinfo.AnalyzeUncached(sql)
				require.NotEqual(t, sqlinfo.KindUnparsed, info.Kind, "wrapper %d must parse", i)
				require.False(t, info.HintPrimary)
				require.False(t, info.CacheHint)
				require.False(t, info.NoCacheHint)
				require.Zero(t, info.CacheTTL)
			})
		}
	}
	// The same hints in comments next to such literals still count.
	for _, tc := range []struct {
		sql           string
		primary, hint bool
	}{
		{"SELECT /* pgxperf:primary */ 'pgxperf:cache'", true, false},
		{"SELECT 'pgxperf:primary' /* pgxperf:cache */", false, true},
		{"SELECT $$ /* $$ /* pgxperf:cache */", false, true},
		{"SELECT 1 -- it's pgxperf:primary", true, false},
		{"SELECT '/* pgxperf:primary */' -- pgxperf:cache", false, true},
	} {
		info := sqlinfo.AnalyzeUncached(tc.sql)
		require.Equal(t, tc.primary, info.HintPrimary, tc.sql)
		require.Equal(t, tc.hint, info.CacheHint, tc.sql)
	}
}
