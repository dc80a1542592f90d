package querycache

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// literalKinds render a random constant of one kind of SQL literal; two
// calls with different seeds give different texts (most of the time: equal
// renderings are skipped by the property test).
var literalKinds = []struct {
	name   string
	render func(r *rand.Rand) string
}{
	{"int", func(r *rand.Rand) string { return strconv.Itoa(r.IntN(1000)) }},
	{"negative int", func(r *rand.Rand) string { return strconv.Itoa(-r.IntN(1000)) }},
	{"big int", func(r *rand.Rand) string { return strconv.FormatUint(r.Uint64(), 10) }},
	{"float", func(r *rand.Rand) string { return strconv.FormatFloat(r.Float64()*100, 'f', -1, 64) }},
	{"exponent", func(r *rand.Rand) string { return fmt.Sprintf("%de%d", r.IntN(10), r.IntN(20)-10) }},
	{"string", func(r *rand.Rand) string { return "'" + word(r) + "'" }},
	{"string with quote", func(r *rand.Rand) string { return "'" + word(r) + "''" + word(r) + "'" }},
	{"escape string", func(r *rand.Rand) string { return `E'` + word(r) + `\n'` }},
	{"unicode string", func(r *rand.Rand) string { return `U&'\00` + strconv.Itoa(41+r.IntN(9)) + word(r) + `'` }},
	{"dollar string", func(r *rand.Rand) string { return "$$" + word(r) + "$$" }},
	{"tagged dollar string", func(r *rand.Rand) string { return "$q$" + word(r) + "$q$" }},
	{"cast", func(r *rand.Rand) string { return "'" + strconv.Itoa(r.IntN(1000)) + "'::int" }},
	{"CAST", func(r *rand.Rand) string { return "CAST(" + strconv.Itoa(r.IntN(1000)) + " AS bigint)" }},
	{"typed literal", func(r *rand.Rand) string { return fmt.Sprintf("date '2024-%02d-%02d'", 1+r.IntN(12), 1+r.IntN(28)) }},
	{"interval", func(r *rand.Rand) string { return fmt.Sprintf("interval '%d days'", r.IntN(100)) }},
	{"array", func(r *rand.Rand) string { return fmt.Sprintf("ARRAY[%d, %d]", r.IntN(100), r.IntN(100)) }},
	{"array literal", func(r *rand.Rand) string { return fmt.Sprintf("'{%d,%d}'::int[]", r.IntN(100), r.IntN(100)) }},
	{"bit string", func(r *rand.Rand) string { return "B'" + strconv.FormatInt(int64(r.IntN(256)), 2) + "'" }},
	{"hex string", func(r *rand.Rand) string { return "X'" + strconv.FormatInt(int64(r.IntN(4096)), 16) + "'" }},
	{"boolean", func(r *rand.Rand) string { return []string{"true", "false", "NULL"}[r.IntN(3)] }},
}

func word(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	for range 1 + r.IntN(8) {
		b.WriteByte(letters[r.IntN(len(letters))])
	}
	return b.String()
}

// templates place one literal (%[1]s) in statements of many shapes.
var templates = []string{
	"SELECT id FROM t WHERE tenant = %[1]s",
	"SELECT id FROM t WHERE id IN (1, %[1]s, 3)",
	"SELECT id FROM t WHERE id = ANY(ARRAY[%[1]s])",
	"SELECT %[1]s",
	"SELECT CAST(%[1]s AS text) FROM t",
	"SELECT (%[1]s)::text FROM t LIMIT 2",
	"SELECT id FROM t WHERE a = @a AND b = %[1]s",
	"SELECT id FROM t WHERE a = $1 AND b = %[1]s",
	"SELECT id FROM t ORDER BY id LIMIT 10 OFFSET %[1]s",
	"WITH c AS (SELECT %[1]s AS v) SELECT * FROM t, c",
	"SELECT id FROM t WHERE x = (SELECT max(y) FROM u WHERE z = %[1]s)",
	"SELECT json_build_object('k', %[1]s)",
	"SELECT id FROM t WHERE a = 1 AND b = %[1]s AND c = 'x'",
}

