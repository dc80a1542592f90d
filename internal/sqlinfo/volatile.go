package sqlinfo

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// clockWords are the special date/time input values that Postgres replaces
// with the time of the call when it converts a string to a date/time type
// ('now', 'today', 'tomorrow', 'yesterday'; 'epoch', 'infinity' and
// 'allballs' are fixed). They are accepted in any case, with other fields
// around them ('tomorrow 10:00', '10:00 tomorrow'), inside array, range
// and composite literals ('{now,today}'), and after escape processing
// (E'no\x77').
var clockWords = [...]string{"now", "today", "tomorrow", "yesterday"}

// HasClockWord reports whether s holds one of the clock-relative date/time
// input words (now, today, tomorrow, yesterday) as a run of ASCII letters
// of its own, in any case: "now", " Today ", "{now,x}", "10:00 tomorrow",
// "now()" do, "know", "nowhere" and "snow" do not. A string for which it is
// false is never converted to a time that depends on the clock. It runs in
// time linear in len(s) and does not allocate.
func HasClockWord(s string) bool {
	for i := 0; i < len(s); {
		if !isASCIILetter(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isASCIILetter(s[j]) {
			j++
		}
		if n := j - i; n >= 3 && n <= 9 {
			for _, w := range clockWords {
				if strings.EqualFold(s[i:j], w) {
					return true
				}
			}
		}
		i = j
	}
	return false
}

// systemColumns are the columns every table has that are not part of its
// rows' values: they change with VACUUM FULL, CLUSTER, updates and
// transactions without a write the cache can see, or name the table's OID.
var systemColumns = map[string]bool{
	"ctid": true, "xmin": true, "xmax": true, "cmin": true, "cmax": true, "tableoid": true,
}

func (w *walker) setVolatile(what string) {
	if w.volatile == "" {
		w.volatile = what
	}
}

// constant records a string constant that reads the clock when it becomes
// a date/time value. The parse tree holds the value after escape
// processing, for every form of string literal ('…', E'…', U&'…', $$…$$).
func (w *walker) constant(c *pg_query.A_Const) {
	if w.volatile != "" {
		return
	}
	if s := c.GetSval(); s != nil && HasClockWord(s.Sval) {
		w.setVolatile("clock-relative date/time input " + quoteShort(s.Sval))
	}
}

// columnRef records a reference to a system column (t.xmin, ctid). User
// columns cannot have these names.
func (w *walker) columnRef(c *pg_query.ColumnRef) {
	if w.volatile != "" || len(c.Fields) == 0 {
		return
	}
	if s := c.Fields[len(c.Fields)-1].GetString_(); s != nil && systemColumns[s.Sval] {
		w.setVolatile("system column " + s.Sval)
	}
}

// quoteShort quotes s for a reason, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		n := 40
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return "'" + s + "'"
}

// sortedCalls sorts calls and removes duplicates; nil stays nil.
func sortedCalls(c []Call) []Call {
	if len(c) == 0 {
		return nil
	}
	slices.SortFunc(c, func(a, b Call) int {
		if r := cmp.Compare(a.Name, b.Name); r != 0 {
			return r
		}
		if r := cmp.Compare(a.Args, b.Args); r != 0 {
			return r
		}
		if r := cmpBool(a.Variadic, b.Variadic); r != 0 {
			return r
		}
		return cmpBool(a.ValueFunction, b.ValueFunction)
	})
	return slices.Clip(slices.Compact(c))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
