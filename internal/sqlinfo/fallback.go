package sqlinfo

import (
	"strconv"
	"strings"
)

// maxParamNumber caps $n numbers read by the lexer so that absurd digits
// cannot overflow; Postgres itself rejects numbers above 2^31-1.
const maxParamNumber = 1<<31 - 1

// sqlcCommands are the query annotations sqlc writes after "-- name: X".
var sqlcCommands = map[string]bool{
	":one": true, ":many": true, ":exec": true, ":execrows": true, ":execresult": true,
	":execlastid": true, ":batchexec": true, ":batchmany": true, ":batchone": true, ":copyfrom": true,
}

// sqlcHeader returns the query name and command of a leading sqlc comment
// ("-- name: GetUser :one"), looking only at the comments before the first
// SQL token. Both are empty when there is no such comment.
func sqlcHeader(sql string) (name, command string) {
	l := lexer{src: sql}
	for {
		t := l.next()
		switch t.kind {
		case tokSpace:
			continue
		case tokComment:
			text := sql[t.start:t.end]
			if !strings.HasPrefix(text, "--") {
				continue
			}
			body := strings.TrimSpace(text[2:])
			rest, ok := strings.CutPrefix(body, "name:")
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) >= 2 && sqlcCommands[f[1]] {
				return f[0], f[1]
			}
			continue
		}
		return "", ""
	}
}

// rewriteNamedArgs replaces pgx named arguments (@name outside quotes and
// comments) by $1, $2, … in order of first appearance, the way
// pgx.NamedArgs rewrites a query before sending it. It returns sql itself
// and nil when the text has no named argument.
func rewriteNamedArgs(sql string) (string, []string) {
	l := lexer{src: sql}
	first := -1
	for t := l.next(); t.kind != tokEOF; t = l.next() {
		if t.kind == tokNamedArg {
			first = t.start
			break
		}
	}
	if first < 0 {
		return sql, nil
	}
	var b strings.Builder
	b.Grow(len(sql))
	b.WriteString(sql[:first])
	var names []string
	ordinal := make(map[string]int)
	l = lexer{src: sql, pos: first}
	for t := l.next(); t.kind != tokEOF; t = l.next() {
		if t.kind != tokNamedArg {
			b.WriteString(sql[t.start:t.end])
			continue
		}
		name := sql[t.start+1 : t.end]
		n, ok := ordinal[name]
		if !ok {
			names = append(names, name)
			n = len(names)
			ordinal[name] = n
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String(), names
}

// fallbackNormalize normalizes text that pg_query cannot parse: comments
// are dropped, runs of whitespace become one space, string and numeric
// literals become '?', unquoted words are lower-cased, and $n placeholders
// and everything else are kept. It also returns the highest $n seen.
func fallbackNormalize(sql string) (normalized string, params int) {
	var b strings.Builder
	b.Grow(len(sql))
	l := lexer{src: sql}
	space := false
	for t := l.next(); t.kind != tokEOF; t = l.next() {
		switch t.kind {
		case tokSpace, tokComment:
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		text := sql[t.start:t.end]
		switch t.kind {
		case tokString, tokNumber:
			b.WriteByte('?')
		case tokParam:
			b.WriteString(text)
			params = max(params, paramNumber(text[1:]))
		case tokIdent:
			writeLowerASCII(&b, text)
		default:
			b.WriteString(text)
		}
	}
	return b.String(), params
}

// paramNumber parses the digits of a $n placeholder, saturating at
// maxParamNumber.
func paramNumber(digits string) int {
	n := 0
	for i := 0; i < len(digits); i++ {
		n = n*10 + int(digits[i]-'0')
		if n > maxParamNumber {
			return maxParamNumber
		}
	}
	return n
}

func writeLowerASCII(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
}

// fnv1a64 is the 64-bit FNV-1a hash: stable across processes and versions,
// which a fingerprint must be.
func fnv1a64(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// hex16 formats v as 16 lower-case hex digits, as pg_query prints fingerprints.
func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	var buf [16]byte
	for i := 15; i >= 0; i-- {
		buf[i] = digits[v&0xf]
		v >>= 4
	}
	return string(buf[:])
}
