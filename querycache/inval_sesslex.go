package querycache

import "strings"

// Reading session statements: which settings a statement text changes,
// by a small linear token reader (never a parser: it must not fail on any text).

type sessOpKind uint8

const (
	opSet         sessOpKind = iota // the setting name now differs from the session's
	opClear                         // the setting name is back to the session's
	opResetAll                      // RESET ALL: every setting but the role and session authorization
	opDiscardTemp                   // DISCARD TEMP: temporary objects dropped
	opDiscardAll                    // DISCARD ALL: everything back to the session's start
)

type sessOp struct {
	kind sessOpKind
	name string // lower case; "pg_temp" for temporary objects, "*" for an unknown setting
}

// sessionOps reads what the statements of sql do to session state that the
// cache key does not hold: SET, RESET, DISCARD, SET ROLE, SET SESSION
// AUTHORIZATION, set_config(…, false), temporary tables, LOAD. It reads
// tokens, not a parse tree (so it works without the parser and never
// fails): it errs on the side of reporting a change.
func sessionOps(sql string) []sessOp {
	var ops []sessOp
	lx := sessLexer{src: sql}
	var stmt []sessTok
	for {
		t := lx.next()
		if t.kind == stEOF || (t.kind == stOther && t.text == ";") {
			ops = stmtSessionOps(stmt, ops)
			stmt = stmt[:0]
			if t.kind == stEOF {
				return ops
			}
			continue
		}
		if len(stmt) < 1<<16 {
			stmt = append(stmt, t)
		}
	}
}

// stmtSessionOps appends what one statement does.
func stmtSessionOps(toks []sessTok, ops []sessOp) []sessOp {
	for len(toks) > 0 && toks[0].is("(") {
		toks = toks[1:] // (SELECT …)
	}
	if len(toks) == 0 {
		return ops
	}
	word := func(k int) string {
		if k < len(toks) && (toks[k].kind == stIdent || toks[k].kind == stQIdent) {
			return toks[k].text
		}
		return ""
	}
	set := func(name string) { ops = append(ops, sessOp{kind: opSet, name: name}) }
	clr := func(name string) { ops = append(ops, sessOp{kind: opClear, name: name}) }
	isDefault := func(k int) bool { return word(k) == "default" && toks[k].kind == stIdent }
	switch word(0) {
	case "set":
		k := 1
		switch word(1) {
		case "local":
			return ops // ends with the transaction
		case "transaction", "constraints":
			return ops
		case "session":
			k = 2
			switch word(2) {
			case "authorization":
				if isDefault(3) {
					clr("session_authorization")
					clr("role")
				} else {
					set("session_authorization")
				}
				return ops
			case "characteristics":
				set("default_transaction_isolation")
				return ops
			}
		}
		switch word(k) {
		case "role":
			if word(k+1) == "none" || isDefault(k+1) {
				clr("role")
			} else {
				set("role")
			}
			return ops
		case "time":
			if word(k+1) == "zone" {
				if v := word(k + 2); (v == "local" || v == "default") && toks[k+2].kind == stIdent {
					clr("timezone")
				} else {
					set("timezone")
				}
				return ops
			}
		case "names":
			set("client_encoding")
			return ops
		case "schema":
			set("search_path")
			return ops
		case "xml":
			set("xmloption")
			return ops
		}
		name, n := dottedName(toks[k:])
		if name == "" {
			set("*")
			return ops
		}
		v := k + n
		if v < len(toks) && (toks[v].is("=") || word(v) == "to") {
			v++
		}
		if isDefault(v) && v+1 == len(toks) {
			clr(name)
		} else {
			set(name)
		}
		return ops
	case "reset":
		switch word(1) {
		case "all":
			return append(ops, sessOp{kind: opResetAll})
		case "role":
			clr("role")
			return ops
		case "session":
			if word(2) == "authorization" {
				clr("session_authorization")
				clr("role")
				return ops
			}
		case "time":
			if word(2) == "zone" {
				clr("timezone")
				return ops
			}
		}
		if name, _ := dottedName(toks[1:]); name != "" {
			clr(name)
		}
		return ops
	case "discard":
		switch word(1) {
		case "all":
			return append(ops, sessOp{kind: opDiscardAll})
		case "temp", "temporary":
			return append(ops, sessOp{kind: opDiscardTemp})
		}
		return ops
	case "load":
		set("load")
		return ops
	}
	// Anywhere in the statement: set_config(…), temporary objects.
	create := word(0) == "create"
	for k := 0; k < len(toks); k++ {
		t := toks[k]
		if t.kind != stIdent && t.kind != stQIdent {
			continue
		}
		switch {
		case t.text == "set_config" && k+1 < len(toks) && toks[k+1].is("("):
			if name, local := setConfigCall(toks[k+2:]); !local {
				set(name)
			}
		case t.text == "pg_temp" && k+1 < len(toks) && toks[k+1].is("."):
			if create || (k > 0 && toks[k-1].kind == stIdent && toks[k-1].text == "into") {
				set("pg_temp") // CREATE TABLE pg_temp.t, SELECT … INTO pg_temp.t
			}
		case t.kind == stIdent && (t.text == "temp" || t.text == "temporary"):
			after := word(k + 1)
			switch {
			case create && k <= 4 && (after == "table" || after == "view" || after == "sequence" || after == "recursive"):
				set("pg_temp") // CREATE [OR REPLACE] [LOCAL|GLOBAL] TEMP TABLE|VIEW|SEQUENCE …
			case k > 0 && toks[k-1].kind == stIdent && toks[k-1].text == "into" && word(0) != "insert" &&
				after != "" && after != "values" && after != "select" && after != "default":
				set("pg_temp") // SELECT … INTO TEMP [TABLE] t
			}
		}
	}
	return ops
}

