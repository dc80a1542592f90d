package sqlinfo

import (
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// access says how a relation met during the walk is used.
type access uint8

const (
	accessRead access = iota
	accessWrite
)

// walker collects facts from a parse tree. Most nodes are visited by a
// generic protobuf walk; the few that decide how a relation is used, which
// names are CTEs, or what a statement does are handled by type.
type walker struct {
	read, written []string
	funcs         []string
	lockings      []string
	ctes          []string // CTE names in scope, innermost last
	writableCTE   string   // kind of the first data-modifying CTE ("insert", …)
	hasInto       bool     // SELECT INTO / CREATE TABLE AS
	batch         bool
	tempRel       string // a relation named in pg_temp (first one)
	params        int
	// explainOnly is set while walking the statement of an EXPLAIN without
	// ANALYZE: nothing is executed, so relations are recorded as read.
	explainOnly bool
	calls       []Call
	volatile    string // see Info.Volatile (first one met)
	cursor      string // the cursor of a WHERE CURRENT OF (first one)
}

// stmt walks one top-level statement (or the statement inside EXPLAIN,
// PREPARE, …) of any kind.
func (w *walker) stmt(n *pg_query.Node) {
	if n == nil {
		return
	}
	switch s := n.Node.(type) {
	case *pg_query.Node_ExplainStmt:
		saved := w.explainOnly
		w.explainOnly = saved || !explainAnalyze(s.ExplainStmt)
		w.stmt(s.ExplainStmt.Query)
		w.explainOnly = saved
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt,
		*pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt, *pg_query.Node_CopyStmt,
		*pg_query.Node_CreateStmt, *pg_query.Node_DropStmt, *pg_query.Node_VacuumStmt,
		*pg_query.Node_PrepareStmt, *pg_query.Node_DeclareCursorStmt, *pg_query.Node_CreateTableAsStmt:
		w.msg(n.ProtoReflect(), accessRead)
	default:
		// DDL and other utilities: relations named directly by the statement
		// are its targets; relations deeper down (FOREIGN KEY … REFERENCES,
		// view queries) are read.
		w.direct(n.ProtoReflect())
	}
}

// direct walks the fields of the statement inside node wrapper m, treating
// a RangeVar field (or a list of them) as a written relation.
func (w *walker) direct(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		stmt := v.Message()
		stmt.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
				return true
			}
			if fd.IsList() {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					w.directItem(l.Get(i).Message())
				}
				return true
			}
			w.directItem(v.Message())
			return true
		})
		return true
	})
}

func (w *walker) directItem(m protoreflect.Message) {
	switch x := m.Interface().(type) {
	case *pg_query.RangeVar:
		w.rel(x, accessWrite)
		return
	case *pg_query.Node:
		if rv, ok := x.Node.(*pg_query.Node_RangeVar); ok {
			w.rel(rv.RangeVar, accessWrite)
			return
		}
	}
	w.msg(m, accessRead)
}

// msg walks message m; acc is how a RangeVar found directly below is used.
func (w *walker) msg(m protoreflect.Message, acc access) {
	switch x := m.Interface().(type) {
	case *pg_query.RangeVar:
		w.rel(x, acc)
		return
	case *pg_query.SelectStmt:
		base := w.with(x.WithClause)
		if len(x.ValuesLists) >= 2 {
			w.batch = true
		}
		w.children(m, accessRead, "with_clause")
		w.ctes = w.ctes[:base]
		return
	case *pg_query.InsertStmt:
		w.dml(m, x.WithClause, x.Relation)
		return
	case *pg_query.UpdateStmt:
		w.dml(m, x.WithClause, x.Relation)
		return
	case *pg_query.DeleteStmt:
		w.dml(m, x.WithClause, x.Relation)
		return
	case *pg_query.MergeStmt:
		w.dml(m, x.WithClause, x.Relation)
		return
	case *pg_query.CopyStmt:
		if x.IsFrom {
			w.rel(x.Relation, accessWrite)
		} else {
			w.rel(x.Relation, accessRead)
		}
		w.children(m, accessRead, "relation")
		return
	case *pg_query.CreateStmt:
		w.rel(x.Relation, accessWrite)
		w.children(m, accessRead, "relation")
		return
	case *pg_query.DropStmt:
		w.drop(x)
		return
	case *pg_query.VacuumRelation:
		w.rel(x.Relation, accessWrite)
		w.children(m, accessRead, "relation")
		return
	case *pg_query.IntoClause:
		w.hasInto = true
		w.rel(x.Rel, accessWrite)
		return
	case *pg_query.LockingClause:
		w.locking(x)
		return // locked_rels name FROM items, not tables
	case *pg_query.FuncCall:
		w.funcCall(x)
	case *pg_query.SQLValueFunction:
		name := svfName(x.Op)
		w.funcs = append(w.funcs, name)
		w.calls = append(w.calls, Call{Name: name, ValueFunction: true})
	case *pg_query.A_Const:
		w.constant(x)
	case *pg_query.RangeTableSample:
		w.setVolatile("TABLESAMPLE")
	case *pg_query.ColumnRef:
		w.columnRef(x)
	case *pg_query.CurrentOfExpr:
		if w.cursor == "" {
			w.cursor = x.CursorName
			if w.cursor == "" {
				w.cursor = "$" + strconv.Itoa(int(x.CursorParam))
			}
		}
	case *pg_query.A_Expr:
		w.aExpr(x)
	case *pg_query.ParamRef:
		w.params = max(w.params, int(x.Number))
	}
	w.children(m, acc)
}

// children walks every message-valued field of m except those named in skip.
func (w *walker) children(m protoreflect.Message, acc access, skip ...protoreflect.Name) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		if len(skip) > 0 && slices.Contains(skip, fd.Name()) {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.msg(l.Get(i).Message(), acc)
			}
			return true
		}
		w.msg(v.Message(), acc)
		return true
	})
}

