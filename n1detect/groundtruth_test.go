package n1detect_test

// The ground-truth suite: every scenario of the table in n1.md §8, and more,
// run for real against the seeded test schema through pgxperf.Pool, through a
// plain pgxpool with tracer.New installed, and (a subset) through
// database/sql with pgx/v5/stdlib. Each scenario is labelled with the
// findings a person would expect; precision and recall over all of them are
// logged, and any mismatch fails the test with the findings' text.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/errgroup"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/n1detect/internal/fakesqlc"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

// gtDB is what the scenarios run on: *pgxperf.Pool, *pgxpool.Pool and pgx.Tx
// all have these methods.
type gtDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Begin(ctx context.Context) (pgx.Tx, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

var (
	_ gtDB = (*pgxperf.Pool)(nil)
	_ gtDB = (*pgxpool.Pool)(nil)
	_ gtDB = (pgx.Tx)(nil)
	_ gtDB = (*pgx.Conn)(nil)
)

// Labels.
var (
	gtNone      = []n1detect.Kind{}
	gtN1        = []n1detect.Kind{n1detect.NPlusOne}
	gtN1x2      = []n1detect.Kind{n1detect.NPlusOne, n1detect.NPlusOne}
	gtN1Write   = []n1detect.Kind{n1detect.NPlusOneWrite}
	gtRedundant = []n1detect.Kind{n1detect.Redundant}
)

// gtScenario is one labelled unit of work.
type gtScenario struct {
	index int // position in gtScenarios, for stable subtest names
	name  string
	row   int             // row of the table in n1.md §8; 0 for the others
	want  []n1detect.Kind // the findings expected, by kind (empty: not N+1)
	// allow, when set, first runs the scenario in a probe scope and then
	// runs it again with its findings allow-listed by "id", "fingerprint",
	// "function" or "site" (file:line).
	allow string
	// concurrent scenarios run statements from several goroutines at once:
	// not on a single *pgx.Conn.
	concurrent bool
	run        func(ctx context.Context, db gtDB) error
	// check, when set, makes further assertions (call sites, stacks) on the
	// findings of a scenario whose kinds matched.
	check func(t *testing.T, fs []n1detect.Finding)
}

const gtN = 10

const gtUserEmailSQL = "SELECT email FROM users WHERE id = $1"

type gtProject struct{ ID, Owner int64 }

// gtProjects reads the first n projects in one statement.
func gtProjects(ctx context.Context, db gtDB, n int) ([]gtProject, error) {
	rows, err := db.Query(ctx, "SELECT id, owner_id FROM projects WHERE id <= $1 ORDER BY id", n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[gtProject])
}

// gtIDs reads one column of int64 values.
func gtIDs(ctx context.Context, db gtDB, sql string, args ...any) ([]int64, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// scan scans a row, treating "no rows" as success.
func gtScan(row pgx.Row, dst ...any) error {
	if err := row.Scan(dst...); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return nil
}

// drain reads and discards the rows of a query.
func gtDrain(rows pgx.Rows, err error) error {
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// gtLine returns the line of its caller.
func gtLine() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

// gtOwnerEmail is a helper shared by several loops.
func gtOwnerEmail(ctx context.Context, db gtDB, id int64) (string, error) {
	var email string
	gtOwnerEmailLine.Store(int64(gtLine() + 1))
	err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, id), &email)
	return email, err
}

// gtOwnerEmailLine is the line of gtOwnerEmail's QueryRow.
var gtOwnerEmailLine atomic.Int64

// A layered lookup: a service method calls a repository method that calls a
// query helper, three application frames deep.
func gtService(ctx context.Context, db gtDB, id int64) error { return gtRepository(ctx, db, id) }
func gtRepository(ctx context.Context, db gtDB, id int64) error {
	_, err := gtQueryHelper(ctx, db, id)
	return err
}
func gtQueryHelper(ctx context.Context, db gtDB, id int64) (string, error) {
	return gtOwnerEmail(ctx, db, id)
}

func gtScenarios() []gtScenario {
	var (
		sqlcLine, genLine                int
		helperLine, loopALine, loopBLine int
		errgroupLine                     atomic.Int64 // set from the goroutines
	)
	cutoff := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	list := []gtScenario{
		// ---- n1.md §8 ----
		{name: "per project SELECT users WHERE id=$1", row: 1, want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					var email string
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), &email); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, fs []n1detect.Finding) {
				f := fs[0]
				if f.Count != gtN || f.Distinct != gtN {
					t.Errorf("count %d, distinct %d, want %d, %d", f.Count, f.Distinct, gtN, gtN)
				}
				if f.Parent == nil || !strings.Contains(f.Parent.Query, "projects") {
					t.Errorf("parent %+v, want the projects query", f.Parent)
				}
				if !strings.Contains(f.Fix, "= ANY($1)") {
					t.Errorf("fix %q does not suggest = ANY($1)", f.Fix)
				}
			}},
		{name: "same SELECT at 2 call sites once each, same args", row: 2, want: gtRedundant,
			run: func(ctx context.Context, db gtDB) error {
				var a, b string
				if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, 1), &a); err != nil {
					return err
				}
				return gtScan(db.QueryRow(ctx, gtUserEmailSQL, 1), &b)
			},
			check: func(t *testing.T, fs []n1detect.Finding) {
				if len(fs[0].Also) == 0 {
					t.Errorf("a redundant statement from two call sites should list the other one in Also")
				}
			}},
		{name: "same SELECT at 2 call sites once each, different args", row: 2, want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				var a, b string
				if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, 1), &a); err != nil {
					return err
				}
				return gtScan(db.QueryRow(ctx, gtUserEmailSQL, 2), &b)
			}},
		{name: "one call site in a loop with identical args", row: 3, want: gtRedundant,
			run: func(ctx context.Context, db gtDB) error {
				for range gtN {
					var email string
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, int64(1)), &email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "one id = ANY($1)", row: 4, want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				ids := []int64{1, 8, 15, 22, 29, 36, 43, 50, 57, 64}
				return gtDrain(db.Query(ctx, "SELECT id, email FROM users WHERE id = ANY($1)", ids))
			}},
		{name: "hand-rolled chunks: ANY($1) x 3", row: 5, want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				ids := make([]int64, 30)
				for i := range ids {
					ids[i] = int64(i + 1)
				}
				for chunk := range gtChunks(ids, 10) {
					if err := gtDrain(db.Query(ctx, "SELECT id, email FROM users WHERE id = ANY($1)", chunk)); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "keyset pagination, 20 x id > $1 LIMIT 500", row: 6, want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				last := int64(0)
				for range 20 {
					ids, err := gtIDs(ctx, db, "SELECT id FROM content WHERE id > $1 ORDER BY id LIMIT 500", last)
					if err != nil {
						return err
					}
					if len(ids) == 0 {
						return errors.New("ran out of pages")
					}
					last = ids[len(ids)-1]
				}
				return nil
			}},
		{name: "per project SELECT inside a pgx.Tx", row: 7, want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				tx, err := db.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx)
				ps, err := gtProjects(ctx, tx, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					var email string
					if err := gtScan(tx.QueryRow(ctx, gtUserEmailSQL, p.Owner), &email); err != nil {
						return err
					}
				}
				return tx.Commit(ctx)
			}},
		{name: "nested: content per project, publications per content", row: 8, want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					contentIDs, err := gtIDs(ctx, db, "SELECT id FROM content WHERE project_id = $1 ORDER BY id", p.ID)
					if err != nil {
						return err
					}
					for _, c := range contentIDs {
						if err := gtDrain(db.Query(ctx, "SELECT id, platform, status FROM publications WHERE content_id = $1", c)); err != nil {
							return err
						}
					}
				}
				return nil
			},
			check: gtCheckParents(map[string]string{"FROM publications": "FROM content", "FROM content": "FROM projects"})},
		{name: "per project SELECT with literals via fmt.Sprintf", row: 9, want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					var email string
					if err := gtScan(db.QueryRow(ctx, fmt.Sprintf("SELECT email FROM users WHERE id = %d", p.Owner)), &email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "INSERT per content row", row: 10, want: gtN1Write,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for i, p := range ps {
					if _, err := db.Exec(ctx, "INSERT INTO content (project_id, author_id, title) VALUES ($1, $2, $3)",
						p.ID, p.Owner, fmt.Sprintf("ground truth %d", i)); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "per project SELECT, N=3", row: 11, want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, 3)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if _, err := gtOwnerEmail(ctx, db, p.Owner); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "errgroup fan-out, per-id SELECT", row: 12, want: gtN1, concurrent: true,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				g, gctx := errgroup.WithContext(ctx)
				g.SetLimit(4)
				for _, p := range ps {
					g.Go(func() error {
						var email string
						errgroupLine.Store(int64(gtLine() + 1))
						return gtScan(db.QueryRow(gctx, gtUserEmailSQL, p.Owner), &email)
					})
				}
				return g.Wait()
			},
			check: func(t *testing.T, fs []n1detect.Finding) {
				gtCheckSite(t, fs[0].CallSite, int(errgroupLine.Load()))
				if fs[0].Count != gtN {
					t.Errorf("count %d, want %d: goroutines must count in their parent's scope", fs[0].Count, gtN)
				}
			}},
		{name: "pgx.Batch of 10 per-id SELECTs", row: 13, want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				b := &pgx.Batch{}
				for _, p := range ps {
					b.Queue(gtUserEmailSQL, p.Owner)
				}
				return db.SendBatch(ctx, b).Close()
			}},
		{name: "per-item query whose WHERE shape varies", row: 14, want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for i, p := range ps {
					q := "SELECT id, email FROM users WHERE id = $1"
					switch i % 3 {
					case 1:
						q += " AND is_active"
					case 2:
						q += " AND role <> 'admin'"
					}
					var id int64
					var email string
					if err := gtScan(db.QueryRow(ctx, q, p.Owner), &id, &email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "owner and editor lookup (same SQL, 2 lines) per project", row: 15, want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				rows, err := db.Query(ctx, `SELECT p.id, p.owner_id,
					(SELECT c.author_id FROM content c WHERE c.project_id = p.id ORDER BY c.id LIMIT 1)
					FROM projects p WHERE p.id <= $1 ORDER BY p.id`, gtN)
				if err != nil {
					return err
				}
				type pe struct{ ID, Owner, Editor int64 }
				ps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pe])
				if err != nil {
					return err
				}
				for _, p := range ps {
					var owner, editor string
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), &owner); err != nil {
						return err
					}
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Editor), &editor); err != nil {
						return err
					}
				}
				return nil
			},
			check: gtCheckParents(map[string]string{"FROM users": "FROM projects"})},

		// ---- call sites: generated code, helpers ----
		{name: "N+1 through sqlc-generated code", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				q := fakesqlc.New(db)
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					sqlcLine = gtLine() + 1
					if _, err := q.GetUser(ctx, p.Owner); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, fs []n1detect.Finding) {
				gtCheckSite(t, fs[0].CallSite, sqlcLine)
				if fs[0].SQLCName != "GetUser" {
					t.Errorf("SQLCName %q, want GetUser", fs[0].SQLCName)
				}
			}},
		{name: "N+1 through generated code in the application's package", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				q := &genQueries{db: db}
				for id := range int64(gtN) {
					genLine = gtLine() + 1
					if _, err := q.GetProjectName(ctx, id+1); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, fs []n1detect.Finding) {
				gtCheckSite(t, fs[0].CallSite, genLine)
				for _, s := range fs[0].Stack {
					if strings.HasSuffix(s.File, "gen_queries_test.go") {
						t.Errorf("stack lists generated code: %v", s)
					}
				}
			}},
		{name: "same helper called from two different loops", want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					loopALine = gtLine() + 1
					if _, err := gtOwnerEmail(ctx, db, p.Owner); err != nil {
						return err
					}
				}
				authors, err := gtIDs(ctx, db, "SELECT DISTINCT author_id FROM content WHERE author_id > 1000 ORDER BY author_id LIMIT $1", gtN)
				if err != nil {
					return err
				}
				for _, a := range authors {
					loopBLine = gtLine() + 1
					if _, err := gtOwnerEmail(ctx, db, a); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, fs []n1detect.Finding) {
				helperLine = int(gtOwnerEmailLine.Load())
				var loops []int
				for _, f := range fs {
					gtCheckSite(t, f.CallSite, helperLine)
					if len(f.Stack) == 0 {
						t.Errorf("no stack above the helper: %s", f)
						continue
					}
					loops = append(loops, f.Stack[0].Line)
				}
				sort.Ints(loops)
				if want := []int{loopALine, loopBLine}; fmt.Sprint(loops) != fmt.Sprint(want) {
					t.Errorf("stacks point at lines %v, want the loops at %v", loops, want)
				}
			}},
		{name: "same 3-deep helper chain called from two different loops", want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if err := gtService(ctx, db, p.Owner); err != nil {
						return err
					}
				}
				authors, err := gtIDs(ctx, db, "SELECT DISTINCT author_id FROM content WHERE author_id > 1000 ORDER BY author_id LIMIT $1", gtN)
				if err != nil {
					return err
				}
				for _, a := range authors {
					if err := gtService(ctx, db, a); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "same statement twice on one line (one item)", want: gtRedundant,
			run: func(ctx context.Context, db gtDB) error {
				_, err1 := gtOwnerEmail(ctx, db, 1)
				_, err2 := gtOwnerEmail(ctx, db, 1)
				return errors.Join(err1, err2)
			}},

		// ---- writes ----
		{name: "UPDATE per row", want: gtN1Write,
			run: func(ctx context.Context, db gtDB) error {
				ids, err := gtIDs(ctx, db, "SELECT id FROM content WHERE project_id = $1 ORDER BY id", 1)
				if err != nil {
					return err
				}
				for _, id := range ids {
					if _, err := db.Exec(ctx, "UPDATE content SET word_count = word_count + 1 WHERE id = $1", id); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "DELETE per row", want: gtN1Write,
			run: func(ctx context.Context, db gtDB) error {
				rows, err := db.Query(ctx, "SELECT id FROM sessions ORDER BY id LIMIT $1", gtN)
				if err != nil {
					return err
				}
				sessions, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
				if err != nil {
					return err
				}
				for _, id := range sessions {
					if _, err := db.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "INSERT ... VALUES multi-row in chunks", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				for chunk := range 3 {
					var sb strings.Builder
					var args []any
					sb.WriteString("INSERT INTO content (project_id, author_id, title) VALUES ")
					for i := range 5 {
						if i > 0 {
							sb.WriteString(", ")
						}
						n := len(args)
						fmt.Fprintf(&sb, "($%d, $%d, $%d)", n+1, n+2, n+3)
						args = append(args, int64(chunk+1), int64(i+1), fmt.Sprintf("chunk %d row %d", chunk, i))
					}
					if _, err := db.Exec(ctx, sb.String(), args...); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "CopyFrom once", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				rows := make([][]any, gtN)
				for i := range rows {
					rows[i] = []any{int64(2), int64(i + 1), fmt.Sprintf("copied %d", i)}
				}
				_, err := db.CopyFrom(ctx, pgx.Identifier{"content"}, []string{"project_id", "author_id", "title"}, pgx.CopyFromRows(rows))
				return err
			}},
		{name: "pgx.Batch of 10 INSERTs", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				b := &pgx.Batch{}
				for i := range gtN {
					b.Queue("INSERT INTO content (project_id, author_id, title) VALUES ($1, $2, $3)", int64(3), int64(i+1), "batched")
				}
				return db.SendBatch(ctx, b).Close()
			}},
		{name: "read then write per row", want: []n1detect.Kind{n1detect.NPlusOne, n1detect.NPlusOneWrite},
			run: func(ctx context.Context, db gtDB) error {
				ids, err := gtIDs(ctx, db, "SELECT id FROM content WHERE project_id = $1 ORDER BY id", 2)
				if err != nil {
					return err
				}
				for _, id := range ids {
					var wc int32
					if err := gtScan(db.QueryRow(ctx, "SELECT word_count FROM content WHERE id = $1", id), &wc); err != nil {
						return err
					}
					if _, err := db.Exec(ctx, "UPDATE content SET word_count = $2 WHERE id = $1", id, wc+1); err != nil {
						return err
					}
				}
				return nil
			},
			check: gtCheckParents(map[string]string{"word_count": "SELECT id FROM content WHERE project_id"})},
		{name: "same UPDATE with the same args repeated", want: gtRedundant,
			run: func(ctx context.Context, db gtDB) error {
				for range 5 {
					if _, err := db.Exec(ctx, "UPDATE projects SET updated_at = $2 WHERE id = $1", int64(1), cutoff); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "SELECT ... FOR UPDATE per row in a transaction", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				tx, err := db.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx)
				for id := range int64(gtN) {
					if err := gtDrain(tx.Query(ctx, "SELECT id FROM content WHERE id = $1 FOR UPDATE", id+1)); err != nil {
						return err
					}
				}
				return tx.Rollback(ctx)
			}},

		// ---- not N+1 ----
		{name: "a single query", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				_, err := gtProjects(ctx, db, gtN)
				return err
			}},
		{name: "OFFSET pagination", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				for page := range 10 {
					if _, err := gtIDs(ctx, db, "SELECT id FROM content ORDER BY id LIMIT 500 OFFSET $1", page*500); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "keyset pages, each eager-loading with ANY($1)", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				last := int64(0)
				for range 5 {
					ids, err := gtIDs(ctx, db, "SELECT id FROM content WHERE id > $1 ORDER BY id LIMIT 100", last)
					if err != nil {
						return err
					}
					if err := gtDrain(db.Query(ctx, "SELECT content_id, platform FROM publications WHERE content_id = ANY($1)", ids)); err != nil {
						return err
					}
					last = ids[len(ids)-1]
				}
				return nil
			}},
		{name: "chunks through sqlc-generated ANY($1::bigint[])", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				q := fakesqlc.New(db)
				ids := make([]int64, 30)
				for i := range ids {
					ids[i] = int64(i*3 + 1)
				}
				for chunk := range gtChunks(ids, 10) {
					if _, err := q.GetUsersByIDs(ctx, chunk); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "two pgx.Batches of 5 per-id SELECTs (chunks)", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for chunk := range gtChunks(ps, 5) {
					b := &pgx.Batch{}
					for _, p := range chunk {
						b.Queue(gtUserEmailSQL, p.Owner)
					}
					if err := db.SendBatch(ctx, b).Close(); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "different statements, once each, at different call sites", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				var n int64
				if err := gtScan(db.QueryRow(ctx, "SELECT count(*) FROM projects WHERE owner_id = $1", 1), &n); err != nil {
					return err
				}
				if err := gtScan(db.QueryRow(ctx, "SELECT count(*) FROM content WHERE author_id = $1", 1), &n); err != nil {
					return err
				}
				if err := gtScan(db.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE user_id = $1", 1), &n); err != nil {
					return err
				}
				return gtScan(db.QueryRow(ctx, gtUserEmailSQL, 1), new(string))
			}},
		{name: "a fixed list of different statements on one table, once each, from one line", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				reports := []string{
					"SELECT count(*) FROM content WHERE status = 'draft'",
					"SELECT count(*)::bigint FROM content WHERE word_count > 1000 AND language = 'de'",
					"SELECT coalesce(sum(word_count), 0)::bigint FROM content WHERE published_at IS NOT NULL",
				}
				for _, q := range reports {
					var n int64
					if err := gtScan(db.QueryRow(ctx, q), &n); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "loop wrapped in Ignore(ctx)", want: gtNone,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				ictx := n1detect.Ignore(ctx)
				for _, p := range ps {
					if _, err := gtOwnerEmail(ictx, db, p.Owner); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "N+1 allow-listed by finding ID", want: gtNone, allow: "id", run: gtAllowLoop},
		{name: "N+1 allow-listed by fingerprint", want: gtNone, allow: "fingerprint", run: gtAllowLoop},
		{name: "N+1 allow-listed by call-site function", want: gtNone, allow: "function", run: gtAllowLoop},
		{name: "N+1 allow-listed by file:line", want: gtNone, allow: "site", run: gtAllowLoop},

		// ---- more N+1 shapes ----
		{name: "per project SELECT, N=2 (threshold)", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, 2)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if _, err := gtOwnerEmail(ctx, db, p.Owner); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "per project SELECT with pgx.NamedArgs", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					var email string
					if err := gtScan(db.QueryRow(ctx, "SELECT email FROM users WHERE id = @id", pgx.NamedArgs{"id": p.Owner}), &email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "per project SELECT in simple-protocol mode", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					var email string
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, pgx.QueryExecModeSimpleProtocol, p.Owner), &email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "per project SELECT through a named prepared statement", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				tx, err := db.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx)
				if _, err := tx.Prepare(ctx, "gt_user_email", gtUserEmailSQL); err != nil {
					return err
				}
				for id := range int64(gtN) {
					var email string
					if err := gtScan(tx.QueryRow(ctx, "gt_user_email", id*7+1), &email); err != nil {
						return err
					}
				}
				return tx.Commit(ctx)
			}},
		{name: "goroutine per item (sync.WaitGroup)", want: gtN1, concurrent: true,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				var wg sync.WaitGroup
				errs := make([]error, len(ps))
				for i, p := range ps {
					wg.Go(func() {
						_, errs[i] = gtOwnerEmail(ctx, db, p.Owner)
					})
				}
				wg.Wait()
				return errors.Join(errs...)
			}},
		{name: "two different statements per item from a helper", want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if err := gtProjectCard(ctx, db, p); err != nil {
						return err
					}
				}
				return nil
			},
			check: gtCheckParents(map[string]string{"FROM users": "FROM projects", "FROM content": "FROM projects"})},
		{name: "first content per project (ORDER BY id LIMIT 1)", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if err := gtDrain(db.Query(ctx, "SELECT id, title FROM content WHERE project_id = $1 ORDER BY id LIMIT 1", p.ID)); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "latest published content per project (range filter, ORDER BY, LIMIT 1)", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if err := gtDrain(db.Query(ctx, `SELECT id, title FROM content
						WHERE project_id = $1 AND published_at <= $2
						ORDER BY published_at DESC LIMIT 1`, p.ID, cutoff)); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "per item = ANY($1) with a one-element slice", want: gtN1,
			run: func(ctx context.Context, db gtDB) error {
				q := fakesqlc.New(db)
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					if _, err := q.GetUsersByIDs(ctx, []int64{p.Owner}); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "a pgx.Batch per item", want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for _, p := range ps {
					b := &pgx.Batch{}
					b.Queue(gtUserEmailSQL, p.Owner)
					b.Queue("SELECT count(*) FROM content WHERE project_id = $1", p.ID)
					if err := db.SendBatch(ctx, b).Close(); err != nil {
						return err
					}
				}
				return nil
			},
			check: gtCheckParents(map[string]string{"FROM users": "FROM projects", "FROM content": "FROM projects"})},
		{name: "owner and editor lookups whose ids overlap", want: gtN1x2,
			run: func(ctx context.Context, db gtDB) error {
				ps, err := gtProjects(ctx, db, gtN)
				if err != nil {
					return err
				}
				for i, p := range ps {
					editor := ps[(i+len(ps)-1)%len(ps)].Owner // the previous project's owner edits this one
					var owner, ed string
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), &owner); err != nil {
						return err
					}
					if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, editor), &ed); err != nil {
						return err
					}
				}
				return nil
			},
			check: gtCheckParents(map[string]string{"FROM users": "FROM projects"})},
	}
	for i := range list {
		list[i].index = i + 1
	}
	return list
}

