package sqlinfo

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"strings"
)

// Fixed values of Info.Reason. Callers may compare against them; the other
// reasons ("calls unknown function f", "utility statement SET", "locking
// clause FOR UPDATE", …) name what they found and are meant for people.
const (
	// ReasonPlainSelect: a SELECT, VALUES or TABLE proven read-only.
	ReasonPlainSelect = "plain select"
	// ReasonShow: SHOW, which is read-only.
	ReasonShow = "show"
	// ReasonExplainOnly: EXPLAIN without ANALYZE executes nothing.
	ReasonExplainOnly = "explain without analyze"
	// ReasonParseError: pg_query rejected the text (Kind KindUnparsed).
	ReasonParseError = "parse error"
	// ReasonEmpty: no statement at all (Kind KindEmpty).
	ReasonEmpty = "empty statement"
	// ReasonMulti: more than one statement (Kind KindMulti).
	ReasonMulti = "multi-statement"
	// ReasonTransaction: BEGIN, COMMIT, SAVEPOINT, … (Kind KindTransaction).
	ReasonTransaction = "transaction control"
	// ReasonSelectInto: SELECT … INTO creates a table.
	ReasonSelectInto = "SELECT INTO"
	// ReasonDDL: CREATE, ALTER, DROP, TRUNCATE, GRANT, … (Kind KindDDL).
	ReasonDDL = "ddl statement"
	// ReasonUnknownFunction starts the reason of a SELECT whose only obstacle
	// is a function that is not a known read-only built-in (Info.ReadOnlyIfFunctions).
	ReasonUnknownFunction = "calls unknown function "
)

// explainAnalyzePrefix starts the reason of an EXPLAIN ANALYZE, followed by
// the reason of the statement it runs.
const explainAnalyzePrefix = "explain analyze: "

// classify sets Kind, TxOp, ReadOnly and Reason of info for the single
// statement n, using the facts w collected from the whole text.
func classify(info *Info, n *pg_query.Node, w *walker) {
	info.Kind, info.TxOp, info.ReadOnly, info.Reason = verdict(n, w)
	info.ReadOnlyIfFunctions = info.Kind == KindSelect && strings.HasPrefix(info.Reason, ReasonUnknownFunction)
}

func verdict(n *pg_query.Node, w *walker) (Kind, TxOp, bool, string) {
	switch s := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		ro, reason := selectVerdict(w)
		return KindSelect, TxNone, ro, reason
	case *pg_query.Node_InsertStmt:
		return KindInsert, TxNone, false, "insert statement"
	case *pg_query.Node_UpdateStmt:
		if w.cursor != "" {
			return KindUpdate, TxNone, false, "update statement, " + cursorReason(w.cursor)
		}
		return KindUpdate, TxNone, false, "update statement"
	case *pg_query.Node_DeleteStmt:
		if w.cursor != "" {
			return KindDelete, TxNone, false, "delete statement, " + cursorReason(w.cursor)
		}
		return KindDelete, TxNone, false, "delete statement"
	case *pg_query.Node_MergeStmt:
		return KindMerge, TxNone, false, "merge statement"
	case *pg_query.Node_CopyStmt:
		return KindCopy, TxNone, false, "copy statement"
	case *pg_query.Node_TransactionStmt:
		return KindTransaction, txOp(s.TransactionStmt.Kind), false, ReasonTransaction
	case *pg_query.Node_VariableShowStmt:
		return KindUtility, TxNone, true, ReasonShow
	case *pg_query.Node_ExplainStmt:
		if !explainAnalyze(s.ExplainStmt) {
			if w.tempRel != "" {
				return KindUtility, TxNone, false, "reads temporary table " + w.tempRel
			}
			if x := s.ExplainStmt.Query.GetExecuteStmt(); x != nil {
				// The prepared statement exists only in the session that
				// made it: another connection (a replica's) does not have it.
				return KindUtility, TxNone, false, "EXPLAIN EXECUTE of prepared statement " + x.Name + " (session state)"
			}
			if w.cursor != "" {
				return KindUtility, TxNone, false, cursorReason(w.cursor)
			}
			return KindUtility, TxNone, true, ReasonExplainOnly
		}
		_, _, ro, reason := verdict(s.ExplainStmt.Query, w)
		return KindUtility, TxNone, ro, explainAnalyzePrefix + reason
	}
	if name := utilityName(n); name != "" {
		return KindUtility, TxNone, false, "utility statement " + name
	}
	return KindDDL, TxNone, false, ReasonDDL
}

