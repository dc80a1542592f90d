// Package n1detect finds N+1 query patterns: the same statement run again and
// again from one call site within a unit of work (an HTTP request, a test, a
// job), where one batched statement would do.
//
// This package is being built (see the project's issues). Its design: a scope
// carried by context.Context counts the statements of a unit of work by
// (fingerprint, application call site) as the tracer package reports them; a
// statement repeated with different arguments from the same call site is an N+1
// read (or write), the same arguments repeated is redundant work, and
// batch-shaped statements (= ANY($1), IN lists, multi-row VALUES) are not
// findings. Findings render as text and JSON, fail tests through a go test
// helper, and are logged per request by an HTTP middleware:
//
//	ctx := n1detect.ForTest(t) // fails t at cleanup when an N+1 is found
//	for _, id := range ids { pool.QueryRow(ctx, "SELECT … WHERE id = $1", id) … }
package n1detect
