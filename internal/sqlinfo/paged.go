package sqlinfo

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// isPaged reports whether a top-level statement reads one page of a longer
// result: a SELECT with a LIMIT and either an OFFSET, or an ORDER BY with a
// range comparison (keyset pagination, "WHERE id > $1 ORDER BY id LIMIT 500").
// A loop running such a statement walks a result set; it is not an N+1.
func isPaged(n *pg_query.Node) bool {
	s := n.GetSelectStmt()
	if s == nil || s.LimitCount == nil {
		return false
	}
	if s.LimitOffset != nil {
		return true
	}
	return len(s.SortClause) > 0 && hasRangeComparison(s.WhereClause)
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
