package sqlinfo_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// FuzzAnalyze checks the analyzer's invariants on arbitrary text, seeded
// with every statement of testdata/sql/*.sql. Crashers are kept under
// testdata/fuzz/FuzzAnalyze and replayed by go test.
func FuzzAnalyze(f *testing.F) {
	for _, stmts := range loadCorpus(f) {
		for _, s := range stmts {
			f.Add(s)
		}
	}
	a := sqlinfo.New(sqlinfo.Config{MaxBytes: 8 << 20})
	f.Fuzz(func(t *testing.T, sql string) {
		in := a.Analyze(sql)
		require.NotNil(t, in)
		checkInvariants(t, sql, in)

		again := sqlinfo.AnalyzeUncached(sql)
		require.Equal(t, in, again, "cached and uncached analyses differ")
		require.Equal(t, in.Fingerprint, sqlinfo.AnalyzeUncached(sql).Fingerprint, "fingerprint not stable")
	})
}

func checkInvariants(t *testing.T, sql string, in *sqlinfo.Info) {
	t.Helper()
	require.LessOrEqual(t, in.Kind, sqlinfo.KindMulti, "unknown kind")
	require.Len(t, in.FingerprintHex, 16)
	if in.ReadOnly {
		switch in.Kind {
		case sqlinfo.KindSelect:
			require.Empty(t, in.Locking, "read-only select with a locking clause")
			require.Empty(t, in.UnknownFunctions, "read-only select calling unknown functions")
			require.Empty(t, in.TablesWritten, "read-only select writing tables")
		case sqlinfo.KindUtility:
			require.True(t, in.Reason == "show" || strings.HasPrefix(in.Reason, "explain"),
				"read-only utility that is neither SHOW nor EXPLAIN: %q", in.Reason)
		default:
			t.Fatalf("read-only statement of kind %s", in.Kind)
		}
	}
	if in.Kind == sqlinfo.KindUnparsed {
		require.False(t, in.ReadOnly)
		require.True(t, in.Fallback)
		require.Error(t, in.ParseError)
	} else {
		require.False(t, in.Fallback)
		require.NoError(t, in.ParseError)
	}
	if in.Kind == sqlinfo.KindTransaction {
		require.NotEqual(t, sqlinfo.TxNone, in.TxOp)
	} else {
		require.Equal(t, sqlinfo.TxNone, in.TxOp)
	}
	require.NotEmpty(t, in.Reason)
	require.GreaterOrEqual(t, in.Params, 0)
	for _, list := range [][]string{in.TablesRead, in.TablesWritten, in.Functions, in.UnknownFunctions} {
		require.True(t, slices.IsSorted(list), "not sorted: %q", list)
		require.Equal(t, len(slices.Compact(slices.Clone(list))), len(list), "duplicates: %q", list)
	}
	for _, f := range in.UnknownFunctions {
		require.Contains(t, in.Functions, f)
	}
	if in.SQLCName != "" {
		require.Contains(t, sql, in.SQLCName)
	}
}
