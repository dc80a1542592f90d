package n1detect

import (
	"time"

	"github.com/pgxperf/pgxperf/internal/scope"
)

// A finding's parent is the statement whose rows its loop walks. The scope
// does not see loops, only statements in order, so it infers the parent:
//
//   - Candidates are the groups that ran last before a group's first
//     statement (up to maxCandidates of them, most recent first). After each
//     run of a candidate, the scope counts the group's statements until the
//     candidate runs again.
//   - A candidate after one run of which the group ran at most once is a
//     sibling: another statement of the same loop iteration (an owner lookup
//     next to a count, per project), or the parent of a one-item loop. It is
//     never the parent.
//   - Of the others, the parent is the most recent one that returned at
//     least as many rows as the group then ran: a statement run once in the
//     loop's first iteration, with one row, did not produce the loop's items.
//     When none did, the most recent one.
//   - A loop over rows.Next() runs its statements before the statement it
//     reads ends, so before the scope sees it: when a statement ends, the
//     groups whose first statement started while it ran, and which ran no more
//     often than it returned rows, record it as their enclosing statement.
//     It is the parent unless a candidate started after it (a nested loop).
//
// Nested loops come out right: for each project the content query, for each
// content row a per-item query. After each run of the content query the
// per-item query ran once per content row, so the content query is its
// parent; the projects query, after which the content query ran once per
// project, is the content query's.

// maxCandidates bounds a group's candidate parents.
const maxCandidates = 8

// candidate is a group that ran before another group's first statement (the
// follower), and how the follower ran after each of its runs.
type candidate struct {
	g       *group
	start   int64  // when g's run before the follower's first statement started (Unix ns)
	seq     uint64 // the run of g now followed (its lastSeq then)
	rows    int64  // the rows that run returned
	runs    int    // the follower's statements since that run
	maxRuns int    // the most statements of the follower after one run of g
	over    bool   // after some run of g the follower ran more times than it returned rows
}

// candidatesLocked returns the candidate parents of a new group: the groups
// that ran last, most recent first (s.mu held).
func (s *Scope) candidatesLocked() []candidate {
	if s.nrecent == 0 {
		return nil
	}
	cs := make([]candidate, s.nrecent)
	for i, r := range s.recent[:s.nrecent] {
		cs[i] = candidate{g: r, start: r.lastStart, seq: r.lastSeq, rows: r.lastRows}
	}
	return cs
}

// followLocked records a statement of g: against each of g's candidates,
// then as g's latest run, and g as the most recent group (s.mu held).
func (s *Scope) followLocked(g *group, rows int64, start time.Time) {
	// Unix nanoseconds, not a time.Time: no pointer to store per statement.
	startNs := start.UnixNano()
	for i := range g.cands {
		c := &g.cands[i]
		if x := c.g; x.lastSeq != c.seq { // x ran again since: a new iteration
			c.seq, c.rows, c.runs = x.lastSeq, x.lastRows, 0
		}
		c.runs++
		c.maxRuns = max(c.maxRuns, c.runs)
		if int64(c.runs) > c.rows {
			c.over = true
		}
	}
	s.seq++
	g.lastSeq, g.lastRows, g.lastStart = s.seq, rows, startNs
	if s.recent[0] == g {
		return
	}
	i := 0
	for i < s.nrecent && s.recent[i] != g {
		i++
	}
	if i == s.nrecent {
		if s.nrecent < maxCandidates {
			s.nrecent++
		} else {
			i-- // the least recent one is forgotten
		}
	}
	copy(s.recent[1:i+1], s.recent[:i])
	s.recent[0] = g
}

// encloseLocked records the statement ev of group g as the enclosing
// statement of the groups whose first statement started while ev ran and
// which ran, by now, at least twice and no more often than ev returned rows:
// a loop over ev's rows as they were read (s.mu held).
func (s *Scope) encloseLocked(g *group, ev *scope.Stmt) {
	if ev.Rows < 2 {
		return
	}
	end := ev.Start.Add(ev.Duration + ev.PrepareTime)
	// Groups are in the order of their first statement: look back until one
	// started before ev.
	for i, n := len(s.order)-1, 0; i >= 0 && n < 64; i, n = i-1, n+1 {
		h := s.order[i]
		if h == g {
			continue
		}
		if !h.first.After(ev.Start) {
			break
		}
		if h.first.Before(end) && h.count >= 2 && int64(h.count) <= ev.Rows &&
			(h.encl == nil || ev.Start.UnixNano() > h.enclStart) {
			h.encl, h.enclStart = g, ev.Start.UnixNano()
		}
	}
}

// parentGroup returns the group whose rows drive g's loop, or nil.
func (g *group) parentGroup() *group {
	var best, fallback *candidate
	for i := range g.cands {
		c := &g.cands[i]
		if c.maxRuns < 2 {
			continue // a sibling
		}
		if !c.over {
			best = c
			break
		}
		if fallback == nil {
			fallback = c
		}
	}
	if best == nil {
		best = fallback
	}
	if g.encl != nil && (best == nil || g.enclStart > best.start) {
		return g.encl
	}
	if best == nil {
		return nil
	}
	return best.g
}
