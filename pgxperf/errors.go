package pgxperf

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgxperf/pgxperf/replica"
)

// pgxperf's own errors. Errors from Postgres, pgx and pgxpool reach the caller
// unchanged: a cancelled context is context.Canceled, a server error is a
// *pgconn.PgError, an empty result is pgx.ErrNoRows, and a closed pool answers
// with the same error pgxpool gives.
var (
	// ErrAcquireTimeout is returned when no connection could be acquired within
	// Config.AcquireTimeout (DATABASE_POOL_TIMEOUT). It also matches
	// context.DeadlineExceeded with errors.Is.
	ErrAcquireTimeout = acquireTimeoutError{}

	// ErrPrimaryUnavailable is returned (wrapping the health check's error) for
	// a write while the replica monitor finds the primary down: with replicas
	// configured, writes fail fast and reads keep working from the replicas.
	ErrPrimaryUnavailable = replica.ErrPrimaryUnavailable

	// ErrInvalidConfig is matched (errors.Is) by every configuration error,
	// including *EnvError.
	ErrInvalidConfig = errors.New("pgxperf: invalid configuration")
)

type acquireTimeoutError struct{}

func (acquireTimeoutError) Error() string {
	return "pgxperf: timed out waiting for a connection (acquire timeout)"
}
func (acquireTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout reports true, so net.Error-style checks treat it as a timeout.
func (acquireTimeoutError) Timeout() bool { return true }

// EnvError reports an environment variable that ConfigFromEnv could not use.
type EnvError struct {
	Var   string // the variable's name, e.g. "DATABASE_POOL_TIMEOUT"
	Value string // its value ("" when missing)
	Err   error  // what is wrong with it
}

// Error names the variable, its value (a password redacted) and what is
// wrong with it.
func (e *EnvError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("pgxperf: environment variable %s: %v", e.Var, e.Err)
	}
	return fmt.Sprintf("pgxperf: environment variable %s=%q: %v", e.Var, e.Value, e.Err)
}

// Unwrap returns ErrInvalidConfig and the underlying error, so that
// errors.Is matches either.
func (e *EnvError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }
