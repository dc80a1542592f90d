package tracer

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Op says which pgx operation an Event describes.
type Op uint8

// Operations.
const (
	OpQuery      Op = iota // Query, QueryRow or Exec (including BEGIN/COMMIT sent by a Tx)
	OpBatchQuery           // one statement of a pgx.Batch
	OpCopyFrom             // CopyFrom
)

// String returns "query", "batch" or "copy".
func (o Op) String() string {
	switch o {
	case OpBatchQuery:
		return "batch"
	case OpCopyFrom:
		return "copy"
	}
	return "query"
}

// Event describes one finished statement. Observers receive it by value; Args
// and Conn are only valid during the callback.
type Event struct {
	Op Op
	// Fingerprint is the statement's pg_query fingerprint, the key of its
	// StatementStats (Snapshot.Lookup).
	Fingerprint uint64
	// SQL is the text as the application sent it (the prepared statement's SQL
	// when the application sent a statement name).
	SQL  string
	Args []any
	// Start is when the statement started; Duration its execution time
	// (prepare time excluded, reading the rows included).
	Start       time.Time
	Duration    time.Duration
	PrepareTime time.Duration
	// AcquireWait is the pool wait that preceded the statement on this
	// connection, when it was the first statement after an Acquire.
	AcquireWait time.Duration
	Rows        int64
	Err         error
	Role        Role
	// Cached is true for a read served by a result cache, with no round trip
	// to the database (see Tracer.ObserveCacheHit); Conn is then nil.
	Cached bool
	// Batch is true for statements of a pgx.Batch (Op == OpBatchQuery);
	// BatchID tells batches apart (statements of one SendBatch share it).
	Batch   bool
	BatchID uint64
	Conn    *pgx.Conn

	info *sqlinfo.Info // the statement's analysis
}

// Observer receives every finished statement (see Config.Observers). It is
// called synchronously on the statement's goroutine, with the statement's
// context: it must be fast, safe for concurrent use, and must not retain
// ev.Args or ev.Conn.
type Observer func(ctx context.Context, ev Event)
