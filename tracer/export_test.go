package tracer

import (
	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// For the external tests (package tracer_test) only.

// ForRole is forRole (pgxperf reaches it through internal/bridge).
func (t *Tracer) ForRole(role Role) *Tracer { return t.forRole(role) }

// SameStatistics reports whether a and b record into one registry.
func SameStatistics(a, b *Tracer) bool { return a.reg == b.reg }

// EventInfo returns the analysis of the statement ev describes.
func EventInfo(ev Event) *sqlinfo.Info { return ev.info }

// SinkOf returns the findings sink of t's registry (what a scope receives
// with each statement t traced).
func SinkOf(t *Tracer) *scope.Sink { return t.reg.sink }
