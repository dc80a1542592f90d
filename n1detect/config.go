package n1detect

import "time"

// Thresholds. Tests use the strict ones (the zero Config): two repeats make
// a finding. Middleware uses Sentry's by default: five repeats that together
// took 50 ms.
const (
	defaultThreshold    = 2
	productionThreshold = 5
	productionMinTotal  = 50 * time.Millisecond
)

// Config configures a Scope. The zero value is the strict setting for tests:
// a finding from two repeats, whatever they cost. Middleware's zero Config is
// the setting for live traffic: five repeats from one call site that took
// 50 ms or more in total.
//
// A Config is also an Option of ForTest and Check (it sets the detector's
// configuration; the last one given wins).
type Config struct {
	// Threshold is how many times a statement must run from one call site to
	// be a finding (2 when ≤ 1).
	Threshold int
	// MinTotal is the total duration those statements must reach (none when zero).
	MinTotal time.Duration
	// RedactArgs opts in to showing argument values in a finding's example:
	// it receives the SQL and arguments of the first statement of a group and
	// returns what may be shown. When nil, arguments are never kept. It is
	// called on the statement's goroutine and must not retain args.
	RedactArgs func(sql string, args []any) []any
	// Allow lists findings that are intended: an entry matches a finding's
	// ID (one loop: see "Finding IDs" in the package documentation), its
	// fingerprint (16 hex digits), its call site's function
	// ("example.com/app/jobs.Backfill") or its call site's "file.go:line"
	// (a suffix of the path).
	Allow []string
	// MaxGroups bounds the distinct (call site, statement) groups a scope
	// keeps (default 1000); statements beyond it are counted only. A scope with
	// a million statements keeps counts, never the statements.
	MaxGroups int
}

// productionConfig returns the defaults for live traffic: five repeats from
// one call site that took 50 ms or more in total.
func productionConfig() Config {
	return Config{Threshold: productionThreshold, MinTotal: productionMinTotal}
}

func (c Config) threshold() int {
	if c.Threshold <= 1 {
		return defaultThreshold
	}
	return c.Threshold
}

func (c Config) maxGroups() int {
	if c.MaxGroups <= 0 {
		return 1000
	}
	return c.MaxGroups
}
