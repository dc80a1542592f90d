package sqlinfo

import (
	"errors"
	"fmt"
)

// The real Postgres parser (pg_query, C) is only given text it can handle
// safely. Its recursion is not bounded everywhere: a left-deep expression of
// some 25,000 terms ("1+1+1…", "'a'||'a'…", 50 KB of text) overflows the C
// stack and kills the process with SIGSEGV, which no recover can catch; and
// deeply nested comments cost it quadratic time (10,000 levels: seconds).
// prescan is a linear pass over the lexer's tokens that estimates how deep
// the parse tree can get and rejects text beyond fixed bounds; such text gets
// the lexer-based fallback analysis (Kind KindUnparsed: the primary, never
// cached, fingerprinted by its normalized tokens). Postgres itself then
// answers the statement.
const (
	// maxParseTokens bounds the tokens given to the parser (spaces and
	// comments aside): analysis costs about 2 µs a token (a 1 MiB IN list,
	// 300,000 tokens: 0.7 s), and the statement waits for it once.
	// maxParseBytes bounds the text, however few its tokens (long string
	// literals are cheap to parse).
	maxParseTokens = 32 << 10
	maxParseBytes  = 4 << 20
	// maxParseDepth bounds the estimated depth of the parse tree: the
	// parser handled 2,000 chained terms and crashed at 25,000.
	maxParseDepth = 1000
	// maxCommentDepth bounds the nesting of /* */ comments.
	maxCommentDepth = 64
)

// errTooComplex is the ParseError of text beyond prescan's bounds.
var errTooComplex = errors.New("sqlinfo: text too large or too deeply nested to parse safely")

// prescan returns nil when text is within the bounds, else an error
// wrapping errTooComplex that says which bound.
//
// The depth estimate counts, along the current nesting path, every opening
// parenthesis, bracket or CASE, and every operator, UNION, INTERSECT,
// EXCEPT or NOT chained at each level (a chain ends at a comma, a semicolon
// or two operands side by side, as in "x AND y": AND and OR lists are flat
// in the parse tree). It over-estimates rather than under-estimates.
func prescan(text string) error {
	if len(text) > maxParseBytes {
		return fmt.Errorf("%w: %d bytes (bound %d)", errTooComplex, len(text), maxParseBytes)
	}
	chains := make([]int, 1, 16) // chain length per nesting level
	sum := 0                     // sum of chains
	maxDepth := 0
	prevOperand, prevOperator := false, false
	endChain := func() {
		sum -= chains[len(chains)-1]
		chains[len(chains)-1] = 0
	}
	chain := func() {
		chains[len(chains)-1]++
		sum++
	}
	push := func() { chains = append(chains, 0) }
	pop := func() {
		if len(chains) > 1 {
			sum -= chains[len(chains)-1]
			chains = chains[:len(chains)-1]
		}
	}
	tokens := 0
	l := lexer{src: text}
	for t := l.next(); t.kind != tokEOF; t = l.next() {
		if t.kind != tokSpace && t.kind != tokComment {
			if tokens++; tokens > maxParseTokens {
				return fmt.Errorf("%w: more than %d tokens", errTooComplex, maxParseTokens)
			}
		}
		switch t.kind {
		case tokSpace:
			prevOperator = false // "- -1" is two operators, "||" one
			continue
		case tokComment:
			prevOperator = false
			if d := commentDepth(text[t.start:t.end]); d > maxCommentDepth {
				return fmt.Errorf("%w: comments nested %d deep (bound %d)", errTooComplex, d, maxCommentDepth)
			}
			continue
		case tokOther:
			switch c := text[t.start]; c {
			case '(', '[':
				push()
				prevOperand, prevOperator = false, false
			case ')', ']':
				pop()
				prevOperand, prevOperator = true, false
			case ',', ';':
				endChain()
				prevOperand, prevOperator = false, false
			default:
				if !prevOperator { // one count per run of operator bytes ("||", "::", "<=")
					chain()
				}
				prevOperand, prevOperator = false, true
			}
		case tokIdent:
			switch word := text[t.start:t.end]; {
			case equalFoldASCII(word, "union"), equalFoldASCII(word, "intersect"),
				equalFoldASCII(word, "except"), equalFoldASCII(word, "not"):
				chain()
				prevOperand, prevOperator = false, false
			case equalFoldASCII(word, "case"):
				push()
				prevOperand, prevOperator = false, false
			case equalFoldASCII(word, "end"):
				pop()
				prevOperand, prevOperator = true, false
			default:
				if prevOperand {
					endChain()
				}
				prevOperand, prevOperator = true, false
			}
		default: // strings, numbers, parameters, quoted identifiers
			if prevOperand {
				endChain()
			}
			prevOperand, prevOperator = true, false
		}
		if d := len(chains) - 1 + sum; d > maxDepth {
			maxDepth = d
			if maxDepth > maxParseDepth {
				return fmt.Errorf("%w: nesting estimated deeper than %d", errTooComplex, maxParseDepth)
			}
		}
	}
	return nil
}

// commentDepth returns the deepest nesting of a /* */ comment token.
func commentDepth(c string) int {
	depth, deepest := 0, 0
	for i := 0; i+1 < len(c); i++ {
		switch {
		case c[i] == '/' && c[i+1] == '*':
			depth++
			deepest = max(deepest, depth)
			i++
		case c[i] == '*' && c[i+1] == '/':
			depth--
			i++
		}
	}
	return deepest
}

// equalFoldASCII reports whether s equals the lower-case ASCII word w,
// ignoring ASCII case.
func equalFoldASCII(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}
