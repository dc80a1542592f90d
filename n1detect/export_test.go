package n1detect

import (
	"context"
	"encoding/json"

	"github.com/pgxperf/pgxperf/internal/scope"
)

// For the external tests (package n1detect_test) only.

// FromContext returns the scope ctx carries, or nil.
func FromContext(ctx context.Context) *Scope { return fromContext(ctx) }

// ProductionConfig is Middleware's default Config.
func ProductionConfig() Config { return productionConfig() }

// Findings returns the scope's findings so far, without finishing it.
func (s *Scope) Findings() []Finding { return s.findingsSoFar() }

// JSON returns the finding as indented JSON.
func (f Finding) JSON() []byte {
	b, _ := json.MarshalIndent(f, "", "  ")
	return b
}

// ObserveStatement hands the scope a statement as a tracer does.
func (s *Scope) ObserveStatement(ctx context.Context, sink *scope.Sink, st scope.Stmt, pcs []uintptr) {
	(*observer)(s).ObserveStatement(ctx, sink, st, pcs)
}
