package pgxperf

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/replica"
)

// writeWatch is the primary pool's tracer that tells the router about every
// write that completes on any of its connections, whichever Pool method,
// transaction or acquired connection ran it: reads that start afterwards
// then see it (replica.ConsistencyPool). A statement that may write (or
// whose text is not understood) is marked when it starts and reported when
// it ends; reads cost one cached analysis and no allocation.
type writeWatch struct {
	router atomic.Pointer[replica.Router]
}

type writeMarkKey struct{}

// What a statement may do, as marked in its context.
type writeKind uint8

const (
	noWrite writeKind = iota
	dataWrite
	schemaChange // DDL, or text not understood: the router forgets its catalog facts too
)

// Marks are preallocated: marking a write allocates only the context node.
var marks = [...]any{dataWrite: dataWrite, schemaChange: schemaChange}

// mark returns ctx marked with what a statement may do.
func mark(ctx context.Context, k writeKind) context.Context {
	if k == noWrite {
		return ctx
	}
	return context.WithValue(ctx, writeMarkKey{}, marks[k])
}

func (w *writeWatch) done(ctx context.Context) {
	k, _ := ctx.Value(writeMarkKey{}).(writeKind)
	if k == noWrite {
		return
	}
	if r := w.router.Load(); r != nil {
		if k == schemaChange {
			r.NoteSchemaChange()
		}
		r.NoteWrite()
	}
}

// mayWrite reports whether a statement may change what later reads see. A
// failed write counts too: an error after the server committed (a lost
// connection, a Scan error after INSERT … RETURNING) must not let a later
// read miss it, and a needless mark only sends a few reads to the primary.
func mayWrite(sql string) writeKind {
	info := sqlinfo.Analyze(sql)
	if info.ReadOnly {
		return noWrite
	}
	switch info.Kind {
	case sqlinfo.KindEmpty:
		return noWrite
	case sqlinfo.KindTransaction:
		if info.TxOp == sqlinfo.TxCommit || info.TxOp == sqlinfo.TxPrepare {
			return dataWrite
		}
		return noWrite
	case sqlinfo.KindUtility:
		switch strings.TrimPrefix(info.Reason, "utility statement ") {
		case "SET", "RESET", "DISCARD", "DEALLOCATE", "LISTEN", "UNLISTEN", "PREPARE", "DECLARE", "FETCH", "MOVE", "CLOSE":
			return noWrite
		case "DO", "CALL":
			return schemaChange
		}
	case sqlinfo.KindDDL, sqlinfo.KindMulti, sqlinfo.KindUnparsed:
		return schemaChange
	}
	return dataWrite
}

func (w *writeWatch) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return mark(ctx, mayWrite(data.SQL))
}

func (w *writeWatch) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	w.done(ctx)
}

func (w *writeWatch) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if data.Batch == nil {
		return mark(ctx, schemaChange)
	}
	k := noWrite
	for _, q := range data.Batch.QueuedQueries {
		k = max(k, mayWrite(q.SQL))
	}
	return mark(ctx, k)
}

func (w *writeWatch) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (w *writeWatch) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	w.done(ctx)
}

func (w *writeWatch) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return mark(ctx, dataWrite)
}

func (w *writeWatch) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	w.done(ctx)
}

var (
	_ pgx.QueryTracer    = (*writeWatch)(nil)
	_ pgx.BatchTracer    = (*writeWatch)(nil)
	_ pgx.CopyFromTracer = (*writeWatch)(nil)
)
