// Package pgerr is pgxperf's one classification of the errors a statement
// can end with. The router (retry on another node, mark a node down), the
// tracer (errors by SQLSTATE) and the query cache's invalidator (did the
// statement change anything) all read it, so they never disagree.
//
// Errors are told apart by type, by SQLSTATE and by pgconn's own
// predicates, never by message text. Only a real connection failure is a
// health signal: pgx.ErrNoRows, a Scan or decode error in the caller's
// code, and the statement's own SQL error are the caller's answer.
package pgerr
