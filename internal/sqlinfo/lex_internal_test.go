package sqlinfo

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func tokens(src string) []string {
	var out []string
	l := lexer{src: src}
	for t := l.next(); t.kind != tokEOF; t = l.next() {
		if t.kind != tokSpace {
			out = append(out, string("?sCSQNPAIO"[t.kind])+":"+src[t.start:t.end])
		}
	}
	return out
}

// TestLexer checks token boundaries for every token kind.
func TestLexer(t *testing.T) {
	cases := map[string][]string{
		"SELECT a1$b FROM t":                {"I:SELECT", "I:a1$b", "I:FROM", "I:t"},
		"'it''s' E'a\\'b' B'01' x'1F' N'n'": {"S:'it''s'", "S:E'a\\'b'", "S:B'01'", "S:x'1F'", "S:N'n'"},
		`"Quoted ""id""" U&"d\0061t"`:       {`Q:"Quoted ""id"""`, `Q:U&"d\0061t"`},
		"$1 $23 $$x$$ $tag$ $ $tag$ $":      {"P:$1", "P:$23", "S:$$x$$", "S:$tag$ $ $tag$", "O:$"},
		"1 1.5 .5 1e10 1E-3 0xFF 1_000 7.":  {"N:1", "N:1.5", "N:.5", "N:1e10", "N:1E-3", "N:0xFF", "N:1_000", "N:7."},
		"a -- c\nb /* x /* y */ z */ c":     {"I:a", "C:-- c", "I:b", "C:/* x /* y */ z */", "I:c"},
		"@id @_x @1 a@>b <@c":               {"A:@id", "A:@_x", "O:@", "N:1", "I:a", "O:@", "O:>", "I:b", "O:<", "A:@c"},
		"x::int[] <= 1..2":                  {"I:x", "O::", "O::", "I:int", "O:[", "O:]", "O:<", "O:=", "N:1", "O:.", "N:.2"},
		"'open":                             {"S:'open"},
		`"open`:                             {`Q:"open`},
		"/* open":                           {"C:/* open"},
		"$q$ open":                          {"S:$q$ open"},
		"E'\\":                              {"S:E'\\"},
	}
	for src, want := range cases {
		require.Equal(t, want, tokens(src), src)
	}
}

// TestLexerTotal checks that the lexer consumes every input completely,
// whatever the bytes, and makes progress on each token.
func TestLexerTotal(t *testing.T) {
	inputs := []string{"", "\x00", "\xff\xfe", "$", "$$", "$a", "'", "E'", "U&", "U&'", "-", "/", "/*/", "@", "1e", "1e+", "0x", ".", "\\"}
	for i := 0; i < 256; i++ {
		inputs = append(inputs, string([]byte{byte(i)}), "a"+string([]byte{byte(i)})+"'b")
	}
	for _, src := range inputs {
		l := lexer{src: src}
		end := 0
		for tok := l.next(); tok.kind != tokEOF; tok = l.next() {
			require.Equal(t, end, tok.start, "%q", src)
			require.Greater(t, tok.end, tok.start, "%q", src)
			end = tok.end
		}
		require.Equal(t, len(src), end, "%q", src)
	}
}

// TestRewriteNamedArgs checks the pgx-compatible @name rewriting.
func TestRewriteNamedArgs(t *testing.T) {
	got, names := rewriteNamedArgs("SELECT @b, @a, @b, '@c', \"@d\", @a1 -- @e\n")
	require.Equal(t, "SELECT $1, $2, $1, '@c', \"@d\", $3 -- @e\n", got)
	require.Equal(t, []string{"b", "a", "a1"}, names)

	same := "SELECT a @> b, c <@ d, @ e"
	got, names = rewriteNamedArgs(same)
	require.Equal(t, same, got)
	require.Nil(t, names)
}

// TestFallbackNormalize checks the fallback normal form and $n counting.
func TestFallbackNormalize(t *testing.T) {
	norm, params := fallbackNormalize("  SELECT  'a',\n1.5 ,$2,$10 FROM \"T\" -- x\n/* y */ WHERE")
	require.Equal(t, "select ?, ? ,$2,$10 from \"T\" where", norm)
	require.Equal(t, 10, params)

	_, params = fallbackNormalize("$99999999999999999999999")
	require.Equal(t, maxParamNumber, params)

	norm, _ = fallbackNormalize(strings.Repeat(" ", 10))
	require.Equal(t, "", norm)
}

// TestSQLCHeaderInternal checks header parsing details.
func TestSQLCHeaderInternal(t *testing.T) {
	name, cmd := sqlcHeader("-- name: A :one extra words\nSELECT 1")
	require.Equal(t, "A", name)
	require.Equal(t, ":one", cmd)
	name, cmd = sqlcHeader("-- name: A\n-- name: B :many\nSELECT 1")
	require.Equal(t, "B", name)
	require.Equal(t, ":many", cmd)
}

// TestHex16 checks fingerprint formatting.
func TestHex16(t *testing.T) {
	require.Equal(t, "0000000000000000", hex16(0))
	require.Equal(t, "00000000000000ff", hex16(255))
	require.Equal(t, "ffffffffffffffff", hex16(^uint64(0)))
}
