package sqlinfo

// This file holds a small, forgiving SQL lexer. It is used where the real
// Postgres parser cannot help: rewriting pgx named arguments before parsing,
// normalizing text that does not parse, and reading the sqlc header comment.
// It accepts any byte sequence (invalid UTF-8 and unterminated quotes
// included), never panics, and runs in time linear in the input.

// tokKind is the class of a lexical token.
type tokKind uint8

const (
	tokEOF      tokKind = iota
	tokSpace            // whitespace
	tokComment          // -- line comment or /* block comment */
	tokString           // '…', E'…', B'…', X'…', N'…', U&'…', $tag$…$tag$
	tokQIdent           // "quoted identifier" or U&"…"
	tokNumber           // 42, 3.14, 1e-5, 0xFF, 1_000
	tokParam            // $1
	tokNamedArg         // @name (pgx named argument)
	tokIdent            // identifier or keyword
	tokOther            // one byte of anything else (operators, punctuation)
)

// token is a half-open byte range [start, end) of the source with its kind.
type token struct {
	kind       tokKind
	start, end int
}

// lexer yields tokens of src one at a time.
type lexer struct {
	src string
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isIdentStart reports whether c can start an unquoted identifier. Bytes of
// multi-byte UTF-8 sequences count as letters, as in Postgres.
func isIdentStart(c byte) bool { return isASCIILetter(c) || c == '_' || c >= 0x80 }

func isIdentCont(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// peek returns the byte at pos+off, or 0 past the end.
func (l *lexer) peek(off int) byte {
	if i := l.pos + off; i < len(l.src) {
		return l.src[i]
	}
	return 0
}

// next returns the next token; kind tokEOF at the end.
func (l *lexer) next() token {
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tokEOF, start: start, end: start}
	}
	kind := l.scan()
	return token{kind: kind, start: start, end: l.pos}
}

// scan consumes one token starting at l.pos and returns its kind.
func (l *lexer) scan() tokKind {
	c := l.src[l.pos]
	switch {
	case isSpace(c):
		for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
			l.pos++
		}
		return tokSpace
	case c == '-' && l.peek(1) == '-':
		for l.pos < len(l.src) && l.src[l.pos] != '\n' {
			l.pos++
		}
		return tokComment
	case c == '/' && l.peek(1) == '*':
		l.blockComment()
		return tokComment
	case c == '\'':
		l.pos++
		l.quoted('\'', false)
		return tokString
	case c == '"':
		l.pos++
		l.quoted('"', false)
		return tokQIdent
	case (c == 'e' || c == 'E') && l.peek(1) == '\'':
		l.pos += 2
		l.quoted('\'', true)
		return tokString
	case (c|0x20 == 'b' || c|0x20 == 'x' || c|0x20 == 'n') && l.peek(1) == '\'':
		l.pos += 2
		l.quoted('\'', false)
		return tokString
	case (c == 'u' || c == 'U') && l.peek(1) == '&' && (l.peek(2) == '\'' || l.peek(2) == '"'):
		q := l.peek(2)
		l.pos += 3
		l.quoted(q, false)
		if q == '"' {
			return tokQIdent
		}
		return tokString
	case c == '$':
		return l.dollar()
	case c == '@' && (isASCIILetter(l.peek(1)) || l.peek(1) == '_'):
		l.pos++
		for l.pos < len(l.src) && (isASCIILetter(l.src[l.pos]) || isDigit(l.src[l.pos]) || l.src[l.pos] == '_') {
			l.pos++
		}
		return tokNamedArg
	case isDigit(c) || (c == '.' && isDigit(l.peek(1))):
		l.number()
		return tokNumber
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentCont(l.src[l.pos]) {
			l.pos++
		}
		return tokIdent
	}
	l.pos++
	return tokOther
}

// blockComment consumes a possibly nested /* … */ comment, or the rest of
// the text when it is not closed.
func (l *lexer) blockComment() {
	depth := 0
	for l.pos < len(l.src) {
		switch {
		case l.src[l.pos] == '/' && l.peek(1) == '*':
			depth++
			l.pos += 2
		case l.src[l.pos] == '*' && l.peek(1) == '/':
			depth--
			l.pos += 2
			if depth == 0 {
				return
			}
		default:
			l.pos++
		}
	}
}

// quoted consumes the body of a quoted token after its opening quote. A
// doubled quote is an escaped quote; with backslash set, a backslash escapes
// the next byte. An unterminated quote runs to the end of the text.
func (l *lexer) quoted(q byte, backslash bool) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case backslash && c == '\\':
			l.pos += 2
		case c == q && l.peek(1) == q:
			l.pos += 2
		case c == q:
			l.pos++
			return
		default:
			l.pos++
		}
	}
	l.pos = len(l.src)
}

// dollar consumes a $n parameter, a $tag$…$tag$ string or a lone '$'.
func (l *lexer) dollar() tokKind {
	if isDigit(l.peek(1)) {
		l.pos++
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
		return tokParam
	}
	// A dollar-quote tag is $$ or $ident$ where ident has no '$'.
	end := l.pos + 1
	if end < len(l.src) && isIdentStart(l.src[end]) {
		for end < len(l.src) && isIdentCont(l.src[end]) && l.src[end] != '$' {
			end++
		}
	}
	if end >= len(l.src) || l.src[end] != '$' {
		l.pos++
		return tokOther
	}
	tag := l.src[l.pos : end+1]
	body := end + 1
	for i := body; i+len(tag) <= len(l.src); i++ {
		if l.src[i] == '$' && l.src[i:i+len(tag)] == tag {
			l.pos = i + len(tag)
			return tokString
		}
	}
	l.pos = len(l.src)
	return tokString
}

// number consumes a numeric literal, including forms Postgres rejects
// ("123abc"): the normalizer only needs to know where it ends.
func (l *lexer) number() {
	start := l.pos
	hex := l.src[start] == '0' && l.peek(1)|0x20 == 'x'
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isDigit(c) || isASCIILetter(c) || c == '_':
			l.pos++
		case c == '.' && l.peek(1) != '.':
			l.pos++
		case (c == '+' || c == '-') && !hex && l.pos > start && l.src[l.pos-1]|0x20 == 'e' && isDigit(l.peek(1)):
			l.pos++
		default:
			return
		}
	}
}