// dml walks INSERT, UPDATE, DELETE and MERGE: the target is written, every
// other relation (sources, USING, FROM, subqueries) is read.
func (w *walker) dml(m protoreflect.Message, with *pg_query.WithClause, target *pg_query.RangeVar) {
	base := w.with(with)
	w.rel(target, accessWrite)
	w.children(m, accessRead, "with_clause", "relation")
	w.ctes = w.ctes[:base]
}

// with walks the CTEs of a WITH clause, brings their names into scope and
// returns the scope depth to restore afterwards. A CTE of a plain WITH sees
// the CTEs before it; in WITH RECURSIVE every CTE sees them all.
func (w *walker) with(wc *pg_query.WithClause) int {
	base := len(w.ctes)
	if wc == nil {
		return base
	}
	if wc.Recursive {
		for _, n := range wc.Ctes {
			if cte := n.GetCommonTableExpr(); cte != nil {
				w.ctes = append(w.ctes, cte.Ctename)
			}
		}
	}
	for _, n := range wc.Ctes {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		if kind := dmlKind(cte.Ctequery); kind != "" && w.writableCTE == "" {
			w.writableCTE = kind
		}
		if cte.Ctequery != nil {
			w.msg(cte.Ctequery.ProtoReflect(), accessRead)
		}
		if !wc.Recursive {
			w.ctes = append(w.ctes, cte.Ctename)
		}
	}
	return base
}

// dmlKind names the data-modifying statement n, or returns "".
func dmlKind(n *pg_query.Node) string {
	if n == nil {
		return ""
	}
	switch n.Node.(type) {
	case *pg_query.Node_InsertStmt:
		return "insert"
	case *pg_query.Node_UpdateStmt:
		return "update"
	case *pg_query.Node_DeleteStmt:
		return "delete"
	case *pg_query.Node_MergeStmt:
		return "merge"
	}
	return ""
}

// rel records a relation. An unqualified name that matches a CTE in scope
// is the CTE, not a table.
func (w *walker) rel(rv *pg_query.RangeVar, acc access) {
	if rv == nil || rv.Relname == "" {
		return
	}
	if rv.Schemaname == "" && rv.Catalogname == "" && slices.Contains(w.ctes, rv.Relname) {
		return
	}
	name := rv.Relname
	if rv.Schemaname != "" {
		name = rv.Schemaname + "." + name
	}
	if isTempSchema(rv.Schemaname) || rv.Relpersistence == "t" {
		// A temporary table exists only in the session that made it, and
		// never on a standby.
		w.tempRel = name
	}
	if rv.Catalogname != "" {
		name = rv.Catalogname + "." + name
	}
	if acc == accessWrite && !w.explainOnly {
		w.written = append(w.written, name)
	} else {
		w.read = append(w.read, name)
	}
}

// isTempSchema reports whether a schema name is pg_temp or a session's pg_temp_N.
func isTempSchema(schema string) bool {
	if schema == "pg_temp" {
		return true
	}
	rest, ok := strings.CutPrefix(schema, "pg_temp_")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// drop records the tables, views, indexes and sequences a DROP removes.
func (w *walker) drop(d *pg_query.DropStmt) {
	switch d.RemoveType {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW,
		pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_INDEX,
		pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_FOREIGN_TABLE:
	default:
		return
	}
	for _, obj := range d.Objects {
		list := obj.GetList()
		if list == nil {
			continue
		}
		parts := make([]string, 0, len(list.Items))
		for _, it := range list.Items {
			parts = append(parts, it.GetString_().GetSval())
		}
		if name := strings.Join(parts, "."); name != "" {
			if w.explainOnly {
				w.read = append(w.read, name)
			} else {
				w.written = append(w.written, name)
			}
		}
	}
}

// locking records a FOR UPDATE / FOR SHARE … clause.
func (w *walker) locking(lc *pg_query.LockingClause) {
	var s string
	switch lc.Strength {
	case pg_query.LockClauseStrength_LCS_FORKEYSHARE:
		s = "FOR KEY SHARE"
	case pg_query.LockClauseStrength_LCS_FORSHARE:
		s = "FOR SHARE"
	case pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE:
		s = "FOR NO KEY UPDATE"
	default:
		s = "FOR UPDATE"
	}
	switch lc.WaitPolicy {
	case pg_query.LockWaitPolicy_LockWaitSkip:
		s += " SKIP LOCKED"
	case pg_query.LockWaitPolicy_LockWaitError:
		s += " NOWAIT"
	}
	if !slices.Contains(w.lockings, s) {
		w.lockings = append(w.lockings, s)
	}
}

// explainAnalyze reports whether an EXPLAIN executes its statement. An
// ANALYZE option whose value cannot be read counts as executing.
func explainAnalyze(e *pg_query.ExplainStmt) bool {
	analyze := false
	for _, o := range e.Options {
		d := o.GetDefElem()
		if d == nil || d.Defname != "analyze" {
			continue
		}
		analyze = defElemTrue(d.Arg)
	}
	return analyze
}

// defElemTrue interprets a boolean option value as Postgres does.
func defElemTrue(arg *pg_query.Node) bool {
	if arg == nil {
		return true
	}
	switch v := arg.Node.(type) {
	case *pg_query.Node_String_:
		switch strings.ToLower(v.String_.Sval) {
		case "false", "off", "no", "0", "f", "n":
			return false
		}
	case *pg_query.Node_Integer:
		return v.Integer.Ival != 0
	case *pg_query.Node_Boolean:
		return v.Boolean.Boolval
	}
	return true
}
