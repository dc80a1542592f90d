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
	pool.ResetStats()
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
