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
