package n1detect_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/n1detect"
)

// idTwoIdenticalLoops runs the same lookup in two loops of one function, on
// lines whose text is the same: two N+1 patterns that only their position in
// the function tells apart.
func idTwoIdenticalLoops(ctx context.Context, db gtDB) error {
	ps, err := gtProjects(ctx, db, 5)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), new(string)); err != nil {
			return err
		}
	}
	for _, p := range ps {
		if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), new(string)); err != nil {
			return err
		}
	}
	return nil
}

func TestFindingIDsOfIdenticalLoopsInOneFunction(t *testing.T) {
	pool := n1SharedPool(t)
	pool.Tracer().Reset()
	run := func(cfg n1detect.Config) []n1detect.Finding {
		return gtRunScope(t, "identical loops", cfg, func(ctx context.Context) error { return idTwoIdenticalLoops(ctx, pool) })
	}
	fs := run(n1detect.Config{})
	require.Len(t, fs, 2, "%s", gtFindingsText(fs))
	require.NotEqual(t, fs[0].CallSite.Line, fs[1].CallSite.Line, "two call sites")
	require.NotEqual(t, fs[0].ID, fs[1].ID, "both loops have one ID:\n%s", gtFindingsText(fs))

	again := run(n1detect.Config{})
	require.Len(t, again, 2)
	byLine := func(fs []n1detect.Finding) map[int]string {
		m := map[int]string{}
		for _, f := range fs {
			m[f.CallSite.Line] = f.ID
		}
		return m
	}
	require.Equal(t, byLine(fs), byLine(again), "IDs must be stable from run to run")

	for i, f := range fs {
		left := run(n1detect.Config{Allow: []string{f.ID}})
		require.Len(t, left, 1, "allowing %s (line %d) must keep the other loop:\n%s", f.ID, f.CallSite.Line, gtFindingsText(left))
		require.Equal(t, fs[1-i].ID, left[0].ID)
		require.Equal(t, fs[1-i].CallSite.Line, left[0].CallSite.Line)
	}

	// The pool's report lists both loops (it merges findings by ID).
	ids := map[string]bool{}
	for _, f := range pool.Report().Findings {
		ids[f.ID] = true
	}
	require.Equal(t, map[string]bool{fs[0].ID: true, fs[1].ID: true}, ids)
}

// idHelperLookups is one helper with a per-item lookup, reached from two
// loops below: one N+1 site, two callers.
func idHelperLookups(ctx context.Context, db gtDB, ps []gtProject) error {
	for _, p := range ps {
		if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), new(string)); err != nil {
			return err
		}
	}
	return nil
}

func idFromOneCaller(ctx context.Context, db gtDB) error {
	ps, err := gtProjects(ctx, db, 5)
	if err != nil {
		return err
	}
	return idHelperLookups(ctx, db, ps)
}

func idFromTwoCallers(ctx context.Context, db gtDB) error {
	if err := idFromOneCaller(ctx, db); err != nil {
		return err
	}
	ps, err := gtProjects(ctx, db, 5)
	if err != nil {
		return err
	}
	return idHelperLookups(ctx, db, ps)
}

// The ID of a helper's finding is deepened (its callers added) only in a
// scope where two callers make two findings of it; an allow-list entry
// copied from either kind of report matches the finding in both.
func TestAllowListMatchesIDsAtEveryDepth(t *testing.T) {
	pool := n1SharedPool(t)
	run := func(cfg n1detect.Config, fn func(context.Context, gtDB) error) []n1detect.Finding {
		var n1 []n1detect.Finding // the second gtProjects call is also a redundant read: not this test's
		for _, f := range gtRunScope(t, "helper", cfg, func(ctx context.Context) error { return fn(ctx, pool) }) {
			if f.Kind == n1detect.NPlusOne {
				n1 = append(n1, f)
			}
		}
		return n1
	}
	one := run(n1detect.Config{}, idFromOneCaller)
	require.Len(t, one, 1, "%s", gtFindingsText(one))
	two := run(n1detect.Config{}, idFromTwoCallers)
	require.Len(t, two, 2, "%s", gtFindingsText(two))
	require.NotEqual(t, two[0].ID, two[1].ID)
	require.NotEqual(t, one[0].ID, two[0].ID, "deepened in the scope with two callers")

	// A deep ID from the two-caller report silences the one-caller finding.
	for _, f := range two {
		if left := run(n1detect.Config{Allow: []string{f.ID}}, idFromOneCaller); len(left) == 0 {
			return
		}
	}
	t.Fatalf("no deep ID of %s matched the one-caller finding %s", gtFindingsText(two), one[0].ID)
}
