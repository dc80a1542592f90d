package sqlinfo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// TestFallback checks the analysis of text pg_query rejects.
func TestFallback(t *testing.T) {
	cases := []struct{ sql, normalized string }{
		{"SELEC * FROM users WHERE id = 42", "selec * from users where id = ?"},
		{"SELECT * FROM users WHERE name = 'unterminated", "select * from users where name = ?"},
		{"SELECT * FROM t WHERE a = \"unterminated", "select * from t where a = \"unterminated"},
		{"SELECT /* unterminated comment", "select"},
		{"SELECT $$ unterminated dollar", "select ?"},
		{"SELECT * FROM users WHERE id = ?", "select * from users where id = ?"},
		{"SELECT * FROM users WHERE id = :id", "select * from users where id = :id"},
		{"SELECT  *\n\tFROM users -- comment\n WHERE id = $1 AND", "select * from users where id = $1 and"},
		{"garbage @@@ ###", "garbage @@@ ###"},
		{"\x00\xff\xfe SELECT", "\x00\xff\xfe select"},
		{"SELECT 1.5e-3, 0xFF, E'x\\'y', $a$ b $a$ FROM", "select ?, ?, ?, ? from"},
		{"SELECT * FROM t LIMIT @limit AND", "select * from t limit $1 and"},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			in := sqlinfo.AnalyzeUncached(c.sql)
			require.Equal(t, sqlinfo.KindUnparsed, in.Kind)
			require.True(t, in.Fallback)
			require.False(t, in.ReadOnly)
			require.Equal(t, "parse error", in.Reason)
			require.Error(t, in.ParseError)
			require.Equal(t, c.normalized, in.Normalized)
			require.NotZero(t, in.Fingerprint)
			require.Len(t, in.FingerprintHex, 16)
			require.Empty(t, in.TablesRead)
			require.Empty(t, in.TablesWritten)
		})
	}
}

// TestFallbackFingerprint checks that the fallback fingerprint ignores
// literal values, whitespace, comments and keyword case, and is stable
// across processes (a fixed value).
func TestFallbackFingerprint(t *testing.T) {
	a := sqlinfo.AnalyzeUncached("SELECT * FROM t WHERE a = 1 AND b = 'x' AND")
	b := sqlinfo.AnalyzeUncached("select *  from t /* c */ where a = 22\n and b = 'yy' and")
	c := sqlinfo.AnalyzeUncached("SELECT * FROM t WHERE a = 1 OR b = 'x' AND")
	require.True(t, a.Fallback)
	require.Equal(t, a.Fingerprint, b.Fingerprint)
	require.NotEqual(t, a.Fingerprint, c.Fingerprint)
	// FNV-1a of "select * from t where a = ? and b = ? and": the value must
	// not change between runs, machines or releases.
	require.Equal(t, "select * from t where a = ? and b = ? and", a.Normalized)
	require.Equal(t, uint64(0x506e1fd4e9b33763), a.Fingerprint, "got %#x", a.Fingerprint)
}

// TestFingerprintMatchesPgQuery checks FingerprintHex against the format
// pg_query prints, and that constants do not change the fingerprint.
func TestFingerprintMatchesPgQuery(t *testing.T) {
	a := sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id = 1")
	b := sqlinfo.AnalyzeUncached("select * from users where id = 2")
	require.False(t, a.Fallback)
	require.Equal(t, a.Fingerprint, b.Fingerprint)
	require.Len(t, a.FingerprintHex, 16)
	require.Equal(t, strings.ToLower(a.FingerprintHex), a.FingerprintHex)
	require.Equal(t, "SELECT * FROM users WHERE id = $1", a.Normalized)
}

// TestNamedArgs checks pgx named arguments: the text is analyzed the way
// pgx.NamedArgs sends it, with @name replaced by $n in order of appearance.
func TestNamedArgs(t *testing.T) {
	in := sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id = @id AND org = @org OR owner = @id")
	require.False(t, in.Fallback)
	require.Equal(t, []string{"id", "org"}, in.NamedArgs)
	require.Equal(t, 2, in.Params)
	require.Equal(t, sqlinfo.KindSelect, in.Kind)
	require.True(t, in.ReadOnly)
	require.Equal(t, "SELECT * FROM users WHERE id = $1 AND org = $2 OR owner = $1", in.Normalized)
	same := sqlinfo.AnalyzeUncached("SELECT * FROM users WHERE id = $1 AND org = $2 OR owner = $1")
	require.Equal(t, same.Fingerprint, in.Fingerprint)

	// Names that are SQL keywords do not parse as the @ operator: still fine.
	lim := sqlinfo.AnalyzeUncached("SELECT * FROM t ORDER BY id LIMIT @limit OFFSET @offset")
	require.False(t, lim.Fallback, "%v", lim.ParseError)
	require.Equal(t, []string{"limit", "offset"}, lim.NamedArgs)

	// Inside quotes, comments and dollar quotes, and operators, nothing is rewritten.
	for _, sql := range []string{
		"SELECT '@x' FROM t",
		"SELECT \"@x\" FROM t",
		"SELECT 1 -- @x\n",
		"SELECT $f$ @x $f$",
		"SELECT * FROM t WHERE tags @> $1 AND $2 <@ tags AND doc @@ q",
	} {
		in := sqlinfo.AnalyzeUncached(sql)
		require.Nil(t, in.NamedArgs, sql)
		require.False(t, in.Fallback, sql)
	}

	// Unparsable text with named arguments uses the rewritten text too.
	bad := sqlinfo.AnalyzeUncached("SELEC * FROM t WHERE id = @id")
	require.True(t, bad.Fallback)
	require.Equal(t, []string{"id"}, bad.NamedArgs)
	require.Equal(t, "selec * from t where id = $1", bad.Normalized)
	require.Equal(t, 1, bad.Params)
}

