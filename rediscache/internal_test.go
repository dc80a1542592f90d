package rediscache

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEscapeGlob(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"app:":      "app:",
		"a*b?[c]\\": `a\*b\?\[c\]\\`,
	} {
		require.Equal(t, want, escapeGlob(in))
	}
}
