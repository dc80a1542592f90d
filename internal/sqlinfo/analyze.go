package sqlinfo

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// errNUL is the ParseError of text with a NUL byte, which Postgres rejects.
var errNUL = errors.New("sqlinfo: SQL text contains a NUL byte")

// AnalyzeUncached analyzes sql without consulting or filling any cache. It
// never returns nil and never panics: text that pg_query cannot parse gets
// a fallback analysis (Kind KindUnparsed, Fallback true). Safe for
// concurrent use; each call parses the text again (tens of microseconds).
func AnalyzeUncached(sql string) *Info {
	return analyze(sql)
}

// analyze is the uncached analysis. A panic anywhere below (pg_query's Go
// side, protobuf decoding, this package) turns into a fallback result; a
// crash inside pg_query's C code cannot be recovered and is not guarded.
func analyze(sql string) (info *Info) {
	defer func() {
		if r := recover(); r != nil {
			info = panicInfo(sql, r)
		}
	}()
	if testHook != nil {
		testHook(sql)
	}

	text, named := rewriteNamedArgs(sql)
	if strings.IndexByte(text, 0) >= 0 {
		// pg_query reads a C string and would see only the text before the
		// NUL; the server rejects such a message. Never call it read-only.
		return fallback(sql, named, errNUL)
	}
	if err := prescan(text); err != nil {
		// Beyond what the C parser handles safely (see prescan).
		return fallback(sql, named, err)
	}
	tree, err := pgParse(text)
	if err != nil {
		return fallback(sql, named, err)
	}
	fp, err := pgFingerprint(text)
	if err != nil {
		return fallback(sql, named, err)
	}
	info = &Info{Fingerprint: fp, FingerprintHex: hex16(fp), NamedArgs: named, Text: sql}
	info.SQLCName, info.SQLCCommand = sqlcHeader(sql)

	if len(tree.Stmts) == 0 {
		info.Kind, info.Reason = KindEmpty, ReasonEmpty
		return info
	}
	info.Normalized = normalize(text, sql)

	var w walker
	for _, raw := range tree.Stmts {
		w.stmt(raw.Stmt)
	}
	if len(tree.Stmts) > 1 {
		info.Kind, info.Reason = KindMulti, ReasonMulti
	} else {
		classify(info, tree.Stmts[0].Stmt, &w)
		info.Paged, info.CursorParams = isPaged(tree.Stmts[0].Stmt)
	}
	info.TablesRead = sortedSet(w.read)
	info.TablesWritten = sortedSet(w.written)
	info.Functions = sortedSet(w.funcs)
	info.Calls = sortedCalls(w.calls)
	info.Volatile = w.volatile
	for _, f := range info.Functions {
		if classifyFunc(f) == funcUnknown {
			info.UnknownFunctions = append(info.UnknownFunctions, f)
		}
	}
	info.Locking = joinLockings(w.lockings)
	info.HintPrimary, info.CacheHint, info.CacheTTL, info.NoCacheHint = readHints(sql)
	info.BatchShaped = w.batch
	info.Params = w.params
	return info
}

// normalize returns pg_query's normalized form of text. When it equals the
// original sql the original string is returned, so that a cache entry holds
// the text once.
func normalize(text, sql string) string {
	norm, err := pgNormalize(text)
	if err != nil {
		norm, _ = fallbackNormalize(text)
	}
	if norm == sql {
		return sql
	}
	return norm
}

// fallback builds the analysis of text pg_query could not parse (or of a
// panic, with err describing it).
func fallback(sql string, named []string, err error) *Info {
	text := sql
	if named != nil {
		text, _ = rewriteNamedArgs(sql)
	}
	norm, params := fallbackNormalize(text)
	fp := fnv1a64(norm)
	info := &Info{
		Fingerprint:    fp,
		FingerprintHex: hex16(fp),
		Fallback:       true,
		Normalized:     norm,
		Kind:           KindUnparsed,
		Reason:         ReasonParseError,
		Params:         params,
		NamedArgs:      named,
		ParseError:     err,
		Text:           sql,
	}
	info.SQLCName, info.SQLCCommand = sqlcHeader(sql)
	return info
}

// testHook, when set by a test, runs at the start of every analysis.
var testHook func(sql string)

// panicInfo is the analysis of a text whose analysis panicked with r: the
// fallback analysis, or, should that panic too, a bare unparsed result.
func panicInfo(sql string, r any) (info *Info) {
	err := fmt.Errorf("sqlinfo: analyzer panic: %v", r)
	defer func() {
		if recover() != nil {
			fp := fnv1a64(sql)
			info = &Info{Fingerprint: fp, FingerprintHex: hex16(fp), Fallback: true,
				Kind: KindUnparsed, Reason: ReasonParseError, ParseError: err, Text: sql}
		}
	}()
	return fallback(sql, nil, err)
}

// sortedSet sorts s and removes duplicates; nil stays nil.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Clip(slices.Compact(s))
}

func joinLockings(l []string) string {
	switch len(l) {
	case 0:
		return ""
	case 1:
		return l[0]
	}
	s := l[0]
	for _, x := range l[1:] {
		s += ", " + x
	}
	return s
}
