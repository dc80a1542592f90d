package sqlinfo

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The front table is indexed by string address: results must still be right
// for equal texts at different addresses, for colliding slots, and for texts
// longer than frontMaxLen.
func TestFrontTableIsVerifiedByContent(t *testing.T) {
	a := New(Config{})
	texts := make([]string, 0, 3*frontSlots)
	for i := 0; i < 3*frontSlots; i++ {
		texts = append(texts, fmt.Sprintf("SELECT c%d FROM t%d WHERE id = $1", i%97, i%89))
	}
	for round := 0; round < 2; round++ {
		for _, s := range texts {
			got := a.Analyze(s)
			// A copy at another address gives the same answer.
			require.Same(t, got, a.Analyze(strings.Clone(s)))
			require.Equal(t, AnalyzeUncached(s).Fingerprint, got.Fingerprint, s)
			require.Equal(t, AnalyzeUncached(s).TablesRead, got.TablesRead, s)
		}
	}
	long := "SELECT 1 /*" + strings.Repeat("x", frontMaxLen) + "*/"
	require.Same(t, a.Analyze(long), a.Analyze(long))
}
