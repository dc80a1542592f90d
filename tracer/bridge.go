package tracer

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/scope"
)

// What pgxperf's other packages need from a Tracer and applications do not
// (see internal/bridge).
func init() {
	bridge.TracerForRole = func(t any, replica bool) any {
		role := RolePrimary
		if replica {
			role = RoleReplica
		}
		return t.(*Tracer).forRole(role)
	}
	bridge.TracerForgetConn = func(t any, c *pgx.Conn) { t.(*Tracer).forgetConn(c) }
	bridge.TracerInUse = func(t any) []*pgx.Conn { return t.(*Tracer).inUse() }
	bridge.TracerSlowThreshold = func(t any) time.Duration { return t.(*Tracer).slow }
	bridge.TracerFindings = func(t any) []scope.Record { return t.(*Tracer).reg.sink.Snapshot() }
}
