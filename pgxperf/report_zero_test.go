package pgxperf_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

// A Report made by hand (or decoded) and a nil Tracer (monitoring off) are
// safe to use: the zero values print and read as empty.
func TestZeroValuesAreSafe(t *testing.T) {
	require.NotPanics(t, func() {
		var b strings.Builder
		require.NoError(t, pgxperf.Report{}.WriteText(&b, 10))
		_ = pgxperf.Report{}.String()
	})
	var tr *tracer.Tracer
	require.NotPanics(t, func() {
		tr.Reset()
		require.Empty(t, tr.Snapshot().Statements)
	})
}
