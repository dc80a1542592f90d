package rowcodec_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/rowcodec"
)

// requireSameResult fails unless a and b hold the same field descriptions,
// values (NULL and empty told apart) and command tag. A nil and an empty Rows
// are the same.
func requireSameResult(t testing.TB, want, got *rowcodec.Result) {
	t.Helper()
	require.Equal(t, len(want.FieldDescriptions), len(got.FieldDescriptions), "column count")
	for i := range want.FieldDescriptions {
		require.Equal(t, want.FieldDescriptions[i], got.FieldDescriptions[i], "column %d", i)
	}
	require.Equal(t, len(want.Rows), len(got.Rows), "row count")
	for i := range want.Rows {
		require.Equal(t, len(want.Rows[i]), len(got.Rows[i]), "row %d length", i)
		for j := range want.Rows[i] {
			w, g := want.Rows[i][j], got.Rows[i][j]
			require.Equal(t, w == nil, g == nil, "row %d column %d NULL", i, j)
			require.True(t, bytes.Equal(w, g), "row %d column %d: want %q, got %q", i, j, w, g)
		}
	}
	require.Equal(t, want.CommandTag, got.CommandTag)
}