// gtAllowLoop is an N+1 that the allow-list scenarios allow.
func gtAllowLoop(ctx context.Context, db gtDB) error {
	ps, err := gtProjects(ctx, db, gtN)
	if err != nil {
		return err
	}
	for _, p := range ps {
		var name string
		if err := gtScan(db.QueryRow(ctx, "SELECT display_name FROM users WHERE id = $1", p.Owner), &name); err != nil {
			return err
		}
	}
	return nil
}

// gtProjectCard loads two things about a project, one statement each.
func gtProjectCard(ctx context.Context, db gtDB, p gtProject) error {
	var email string
	if err := gtScan(db.QueryRow(ctx, gtUserEmailSQL, p.Owner), &email); err != nil {
		return err
	}
	var n int64
	return gtScan(db.QueryRow(ctx, "SELECT count(*) FROM content WHERE project_id = $1", p.ID), &n)
}

// gtChunks yields s in chunks of n.
func gtChunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// gtCheckSite asserts that a call site is the given line of this file.
func gtCheckSite(t *testing.T, site tracer.CallSite, line int) {
	t.Helper()
	if filepath.Base(site.File) != "groundtruth_test.go" || site.Line != line {
		t.Errorf("call site %s, want groundtruth_test.go:%d", site, line)
	}
}