// selectVerdict decides whether a SELECT (VALUES, TABLE) is read-only.
func selectVerdict(w *walker) (bool, string) {
	switch {
	case w.hasInto:
		return false, ReasonSelectInto
	case w.writableCTE != "":
		return false, "writable CTE (" + w.writableCTE + ")"
	case len(w.lockings) > 0:
		return false, "locking clause " + w.lockings[0]
	case w.tempRel != "":
		return false, "reads temporary table " + w.tempRel
	case w.cursor != "":
		return false, cursorReason(w.cursor)
	}
	unknown := ""
	for _, f := range w.funcs {
		switch classifyFunc(f) {
		case funcSideEffect:
			return false, "calls volatile function " + f
		case funcUnknown:
			if unknown == "" {
				unknown = f
			}
		}
	}
	if unknown != "" {
		return false, ReasonUnknownFunction + unknown
	}
	return true, ReasonPlainSelect
}

func txOp(k pg_query.TransactionStmtKind) TxOp {
	switch k {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		return TxBegin
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		return TxCommit
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return TxRollback
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return TxSavepoint
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return TxRelease
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return TxRollbackTo
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE, pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED,
		pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return TxPrepare
	}
	return TxNone
}

// utilityName names the utility statement n in upper case, or returns ""
// for statements that are DDL.
func utilityName(n *pg_query.Node) string {
	switch s := n.GetNode().(type) {
	case *pg_query.Node_VariableSetStmt:
		switch s.VariableSetStmt.Kind {
		case pg_query.VariableSetKind_VAR_RESET, pg_query.VariableSetKind_VAR_RESET_ALL:
			return "RESET"
		}
		return "SET"
	case *pg_query.Node_ListenStmt:
		return "LISTEN"
	case *pg_query.Node_UnlistenStmt:
		return "UNLISTEN"
	case *pg_query.Node_NotifyStmt:
		return "NOTIFY"
	case *pg_query.Node_PrepareStmt:
		return "PREPARE"
	case *pg_query.Node_ExecuteStmt:
		return "EXECUTE"
	case *pg_query.Node_DeallocateStmt:
		return "DEALLOCATE"
	case *pg_query.Node_VacuumStmt:
		if s.VacuumStmt.IsVacuumcmd {
			return "VACUUM"
		}
		return "ANALYZE"
	case *pg_query.Node_LockStmt:
		return "LOCK"
	case *pg_query.Node_DoStmt:
		return "DO"
	case *pg_query.Node_CallStmt:
		return "CALL"
	case *pg_query.Node_CheckPointStmt:
		return "CHECKPOINT"
	case *pg_query.Node_DiscardStmt:
		return "DISCARD"
	case *pg_query.Node_LoadStmt:
		return "LOAD"
	case *pg_query.Node_ClusterStmt:
		return "CLUSTER"
	case *pg_query.Node_ReindexStmt:
		return "REINDEX"
	case *pg_query.Node_DeclareCursorStmt:
		return "DECLARE"
	case *pg_query.Node_FetchStmt:
		if s.FetchStmt.Ismove {
			return "MOVE"
		}
		return "FETCH"
	case *pg_query.Node_ClosePortalStmt:
		return "CLOSE"
	case *pg_query.Node_ConstraintsSetStmt:
		return "SET CONSTRAINTS"
	case *pg_query.Node_RefreshMatViewStmt:
		return "REFRESH MATERIALIZED VIEW"
	case *pg_query.Node_ExplainStmt:
		return "EXPLAIN"
	case *pg_query.Node_VariableShowStmt:
		return "SHOW"
	}
	return ""
}

// cursorReason is the reason of a statement with WHERE CURRENT OF: the
// cursor exists only in the session (and transaction) that declared it.
func cursorReason(cursor string) string {
	return "WHERE CURRENT OF cursor " + cursor + " (session state)"
}
