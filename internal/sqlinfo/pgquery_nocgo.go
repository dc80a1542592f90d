//go:build !cgo

package sqlinfo

import (
	"errors"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Built without cgo there is no Postgres parser: every text gets the
// fallback analysis (a fingerprint of its literal-normalized form, kind
// unparsed, never read-only), so pgxperf still builds and traces with
// CGO_ENABLED=0, with coarser fingerprints and no read-only verdicts.

var errNoParser = errors.New("sqlinfo: built without cgo: the Postgres parser (pg_query) is not available")

func pgParse(string) (*pg_query.ParseResult, error) { return nil, errNoParser }
func pgFingerprint(string) (uint64, error)          { return 0, errNoParser }
func pgNormalize(string) (string, error)            { return "", errNoParser }

// ParserAvailable reports whether the Postgres parser is compiled in (cgo).
const ParserAvailable = false
