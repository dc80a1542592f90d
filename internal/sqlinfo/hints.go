package sqlinfo

import (
	"strings"
	"time"
)

// readHints reads the comment hints of a text: /* pgxperf:primary */,
// /* pgxperf:cache ttl=… */ and /* pgxperf:nocache */ (or the same after
// --). Only comments count: a string literal, a dollar-quoted body or a
// quoted identifier that holds the same words is data, not a hint, and
// must neither force the primary nor turn caching on. A ttl that does not
// parse as a positive time.Duration is ignored (the cache's default TTL
// applies). Texts without "pgxperf:" cost one substring search.
func readHints(sql string) (primary, cache bool, ttl time.Duration, nocache bool) {
	if !strings.Contains(sql, "pgxperf:") {
		return false, false, 0, false
	}
	lx := lexer{src: sql}
	for tok := lx.next(); tok.kind != tokEOF; tok = lx.next() {
		if tok.kind != tokComment {
			continue
		}
		text := sql[tok.start:tok.end]
		if !strings.Contains(text, "pgxperf:") {
			continue
		}
		primary = primary || strings.Contains(text, HintPrimary)
		nocache = nocache || strings.Contains(text, HintNoCache)
		if !cache {
			cache, ttl = cacheHint(text)
		}
	}
	return primary, cache, ttl, nocache
}

// cacheHint reads pgxperf:cache and its optional ttl= in one comment.
func cacheHint(comment string) (hint bool, ttl time.Duration) {
	for i := strings.Index(comment, HintCache); i >= 0; {
		rest := comment[i+len(HintCache):]
		// pgxperf:cache must end there: not pgxperf:cachex.
		if rest == "" || !isIdentByte(rest[0]) {
			rest = strings.TrimLeft(rest, " \t")
			if v, ok := strings.CutPrefix(rest, "ttl="); ok {
				end := strings.IndexAny(v, " \t\r\n*/")
				if end < 0 {
					end = len(v)
				}
				if d, err := time.ParseDuration(v[:end]); err == nil && d > 0 {
					ttl = d
				}
			}
			return true, ttl
		}
		j := strings.Index(rest, HintCache)
		if j < 0 {
			break
		}
		i += len(HintCache) + j
	}
	return false, 0
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