// TestHugeStatement analyzes statements of about 1 MiB: a long IN list, a
// long string literal and an unparsable one.
func TestHugeStatement(t *testing.T) {
	var b strings.Builder
	b.WriteString("SELECT * FROM users WHERE id IN (")
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("123456")
	}
	b.WriteString(")")
	inList := b.String()
	literal := "INSERT INTO content (body) VALUES ('" + strings.Repeat("lorem ipsum ", 1<<20/12) + "')"
	broken := literal[:len(literal)-2] // unterminated string

	for name, sql := range map[string]string{"in-list": inList, "literal": literal, "broken": broken} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			in := sqlinfo.AnalyzeUncached(sql)
			elapsed := time.Since(start)
			require.GreaterOrEqual(t, len(sql), 1<<20-64)
			require.Less(t, elapsed, 20*time.Second)
			t.Logf("%d bytes analyzed in %v", len(sql), elapsed)
			switch name {
			case "broken":
				require.True(t, in.Fallback)
			case "in-list":
				// 300,000 tokens: beyond the parser's bound, the fallback
				// runs (in milliseconds, not the parser's second).
				require.True(t, in.Fallback)
				require.Less(t, elapsed, time.Second)
			default:
				require.False(t, in.Fallback, "%v", in.ParseError)
			}
		})
	}
}

// TestParserBounds: text beyond what pg_query's C parser survives (a
// left-deep expression of 25,000 terms crashed the process with SIGSEGV;
// 10,000 nested comments took seconds) gets the fallback analysis at once;
// text at the bounds is parsed.
func TestParserBounds(t *testing.T) {
	sum := func(n int) string { return "SELECT 1" + strings.Repeat("+1", n) }
	in := func(n int) string { return "SELECT * FROM t WHERE id IN (1" + strings.Repeat(",2", n) + ")" }
	tests := []struct {
		name     string
		sql      string
		fallback bool
	}{
		{"sum of 500", sum(500), false},
		{"sum of 25,000", sum(25000), true},
		{"sum of 200,000", sum(200000), true},
		{"concatenation of 25,000", "SELECT 'a'" + strings.Repeat("||'a'", 25000), true},
		{"unary minus 5,000", "SELECT " + strings.Repeat("- ", 5000) + "1", true},
		{"NOT 5,000", "SELECT " + strings.Repeat("NOT ", 5000) + "true", true},
		{"casts 5,000", "SELECT 1" + strings.Repeat("::int", 5000), true},
		{"UNION ALL of 500", "SELECT 1" + strings.Repeat(" UNION ALL SELECT 1", 500), false},
		{"UNION ALL of 50,000", "SELECT 1" + strings.Repeat(" UNION ALL SELECT 1", 50000), true},
		{"parentheses 500", "SELECT " + strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), false},
		{"parentheses 20,000", "SELECT " + strings.Repeat("(", 20000) + "1" + strings.Repeat(")", 20000), true},
		{"nested CASE 2,000", "SELECT " + strings.Repeat("CASE WHEN true THEN ", 2000) + "1" + strings.Repeat(" END", 2000), true},
		{"nested comments 64", "SELECT 1 " + strings.Repeat("/*", 64) + strings.Repeat("*/", 64), false},
		{"nested comments 100,000", "SELECT 1 " + strings.Repeat("/*", 100000) + strings.Repeat("*/", 100000), true},
		{"IN list of 10,000", in(10000), false},
		{"IN list of 20,000", in(20000), true},
		{"AND of 5,000 comparisons", "SELECT 1 FROM t WHERE " + strings.Repeat("a = 1 AND ", 5000) + "true", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			info := sqlinfo.AnalyzeUncached(tt.sql)
			elapsed := time.Since(start)
			require.Equal(t, tt.fallback, info.Fallback, "%v", info.ParseError)
			if tt.fallback {
				require.False(t, info.ReadOnly, "unknown means primary")
				require.Less(t, elapsed, time.Second, "the fallback is linear")
			}
		})
	}
}
