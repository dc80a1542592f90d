package replica

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/selfsql"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// writeWatch is the primary pool's tracer that tells the router about every
// write that completes on any of its connections, whichever Pool method,
// transaction or acquired connection ran it: reads that start afterwards
// then see it (pool-wide read-your-writes: Config.SessionConsistency
// false). pgxperf.Pool installs it on the primary's connections before the
// Router exists and attaches the Router once it does (see
// internal/bridge.ReplicaWriteWatch). A statement that may write (or whose
// text is not understood) is marked when it starts and reported when it
// ends; reads cost one cached analysis and no allocation.
type writeWatch struct {
	router atomic.Pointer[Router]
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

func (w *writeWatch) done(ctx context.Context, conn *pgx.Conn) {
	k, _ := ctx.Value(writeMarkKey{}).(writeKind)
	if k == noWrite {
		return
	}
	r := w.router.Load()
	if r == nil {
		return
	}
	if k == schemaChange {
		r.noteSchemaChange()
		if conn != nil && conn.PgConn().TxStatus() != 'I' {
			// DDL in a transaction: what the router reads from the catalog
			// until the transaction ends is the old schema. Forget again
			// when it ends.
			conn.PgConn().CustomData()[ddlInTxKey] = true
		}
	}
	r.noteWrite()
}

// ddlInTxKey marks, in a connection's CustomData, a transaction that ran DDL.
const ddlInTxKey = "pgxperf/ddl-in-tx"

// txEnded forgets the router's catalog facts when a transaction that ran
// DDL ends (committed: the new schema; rolled back: facts read meanwhile
// may be of the new one).
func (w *writeWatch) txEnded(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	cd := conn.PgConn().CustomData()
	if cd[ddlInTxKey] == nil {
		return
	}
	delete(cd, ddlInTxKey)
	if r := w.router.Load(); r != nil {
		r.noteSchemaChange()
	}
}

// mayWrite reports what a statement may do to what later reads see. A read
// counts as a write unless the router already knows it runs no user code
// (a shadowed built-in name, a user cast or operator may write); a failed
// write counts too: an error after the server committed (a lost
// connection, a Scan error after INSERT … RETURNING) must not let a later
// read miss it, and a needless mark only sends a few reads to the primary.
func (w *writeWatch) mayWrite(sql string) writeKind {
	if selfsql.Is(sql) { // pgxperf's own catalog and position queries: known reads
		return noWrite
	}
	info := sqlinfo.Analyze(sql)
	if info.ReadOnly {
		if r := w.router.Load(); r == nil || r.isRead(info) {
			return noWrite
		}
		return dataWrite
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
		case "SET", "RESET", "DISCARD", "DEALLOCATE", "LISTEN", "UNLISTEN", "PREPARE", "FETCH", "MOVE", "CLOSE":
			return noWrite
		case "DO", "CALL":
			return schemaChange
		}
	case sqlinfo.KindDDL, sqlinfo.KindMulti:
		return schemaChange
	}
	// Writes, and text pg_query cannot parse (a prepared statement's name,
	// usually: a write, not a schema change).
	return dataWrite
}

func (w *writeWatch) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return mark(ctx, w.mayWrite(data.SQL))
}

func (w *writeWatch) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryEndData) {
	w.done(ctx, conn)
	if conn != nil && conn.PgConn().TxStatus() == 'I' {
		w.txEnded(conn)
	}
}

func (w *writeWatch) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if data.Batch == nil {
		return mark(ctx, schemaChange)
	}
	k := noWrite
	for _, q := range data.Batch.QueuedQueries {
		k = max(k, w.mayWrite(q.SQL))
	}
	return mark(ctx, k)
}

// TraceBatchQuery reports each write of a batch as its result is read: the
// batch's implicit transaction has committed by then, and the caller may
// hand the result on before it closes the batch.
func (w *writeWatch) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if k := w.mayWrite(data.SQL); k != noWrite {
		if r := w.router.Load(); r != nil {
			if k == schemaChange {
				r.noteSchemaChange()
			}
			r.noteWrite()
		}
	}
}

func (w *writeWatch) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchEndData) {
	w.done(ctx, conn)
}

func (w *writeWatch) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return mark(ctx, dataWrite)
}

func (w *writeWatch) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	w.done(ctx, conn)
}

var (
	_ pgx.QueryTracer    = (*writeWatch)(nil)
	_ pgx.BatchTracer    = (*writeWatch)(nil)
	_ pgx.CopyFromTracer = (*writeWatch)(nil)
)
