package tracer

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/pgerr"
)

// errorCode names a statement error for the statistics, by pgxperf's one
// error classification (internal/pgerr): the SQLSTATE of a server error,
// "canceled" or "timeout" for context errors, "connection" for a failed
// connection, "pool closed", and "client" for anything else (a Scan or
// encode error). pgx.ErrNoRows is not an error and gives "".
func errorCode(err error) string {
	switch pgerr.Classify(err, false) {
	case pgerr.None:
		return ""
	case pgerr.Statement, pgerr.ReadOnly, pgerr.Conflict:
		return pgerr.SQLState(err)
	case pgerr.Canceled:
		if errors.Is(err, context.DeadlineExceeded) {
			return "timeout"
		}
		return "canceled"
	case pgerr.Connection:
		if code := pgerr.SQLState(err); code != "" {
			return code
		}
		return "connection"
	case pgerr.PoolClosed:
		return "pool closed"
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	return "client"
}
