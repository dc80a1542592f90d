// Package multirows carries the total row count of a text of several
// statements from the code that runs it to the tracer. pgx reports only the
// last statement's command tag for such a text; pgxperf.Pool runs it itself,
// adds up every statement's rows, and hands the total to its tracer through
// the statement's context.
package multirows

import "context"

type key struct{}

// With returns a context that carries n, the total to report.
func With(ctx context.Context, n *int64) context.Context {
	return context.WithValue(ctx, key{}, n)
}

// From returns the total ctx carries, if any.
func From(ctx context.Context) (int64, bool) {
	if n, ok := ctx.Value(key{}).(*int64); ok && n != nil {
		return *n, true
	}
	return 0, false
}
