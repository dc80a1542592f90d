package replica

import (
	"fmt"
	"strconv"
	"strings"
)

// pgLSN is a Postgres WAL position (pg_lsn), as a number.
type pgLSN uint64

// String formats the position as Postgres does: "16/B374D848".
func (l pgLSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// parseLSN parses Postgres's "X/Y" text form.
func parseLSN(s string) (pgLSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("replica: invalid LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("replica: invalid LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("replica: invalid LSN %q: %w", s, err)
	}
	return pgLSN(h<<32 | l), nil
}
