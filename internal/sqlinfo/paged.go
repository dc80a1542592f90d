package sqlinfo

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// isPaged reports whether a top-level statement reads one page of a longer
// result: a SELECT with a LIMIT and either an OFFSET, or an ORDER BY with a
// range comparison (keyset pagination, "WHERE id > $1 ORDER BY id LIMIT 500").
// A loop running such a statement walks a result set; it is not an N+1.
func isPaged(n *pg_query.Node) (paged bool, cursor []int) {
	s := n.GetSelectStmt()
	if s == nil || s.LimitCount == nil {
		return false, nil
	}
	if s.LimitOffset != nil {
		return true, params(s.LimitOffset, nil)
	}
	if len(s.SortClause) > 0 && hasRangeComparison(s.WhereClause) {
		return true, rangeParams(s.WhereClause, nil)
	}
	return false, nil
}

// rangeParams collects the $n placeholders compared with <, >, <=, >=: the
// cursor of a keyset page.
func rangeParams(n *pg_query.Node, out []int) []int {
	if n == nil {
		return out
	}
	if b := n.GetBoolExpr(); b != nil {
		for _, arg := range b.Args {
			out = rangeParams(arg, out)
		}
		return out
	}
	if a := n.GetAExpr(); a != nil && a.Kind == pg_query.A_Expr_Kind_AEXPR_OP {
		for _, name := range a.Name {
			switch name.GetString_().GetSval() {
			case "<", ">", "<=", ">=":
				out = params(a.Lexpr, out)
				out = params(a.Rexpr, out)
			}
		}
	}
	return out
}

// params collects the $n placeholders in an expression (casts and row
// values included).
func params(n *pg_query.Node, out []int) []int {
	if n == nil {
		return out
	}
	switch {
	case n.GetParamRef() != nil:
		return append(out, int(n.GetParamRef().Number))
	case n.GetTypeCast() != nil:
		return params(n.GetTypeCast().Arg, out)
	case n.GetRowExpr() != nil:
		for _, a := range n.GetRowExpr().Args {
			out = params(a, out)
		}
	case n.GetAExpr() != nil:
		out = params(n.GetAExpr().Lexpr, out)
		out = params(n.GetAExpr().Rexpr, out)
	}
	return out
}

// hasRangeComparison looks for <, >, <= or >= (also on row values) among
// the AND/OR terms of a WHERE clause.
func hasRangeComparison(n *pg_query.Node) bool {
	if n == nil {
		return false
	}
	if b := n.GetBoolExpr(); b != nil {
		for _, arg := range b.Args {
			if hasRangeComparison(arg) {
				return true
			}
		}
		return false
	}
	if a := n.GetAExpr(); a != nil && a.Kind == pg_query.A_Expr_Kind_AEXPR_OP {
		for _, name := range a.Name {
			switch name.GetString_().GetSval() {
			case "<", ">", "<=", ">=":
				return true
			}
		}
	}
	return false
}
