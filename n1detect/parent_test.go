package n1detect_test

// Loop shapes: a small generator of per-item loops (siblings, nested loops,
// statements run for the first item only, rows read while the loop runs), run
// over the seeded database, with the parent each finding must name: the
// statement whose rows drive its loop, never a sibling in the same iteration.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/n1detect"
)

// lsStmt is a statement of the loop shapes: one argument, the item of the
// loop around it (the number of projects at the top).
type lsStmt struct{ label, sql string }

var (
	lsProjects     = lsStmt{"projects", "SELECT id FROM projects WHERE id <= $1 ORDER BY id"}
	lsOwner        = lsStmt{"owner", "SELECT email, display_name FROM users WHERE id = $1"}
	lsCount        = lsStmt{"count", "SELECT count(*) FROM content WHERE project_id = $1"}
	lsMetrics      = lsStmt{"metrics", "SELECT sum(impressions) FROM platform_metrics WHERE project_id = $1"}
	lsSettings     = lsStmt{"settings", "SELECT settings FROM users WHERE id = $1"}
	lsContent      = lsStmt{"content", "SELECT id FROM content WHERE project_id = $1 ORDER BY id"}
	lsTitle        = lsStmt{"title", "SELECT title FROM content WHERE id = $1"}
	lsPublications = lsStmt{"publications", "SELECT id FROM publications WHERE content_id = $1 ORDER BY id"}
	lsPublication  = lsStmt{"publication", "SELECT platform, status FROM publications WHERE id = $1"}
	lsStatements   = []lsStmt{lsProjects, lsOwner, lsCount, lsMetrics, lsSettings, lsContent, lsTitle, lsPublications, lsPublication}
)

// issue runs the statement from a line of its own, as an application does:
// one call site per statement.
func (s lsStmt) issue(ctx context.Context, db gtDB, arg int64) (pgx.Rows, error) {
	switch s {
	case lsProjects:
		return db.Query(ctx, s.sql, arg)
	case lsOwner:
		return db.Query(ctx, s.sql, arg)
	case lsCount:
		return db.Query(ctx, s.sql, arg)
	case lsMetrics:
		return db.Query(ctx, s.sql, arg)
	case lsSettings:
		return db.Query(ctx, s.sql, arg)
	case lsContent:
		return db.Query(ctx, s.sql, arg)
	case lsTitle:
		return db.Query(ctx, s.sql, arg)
	case lsPublications:
		return db.Query(ctx, s.sql, arg)
	case lsPublication:
		return db.Query(ctx, s.sql, arg)
	}
	panic("unknown statement " + s.label)
}

// lsNode is a statement of a loop shape and the loop over its rows. At the
// top it runs once with the shape's argument; in a body it runs once per item
// of the loop around it, with the item's id as $1. Its body runs once per id
// it returns.
type lsNode struct {
	stmt lsStmt // none: loop over the ids 1..arg without a statement
	// first: run for the first item of the loop around it only (a sibling
	// that does not repeat).
	first bool
	// stream: run the body while the rows are read, on other connections
	// (rows.Next() loops); otherwise the rows are collected first.
	stream bool
	body   []lsNode
}

// lsLoop loops over the rows of stmt, collected first.
func lsLoop(stmt lsStmt, body ...lsNode) lsNode { return lsNode{stmt: stmt, body: body} }

// lsStream loops over the rows of stmt as they are read.
func lsStream(stmt lsStmt, body ...lsNode) lsNode {
	return lsNode{stmt: stmt, stream: true, body: body}
}

// lsEach runs stmt for every item of the loop around it.
func lsEach(stmt lsStmt) lsNode { return lsNode{stmt: stmt} }

// lsOnce runs stmt for the first item of the loop around it only.
func lsOnce(stmt lsStmt) lsNode { return lsNode{stmt: stmt, first: true} }

