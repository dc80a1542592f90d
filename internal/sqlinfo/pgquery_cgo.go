//go:build cgo

package sqlinfo

import pg_query "github.com/pganalyze/pg_query_go/v5"

// The Postgres parser (libpg_query, through cgo).

func pgParse(sql string) (*pg_query.ParseResult, error) { return pg_query.Parse(sql) }
func pgFingerprint(sql string) (uint64, error)          { return pg_query.FingerprintToUInt64(sql) }
func pgNormalize(sql string) (string, error)            { return pg_query.Normalize(sql) }

// ParserAvailable reports whether the Postgres parser is compiled in (cgo).
// Without it every text gets the fallback analysis: a fingerprint of its
// literal-normalized form, kind unparsed, never read-only.
const ParserAvailable = true