// gtCheckParents returns a check that every finding whose query contains a
// key names a parent whose query contains the value: the statement whose
// rows drive its loop, not a sibling statement of the same iteration. The
// fix of a read proposes to join into it.
func gtCheckParents(want map[string]string) func(t *testing.T, fs []n1detect.Finding) {
	return func(t *testing.T, fs []n1detect.Finding) {
		t.Helper()
		for _, f := range fs {
			for q, parent := range want {
				if !strings.Contains(f.Query, q) {
					continue
				}
				if f.Parent == nil || !strings.Contains(f.Parent.Query, parent) {
					t.Errorf("parent %+v, want the statement containing %q:\n%s", f.Parent, parent, f)
					break
				}
				if f.Kind == n1detect.NPlusOne && !strings.Contains(f.Fix, "query that produced the values: "+sqlinfo.OneLine(sqlinfo.StripLeadingComments(f.Parent.Query), 120)) {
					t.Errorf("the fix does not join into the parent:\n%s", f)
				}
				break
			}
		}
	}
}

// ---- scoring ----

type gtScore struct {
	scenarios, found, correct, expected int
}

func (s *gtScore) add(want []n1detect.Kind, got []n1detect.Finding) (ok bool) {
	s.scenarios++
	counts := map[n1detect.Kind]int{}
	for _, k := range want {
		counts[k]++
	}
	s.expected += len(want)
	s.found += len(got)
	correct := 0
	for _, f := range got {
		if counts[f.Kind] > 0 {
			counts[f.Kind]--
			correct++
		}
	}
	s.correct += correct
	return correct == len(want) && correct == len(got)
}