// TestKeyHoldsEveryLiteral is the property test of the key: statements
// that differ only in one literal never share a key (with the same
// arguments, settings and session), whatever the literal's kind and place.
func TestKeyHoldsEveryLiteral(t *testing.T) {
	c := testCache(t)
	r := rand.New(rand.NewPCG(1, 2))
	args := []any{pgx.NamedArgs{"a": 1}}
	pairs := 0
	for _, tmpl := range templates {
		for _, kind := range literalKinds {
			for range 20 {
				la, lb := kind.render(r), kind.render(r)
				if la == lb {
					continue
				}
				a, b := fmt.Sprintf(tmpl, la), fmt.Sprintf(tmpl, lb)
				ia, ib := sqlinfo.Analyze(a), sqlinfo.Analyze(b)
				ka, err := c.buildKey(ia, nil, nil, args)
				require.NoError(t, err, a)
				kb, err := c.buildKey(ib, nil, nil, args)
				require.NoError(t, err, b)
				require.NotEqual(t, ka, kb, "%s (%s)\n%q\n%q", tmpl, kind.name, a, b)
				// The plan's digest gives the same key as buildKey's own.
				d := c.stmtDigest(ia)
				again, err := c.buildKey(ia, &d, nil, args)
				require.NoError(t, err)
				require.Equal(t, ka, again)
				pairs++
			}
		}
	}
	require.Greater(t, pairs, 4000)
}

// TestKeyLiteralExamples pins the examples of the issue: the fingerprint
// and the normalized text are the same, the keys are not.
func TestKeyLiteralExamples(t *testing.T) {
	c := testCache(t)
	for _, pair := range [][2]string{
		{"SELECT * FROM docs WHERE id = 1", "SELECT * FROM docs WHERE id = 2"},
		{"SELECT * FROM docs WHERE tenant = 'acme'", "SELECT * FROM docs WHERE tenant = 'globex'"},
		{"SELECT * FROM docs WHERE id IN (1, 2, 3)", "SELECT * FROM docs WHERE id IN (1, 2, 4)"},
		{"SELECT * FROM docs WHERE n = -1", "SELECT * FROM docs WHERE n = 1"},
		{"SELECT * FROM docs WHERE f = 1.5", "SELECT * FROM docs WHERE f = 1.25"},
		{"SELECT * FROM docs WHERE s = $$a$$", "SELECT * FROM docs WHERE s = $$b$$"},
		{`SELECT * FROM docs WHERE s = E'a\n'`, `SELECT * FROM docs WHERE s = E'b\n'`},
		{"SELECT * FROM docs WHERE tags = '{a,b}'::text[]", "SELECT * FROM docs WHERE tags = '{a,c}'::text[]"},
	} {
		ia, ib := sqlinfo.Analyze(pair[0]), sqlinfo.Analyze(pair[1])
		require.Equal(t, ia.Normalized, ib.Normalized, "the normalized texts are the same")
		ka, err := c.buildKey(ia, nil, nil, nil)
		require.NoError(t, err)
		kb, err := c.buildKey(ib, nil, nil, nil)
		require.NoError(t, err)
		require.NotEqual(t, ka, kb, "%s / %s", pair[0], pair[1])
		require.NotContains(t, ka, "docs", "no SQL text in key names")
	}
}

// TestKeyRefusesClockArguments: a string argument that a date/time
// parameter would read as the current time is not keyed.
func TestKeyRefusesClockArguments(t *testing.T) {
	c := testCache(t)
	info := sqlinfo.Analyze("SELECT id FROM t WHERE created_at < $1")
	for _, tc := range []struct {
		name string
		args []any
		err  error
	}{
		{"now", []any{"now"}, errClockArg},
		{"Today padded", []any{" Today "}, errClockArg},
		{"tomorrow with time", []any{"tomorrow 10:00"}, errClockArg},
		{"in a slice", []any{[]string{"2024-01-01", "yesterday"}}, errClockArg},
		{"named value", []any{pgx.NamedArgs{"t": "now"}}, errClockArg},
		{"named args called now", []any{pgx.NamedArgs{"now": 1, "today": "2024-01-01"}}, nil},
		{"plain words", []any{"snow", "know", "epoch"}, nil},
		{"date", []any{"2024-01-01"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.buildKey(info, nil, nil, tc.args)
			if tc.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.err)
			}
		})
	}
}