// dottedName reads a setting name (name or name.name…) from toks, in lower
// case, with the number of tokens it took.
func dottedName(toks []sessTok) (string, int) {
	var b strings.Builder
	n := 0
	for n < len(toks) {
		t := toks[n]
		if t.kind != stIdent && t.kind != stQIdent {
			break
		}
		b.WriteString(strings.ToLower(t.text))
		n++
		if n+1 < len(toks) && toks[n].is(".") {
			b.WriteByte('.')
			n++
			continue
		}
		break
	}
	return b.String(), n
}

// setConfigCall reads set_config's arguments (toks start after its "("):
// the setting's name ("*" when not a constant) and whether is_local is the
// constant true.
func setConfigCall(toks []sessTok) (name string, local bool) {
	var args [][]sessTok
	depth, start := 0, 0
	for k, t := range toks {
		switch {
		case t.is("(") || t.is("["):
			depth++
		case (t.is(")") || t.is("]")) && depth > 0:
			depth--
		case t.is(")"):
			args = append(args, toks[start:k])
			goto done
		case t.is(",") && depth == 0:
			args = append(args, toks[start:k])
			start = k + 1
		}
	}
	return "*", false // unterminated: assume the worst
done:
	name = "*"
	if len(args) > 0 && len(args[0]) == 1 && args[0][0].kind == stString {
		name = strings.ToLower(strings.TrimSpace(args[0][0].text))
	}
	if len(args) == 3 && len(args[2]) == 1 {
		a := args[2][0]
		switch {
		case a.kind == stIdent && a.text == "true":
			local = true
		case a.kind == stString:
			switch strings.ToLower(strings.TrimSpace(a.text)) {
			case "t", "true", "on", "yes", "y", "1":
				local = true
			}
		}
	}
	return name, local
}

type sessTokKind uint8

const (
	stEOF    sessTokKind = iota
	stIdent              // an identifier or keyword, in lower case
	stQIdent             // a quoted identifier, as written
	stString             // a string constant's raw content (escapes not applied)
	stOther              // anything else: one byte, or a number or parameter
)

type sessTok struct {
	kind sessTokKind
	text string
}

func (t sessTok) is(s string) bool { return t.kind == stOther && t.text == s }

// sessLexer splits SQL into tokens, skipping whitespace and comments. It
// accepts any input, never panics, and runs in time linear in its length.
type sessLexer struct {
	src string
	pos int
}

func (l *sessLexer) next() sessTok {
	s := l.src
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '-' && l.pos+1 < len(s) && s[l.pos+1] == '-':
			for l.pos < len(s) && s[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.pos+1 < len(s) && s[l.pos+1] == '*':
			depth := 0
			for l.pos < len(s) {
				if s[l.pos] == '/' && l.pos+1 < len(s) && s[l.pos+1] == '*' {
					depth++
					l.pos += 2
				} else if s[l.pos] == '*' && l.pos+1 < len(s) && s[l.pos+1] == '/' {
					depth--
					l.pos += 2
					if depth == 0 {
						break
					}
				} else {
					l.pos++
				}
			}
		case c == '\'':
			return l.quoted('\'', false)
		case (c == 'e' || c == 'E') && l.pos+1 < len(s) && s[l.pos+1] == '\'':
			l.pos++
			return l.quoted('\'', true)
		case c == '"':
			t := l.quoted('"', false)
			t.kind = stQIdent
			return t
		case c == '$' && l.pos+1 < len(s) && !isDigit(s[l.pos+1]):
			if t, ok := l.dollar(); ok {
				return t
			}
			l.pos++
			return sessTok{kind: stOther, text: "$"}
		case isIdentStart(c):
			start := l.pos
			for l.pos < len(s) && isIdentPart(s[l.pos]) {
				l.pos++
			}
			return sessTok{kind: stIdent, text: strings.ToLower(s[start:l.pos])}
		case isDigit(c) || c == '$':
			start := l.pos
			l.pos++
			for l.pos < len(s) && (isIdentPart(s[l.pos]) || s[l.pos] == '.') {
				l.pos++
			}
			return sessTok{kind: stOther, text: s[start:l.pos]}
		default:
			l.pos++
			return sessTok{kind: stOther, text: s[l.pos-1 : l.pos]}
		}
	}
	return sessTok{kind: stEOF}
}

// quoted reads a quoted string or identifier (doubled quotes escape one;
// with backslash, backslashes escape too). An unterminated one ends the text.
func (l *sessLexer) quoted(q byte, backslash bool) sessTok {
	s := l.src
	l.pos++
	start := l.pos
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case backslash && c == '\\':
			l.pos += 2
		case c == q && l.pos+1 < len(s) && s[l.pos+1] == q:
			l.pos += 2
		case c == q:
			l.pos++
			return sessTok{kind: stString, text: s[start : l.pos-1]}
		default:
			l.pos++
		}
	}
	l.pos = len(s)
	return sessTok{kind: stString, text: s[start:]}
}

// dollar reads a $tag$…$tag$ string at l.pos.
func (l *sessLexer) dollar() (sessTok, bool) {
	s := l.src
	end := l.pos + 1
	for end < len(s) && s[end] != '$' {
		if !isIdentPart(s[end]) {
			return sessTok{}, false
		}
		end++
	}
	if end >= len(s) {
		return sessTok{}, false
	}
	tag := s[l.pos : end+1]
	body := end + 1
	k := strings.Index(s[body:], tag)
	if k < 0 {
		l.pos = len(s)
		return sessTok{kind: stString, text: s[body:]}, true
	}
	l.pos = body + k + len(tag)
	return sessTok{kind: stString, text: s[body : body+k]}, true
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) || c == '$' }
