package sqlinfo

import "strings"

// StripLeadingComments removes the comments (-- … and /* … */) and blank
// space before a statement's first token, such as sqlc's "-- name:" header,
// for display.
func StripLeadingComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return s
			}
			s = s[i+2:]
		default:
			return s
		}
	}
}

// OneLine collapses runs of white space to one space and cuts the text to at
// most n bytes (on a rune boundary, marking the cut with "…"), for display.
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