// run runs the node with arg, then its body per id.
func (n lsNode) run(ctx context.Context, db gtDB, arg int64) error {
	if n.stmt.sql == "" {
		for id := range arg {
			if err := lsBody(ctx, db, n.body, id+1, id == 0); err != nil {
				return err
			}
		}
		return nil
	}
	rows, err := n.stmt.issue(ctx, db, arg)
	if err != nil {
		return err
	}
	if len(n.body) == 0 {
		rows.Close()
		return rows.Err()
	}
	if n.stream {
		defer rows.Close()
		for i := 0; rows.Next(); i++ {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if err := lsBody(ctx, db, n.body, id, i == 0); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	for i, id := range ids {
		if err := lsBody(ctx, db, n.body, id, i == 0); err != nil {
			return err
		}
	}
	return nil
}

// lsBody runs the statements of a loop body for one item.
func lsBody(ctx context.Context, db gtDB, body []lsNode, id int64, first bool) error {
	for _, c := range body {
		if c.first && !first {
			continue
		}
		if err := c.run(ctx, db, id); err != nil {
			return err
		}
	}
	return nil
}

// lsLabels maps the normalized SQL of every statement of the shapes to its label.
func lsLabels() map[string]string {
	m := map[string]string{}
	for _, s := range lsStatements {
		m[sqlinfo.Analyze(s.sql).Normalized] = s.label
	}
	return m
}

func TestParentIsTheStatementThatDrivesTheLoop(t *testing.T) {
	pool := n1SharedPool(t)
	shapes := []struct {
		name  string
		shape lsNode
		arg   int64
		// want maps each finding (by label) to the label of its parent ("": none).
		want map[string]string
	}{
		{name: "2 alternating siblings",
			shape: lsLoop(lsProjects, lsEach(lsOwner), lsEach(lsCount)), arg: 4,
			want: map[string]string{"owner": "projects", "count": "projects"}},
		{name: "3 alternating siblings",
			shape: lsLoop(lsProjects, lsEach(lsOwner), lsEach(lsCount), lsEach(lsMetrics)), arg: 4,
			want: map[string]string{"owner": "projects", "count": "projects", "metrics": "projects"}},
		{name: "nested loop",
			shape: lsLoop(lsProjects, lsLoop(lsContent, lsEach(lsPublications))), arg: 3,
			want: map[string]string{"content": "projects", "publications": "content"}},
		{name: "three levels",
			shape: lsLoop(lsProjects, lsLoop(lsContent, lsLoop(lsPublications, lsEach(lsPublication)))), arg: 2,
			want: map[string]string{"content": "projects", "publications": "content", "publication": "publications"}},
		{name: "siblings at both levels of a nested loop",
			shape: lsLoop(lsProjects, lsEach(lsOwner), lsLoop(lsContent, lsEach(lsPublications), lsEach(lsTitle)), lsEach(lsCount)), arg: 3,
			want: map[string]string{"owner": "projects", "content": "projects", "publications": "content", "title": "content", "count": "projects"}},
		{name: "sibling that is not repeated (first item only)",
			shape: lsLoop(lsProjects, lsOnce(lsSettings), lsEach(lsCount)), arg: 4,
			want: map[string]string{"count": "projects"}},
		{name: "siblings with no statement to iterate",
			shape: lsNode{body: []lsNode{lsEach(lsOwner), lsEach(lsCount)}}, arg: 4,
			want: map[string]string{"owner": "", "count": ""}},
		{name: "loop over rows being read",
			shape: lsStream(lsProjects, lsEach(lsOwner), lsEach(lsCount)), arg: 4,
			want: map[string]string{"owner": "projects", "count": "projects"}},
		{name: "loop over rows being read, inside a loop",
			shape: lsLoop(lsProjects, lsStream(lsContent, lsEach(lsPublications))), arg: 3,
			want: map[string]string{"content": "projects", "publications": "content"}},
		{name: "nested loop inside a loop over rows being read",
			shape: lsStream(lsProjects, lsLoop(lsContent, lsEach(lsTitle))), arg: 3,
			want: map[string]string{"content": "projects", "title": "content"}},
	}
	labels := lsLabels()
	sqlOf := map[string]string{}
	for norm, label := range labels {
		sqlOf[label] = norm
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			fs := gtRunScope(t, sh.name, n1detect.Config{}, func(ctx context.Context) error { return sh.shape.run(ctx, pool, sh.arg) })
			t.Logf("findings:\n%s", gtFindingsText(fs))
			got := map[string]string{}
			for _, f := range fs {
				label, ok := labels[f.Query]
				require.True(t, ok, "finding on a statement outside the shape:\n%s", f)
				require.Equal(t, n1detect.NPlusOne, f.Kind, "%s", f)
				parent := ""
				if f.Parent != nil {
					parent, ok = labels[f.Parent.Query]
					require.True(t, ok, "parent outside the shape:\n%s", f)
				}
				got[label] = parent
				join := "JOIN it into the query that produced the values: "
				if parent == "" {
					require.NotContains(t, f.Fix, join, "a fix without a parent to join into:\n%s", f)
					continue
				}
				require.Contains(t, f.Fix, join+sqlinfo.OneLine(sqlOf[parent], 120), "the fix must join into the parent:\n%s", f)
			}
			require.Equal(t, sh.want, got, "parents by finding (finding → parent)")
		})
	}
}

// The parent shows in the finding's text and JSON, with its call site.
func TestParentCallSite(t *testing.T) {
	pool := n1SharedPool(t)
	fs := gtRunScope(t, "call site", n1detect.Config{}, func(ctx context.Context) error {
		return lsLoop(lsProjects, lsEach(lsOwner), lsEach(lsCount)).run(ctx, pool, 3)
	})
	require.Len(t, fs, 2, "%s", gtFindingsText(fs))
	for _, f := range fs {
		require.NotNil(t, f.Parent, "%s", f)
		require.Equal(t, "parent_test.go", filepath.Base(f.Parent.CallSite.File))
		require.Contains(t, f.String(), fmt.Sprintf("after:   %s (parent_test.go:%d)", lsProjects.sql, f.Parent.CallSite.Line))
		var m struct {
			Parent n1detect.Statement `json:"parent"`
		}
		require.NoError(t, json.Unmarshal(f.JSON(), &m))
		require.Equal(t, *f.Parent, m.Parent)
	}
}
