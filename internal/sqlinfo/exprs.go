package sqlinfo

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// batchFuncs turn one array or JSON argument into a set of rows: called
// with a parameter or a literal they make a statement batch-shaped
// ("UPDATE … FROM unnest($1::int[], $2::text[])").
var batchFuncs = map[string]bool{
	"unnest": true, "json_to_recordset": true, "jsonb_to_recordset": true,
	"json_populate_recordset": true, "jsonb_populate_recordset": true,
	"json_array_elements": true, "jsonb_array_elements": true,
	"json_array_elements_text": true, "jsonb_array_elements_text": true,
}

// funcCall records the name of a function call and whether it makes the
// statement batch-shaped.
func (w *walker) funcCall(fc *pg_query.FuncCall) {
	name := funcName(fc)
	if name == "" {
		return
	}
	w.funcs = append(w.funcs, name)
	nargs := len(fc.Args)
	if fc.AggWithinGroup {
		nargs += len(fc.AggOrder)
	}
	w.calls = append(w.calls, Call{Name: name, Args: nargs, Variadic: fc.FuncVariadic})
	if batchFuncs[strings.TrimPrefix(name, "pg_catalog.")] {
		for _, a := range fc.Args {
			if isBatchValue(a) {
				w.batch = true
				break
			}
		}
	}
}

// funcName returns the dot-joined name of a call as Postgres resolves it:
// the parser has folded unquoted names to lower case, and a quoted name
// keeps its case ("Lower" is not the built-in lower). Calls that the
// grammar produces from SQL syntax (EXTRACT(…), TRIM(…), AT TIME ZONE) are
// named without the "pg_catalog." the parser adds.
func funcName(fc *pg_query.FuncCall) string {
	var b strings.Builder
	for i, n := range fc.Funcname {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(n.GetString_().GetSval())
	}
	name := b.String()
	if fc.Funcformat == pg_query.CoercionForm_COERCE_SQL_SYNTAX {
		name = strings.TrimPrefix(name, "pg_catalog.")
	}
	return name
}

// aExpr marks "x = ANY($1)", "x <> ALL(ARRAY[…])" and "x IN (a, b, …)" as
// batch-shaped. "x IN ($1)" is one value and is not.
func (w *walker) aExpr(e *pg_query.A_Expr) {
	switch e.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		if isBatchValue(e.Rexpr) {
			w.batch = true
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		if l := e.Rexpr.GetList(); l != nil && len(l.Items) >= 2 {
			w.batch = true
		}
	}
}

// isBatchValue reports whether n is a set of values supplied by the caller
// or the text: a parameter, an ARRAY[…] constructor or an array literal
// ('{1,2}'), possibly cast. A column is not.
func isBatchValue(n *pg_query.Node) bool {
	for n != nil {
		switch v := n.Node.(type) {
		case *pg_query.Node_ParamRef, *pg_query.Node_AArrayExpr:
			return true
		case *pg_query.Node_AConst:
			return strings.HasPrefix(v.AConst.GetSval().GetSval(), "{")
		case *pg_query.Node_TypeCast:
			n = v.TypeCast.Arg
		default:
			return false
		}
	}
	return false
}

// svfName names a SQL-standard value function (CURRENT_TIMESTAMP, …) in
// lower case, without its precision.
func svfName(op pg_query.SQLValueFunctionOp) string {
	switch op {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return "current_date"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:
		return "current_time"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return "current_timestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return "localtime"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return "localtimestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return "current_role"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:
		return "current_user"
	case pg_query.SQLValueFunctionOp_SVFOP_USER:
		return "user"
	case pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:
		return "session_user"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return "current_catalog"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return "current_schema"
	}
	return "sql_value_function"
}
