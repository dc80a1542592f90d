package bridge

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/scope"
)

// What package tracer offers its siblings (set in tracer's init). t is
// always a *tracer.Tracer.
var (
	// TracerForRole returns a *tracer.Tracer that shares t's statistics,
	// settings and observers but records its statements as a replica's
	// (replica true) or the primary's. pgxperf uses it for its replica pools.
	TracerForRole func(t any, replica bool) any
	// TracerForgetConn drops what t remembers about a connection (pgxperf
	// calls it from pgxpool's BeforeClose hook).
	TracerForgetConn func(t any, c *pgx.Conn)
	// TracerInUse returns the connections acquired from a pool traced by t
	// (any role) and not released yet (pgxperf's Close cancels their queries).
	TracerInUse func(t any) []*pgx.Conn
	// TracerSlowThreshold returns t's effective slow-query threshold
	// (negative: disabled), for pgxperf's report.
	TracerSlowThreshold func(t any) time.Duration
	// TracerFindings returns the findings recorded in t's statistics by
	// n1detect scopes, largest total time first (n1detect turns them into
	// its Findings: N1detectFindings).
	TracerFindings func(t any) []scope.Record
)