func (s gtScore) String() string {
	pct := func(a, b int) float64 {
		if b == 0 {
			return 100
		}
		return 100 * float64(a) / float64(b)
	}
	return fmt.Sprintf("%d scenarios, precision %.1f%% (%d/%d), recall %.1f%% (%d/%d)",
		s.scenarios, pct(s.correct, s.found), s.correct, s.found, pct(s.correct, s.expected), s.correct, s.expected)
}

func gtKinds(fs []n1detect.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.Kind)
	}
	sort.Strings(out)
	return out
}

func gtWantKinds(ks []n1detect.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	sort.Strings(out)
	return out
}

func gtFindingsText(fs []n1detect.Finding) string {
	if len(fs) == 0 {
		return "  (no findings)\n"
	}
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
	}
	return b.String()
}

// gtRunScope runs fn in a fresh scope with cfg and returns its findings.
func gtRunScope(t *testing.T, name string, cfg n1detect.Config, fn func(ctx context.Context) error) []n1detect.Finding {
	t.Helper()
	ctx0, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, scope := n1detect.Start(ctx0, name, cfg)
	if err := fn(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return scope.Finish()
}

func gtAllowEntry(f n1detect.Finding, by string) string {
	switch by {
	case "id":
		return f.ID
	case "fingerprint":
		return f.Fingerprint
	case "function":
		return f.CallSite.Function
	case "site":
		return fmt.Sprintf("%s:%d", filepath.Base(f.CallSite.File), f.CallSite.Line)
	}
	panic("unknown allow mode " + by)
}

// gtCheckDistinctIDs asserts that the findings of one scope have distinct IDs:
// an ID names one problem in the allow-list and in the pool's report, where
// findings with the same ID are merged.
func gtCheckDistinctIDs(t *testing.T, fs []n1detect.Finding) {
	t.Helper()
	seen := map[string]n1detect.Finding{}
	for _, f := range fs {
		if g, ok := seen[f.ID]; ok {
			t.Errorf("two findings share ID %s (allow-listing one allows both; the report merges them):\n%s%s", f.ID, g, f)
			continue
		}
		seen[f.ID] = f
	}
}

// gtCheckStacks asserts that a finding's stack lists application frames
// only: never the standard library's (sync.(*WaitGroup).Go, net/http …).
func gtCheckStacks(t *testing.T, fs []n1detect.Finding) {
	t.Helper()
	for _, f := range fs {
		for _, s := range f.Stack {
			if gtIsStdlib(s.Function) {
				t.Errorf("the stack lists a standard-library frame %s:\n%s", s, f)
			}
		}
	}
}

// gtIsStdlib reports whether a function (as runtime.Frame names it) is in the
// standard library: its import path's first element has no dot.
func gtIsStdlib(fn string) bool {
	first := fn
	if i := strings.IndexByte(first, '/'); i >= 0 {
		first = first[:i]
	} else if i := strings.IndexByte(first, '.'); i >= 0 {
		first = first[:i]
	}
	return first != "main" && !strings.Contains(first, ".")
}

// runGroundTruth runs the scenarios on db and scores them: over all of them
// and over the rows of n1.md §8 (returned second).
func runGroundTruth(t *testing.T, via string, db gtDB, scenarios []gtScenario) (gtScore, gtScore) {
	var score, table gtScore
	for _, sc := range scenarios {
		label := fmt.Sprintf("%02d", sc.index)
		if sc.row > 0 {
			label += fmt.Sprintf("_row%d", sc.row)
		}
		t.Run(label+"_"+sc.name, func(t *testing.T) {
			var cfg n1detect.Config
			run := func(ctx context.Context) error { return sc.run(ctx, db) }
			if sc.allow != "" {
				probe := gtRunScope(t, "probe", cfg, run)
				if len(probe) != 1 || probe[0].Kind != n1detect.NPlusOne {
					t.Fatalf("probe: want one N+1 to allow-list, got:\n%s", gtFindingsText(probe))
				}
				cfg.Allow = []string{gtAllowEntry(probe[0], sc.allow)}
			}
			got := gtRunScope(t, sc.name, cfg, run)
			if len(got) > 0 {
				t.Logf("findings (want %v):\n%s", gtWantKinds(sc.want), gtFindingsText(got))
			}
			if sc.row > 0 {
				table.add(sc.want, got)
			}
			if !score.add(sc.want, got) {
				t.Errorf("%s via %s: want %v, found %v:\n%s", sc.name, via, gtWantKinds(sc.want), gtKinds(got), gtFindingsText(got))
				return
			}
			for _, f := range got {
				if filepath.Base(f.CallSite.File) != "groundtruth_test.go" {
					t.Errorf("call site %s is not in the scenario's code:\n%s", f.CallSite, f)
				}
			}
			gtCheckDistinctIDs(t, got)
			gtCheckStacks(t, got)
			if sc.check != nil && len(got) > 0 {
				sc.check(t, got)
			}
		})
	}
	return score, table
}

// ---- database/sql ----

// gtSQLScenario is a scenario written against database/sql.
type gtSQLScenario struct {
	name string
	want []n1detect.Kind
	run  func(ctx context.Context, db *sql.DB) error
}

func gtSQLScenarios() []gtSQLScenario {
	projects := func(ctx context.Context, db *sql.DB) ([]gtProject, error) {
		rows, err := db.QueryContext(ctx, "SELECT id, owner_id FROM projects WHERE id <= $1 ORDER BY id", gtN)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ps []gtProject
		for rows.Next() {
			var p gtProject
			if err := rows.Scan(&p.ID, &p.Owner); err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
		return ps, rows.Err()
	}
	return []gtSQLScenario{
		{name: "per project SELECT users WHERE id=$1", want: gtN1,
			run: func(ctx context.Context, db *sql.DB) error {
				ps, err := projects(ctx, db)
				if err != nil {
					return err
				}
				for _, p := range ps {
					var email string
					if err := db.QueryRowContext(ctx, gtUserEmailSQL, p.Owner).Scan(&email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "per project SELECT through a prepared *sql.Stmt", want: gtN1,
			run: func(ctx context.Context, db *sql.DB) error {
				ps, err := projects(ctx, db)
				if err != nil {
					return err
				}
				stmt, err := db.PrepareContext(ctx, gtUserEmailSQL)
				if err != nil {
					return err
				}
				defer stmt.Close()
				for _, p := range ps {
					var email string
					if err := stmt.QueryRowContext(ctx, p.Owner).Scan(&email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "one call site in a loop with identical args", want: gtRedundant,
			run: func(ctx context.Context, db *sql.DB) error {
				for range gtN {
					var email string
					if err := db.QueryRowContext(ctx, gtUserEmailSQL, int64(1)).Scan(&email); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "hand-rolled chunks: ANY($1) x 3", want: gtNone,
			run: func(ctx context.Context, db *sql.DB) error {
				for chunk := range 3 {
					ids := []int64{int64(chunk*10 + 1), int64(chunk*10 + 2), int64(chunk*10 + 3)}
					rows, err := db.QueryContext(ctx, "SELECT id, email FROM users WHERE id = ANY($1)", ids)
					if err != nil {
						return err
					}
					rows.Close()
				}
				return nil
			}},
		{name: "UPDATE per row in a *sql.Tx", want: gtN1Write,
			run: func(ctx context.Context, db *sql.DB) error {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				for id := range int64(gtN) {
					if _, err := tx.ExecContext(ctx, "UPDATE content SET word_count = word_count + 1 WHERE id = $1", id+100); err != nil {
						return err
					}
				}
				return tx.Rollback()
			}},
		{name: "keyset pagination", want: gtNone,
			run: func(ctx context.Context, db *sql.DB) error {
				last := int64(0)
				for range 5 {
					rows, err := db.QueryContext(ctx, "SELECT id FROM content WHERE id > $1 ORDER BY id LIMIT 100", last)
					if err != nil {
						return err
					}
					for rows.Next() {
						if err := rows.Scan(&last); err != nil {
							rows.Close()
							return err
						}
					}
					rows.Close()
				}
				return nil
			}},
		{name: "a single query", want: gtNone,
			run: func(ctx context.Context, db *sql.DB) error {
				_, err := projects(ctx, db)
				return err
			}},
		{name: "loop wrapped in Ignore(ctx)", want: gtNone,
			run: func(ctx context.Context, db *sql.DB) error {
				ictx := n1detect.Ignore(ctx)
				for id := range int64(gtN) {
					var email string
					if err := db.QueryRowContext(ictx, gtUserEmailSQL, id+1).Scan(&email); err != nil {
						return err
					}
				}
				return nil
			}},
	}
}

// ---- the tests ----

// gtQuietTracer is the tracer configuration of the suite: no slow-query log.
var gtQuietTracer = tracer.Config{SlowThreshold: -1}

func TestGroundTruth(t *testing.T) {
	// The scenarios write (INSERT, UPDATE, DELETE, COPY): they run on a
	// scratch copy of the seeded database, not on the shared one.
	dsn := testenv.NewDatabase(t, testenv.WithSeed())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var lines []string
	report := func(via string, s gtScore) {
		line := fmt.Sprintf("n1detect ground truth: %s [%s]", s, via)
		lines = append(lines, line)
		t.Log(line)
	}
	report2 := func(via string, all, table gtScore) {
		report(via, all)
		report(via+", n1.md §8 rows only", table)
	}

	t.Run("pgxperf.Pool", func(t *testing.T) {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg, Tracer: gtQuietTracer})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		all, table := runGroundTruth(t, "pgxperf.Pool", pool, gtScenarios())
		report2("pgxperf.Pool", all, table)
	})

	t.Run("pgxpool+tracer.New", func(t *testing.T) {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.Tracer = tracer.New(gtQuietTracer)
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		all, table := runGroundTruth(t, "pgxpool", pool, gtScenarios())
		report2("pgxpool with tracer.New", all, table)
	})

	t.Run("pgx.Conn+tracer.New", func(t *testing.T) {
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cc.Tracer = tracer.New(gtQuietTracer)
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var serial []gtScenario
		for _, sc := range gtScenarios() {
			if !sc.concurrent {
				serial = append(serial, sc)
			}
		}
		all, table := runGroundTruth(t, "pgx.Conn", conn, serial)
		report2("one pgx.Conn with tracer.New, serial scenarios", all, table)
	})

	t.Run("database/sql", func(t *testing.T) {
		cc, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cc.Tracer = tracer.New(gtQuietTracer)
		db := stdlib.OpenDB(*cc)
		defer db.Close()
		var score gtScore
		for i, sc := range gtSQLScenarios() {
			t.Run(fmt.Sprintf("%02d_%s", i+1, sc.name), func(t *testing.T) {
				got := gtRunScope(t, sc.name, n1detect.Config{}, func(ctx context.Context) error { return sc.run(ctx, db) })
				if !score.add(sc.want, got) {
					t.Errorf("%s via database/sql: want %v, found %v:\n%s", sc.name, gtWantKinds(sc.want), gtKinds(got), gtFindingsText(got))
					return
				}
				gtCheckDistinctIDs(t, got)
				for _, f := range got {
					if filepath.Base(f.CallSite.File) != "groundtruth_test.go" {
						t.Errorf("call site %s is not in the scenario's code:\n%s", f.CallSite, f)
					}
				}
			})
		}
		report("database/sql via pgx/v5/stdlib", score)
	})

	t.Cleanup(func() {
		// Repeat the score lines last, where they are easy to find.
		for _, l := range lines {
			t.Log(l)
		}
	})
}
