package n1detect

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// TB is the part of testing.TB the assertions need; *testing.T, *testing.B
// and testify suites' T() satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
	Name() string
}

// ForTest scopes a whole test: it returns a context to run the code under
// test with, and at cleanup fails the test, with readable findings, when an
// N+1 read or write was found. Redundant statements do not fail it. Call it
// from the test's goroutine.
//
//	func TestListProjects(t *testing.T) {
//		ctx := n1detect.ForTest(t)
//		_, err := handler.ListProjects(ctx, userID)
//		require.NoError(t, err)
//	}
func ForTest(t TB, opts ...Option) context.Context {
	t.Helper()
	cfg := apply(opts)
	ctx, s := Start(context.Background(), t.Name(), cfg.Config)
	t.Cleanup(func() {
		t.Helper()
		check(t, s, cfg)
	})
	return ctx
}

// Check runs fn in a scope of its own (nested in ctx's scope, if any, which
// still counts its statements) and fails t when fn made an N+1, or broke a
// budget given as an option (MaxStatements, MaxCalls).
//
//	n1detect.Check(t, ctx, func(ctx context.Context) {
//		loadDashboard(ctx, pool, userID)
//	}, n1detect.MaxStatements(3))
func Check(t TB, ctx context.Context, fn func(ctx context.Context), opts ...Option) []Finding {
	t.Helper()
	cfg := apply(opts)
	inner, s := Start(ctx, t.Name(), cfg.Config)
	if outer := fromContext(ctx); outer != nil {
		s.outer = outer
	}
	fn(inner)
	return check(t, s, cfg)
}

// Option adds a budget or a setting to ForTest and Check: MaxStatements,
// MaxCalls, AllowNPlusOne, or a Config (the detector's thresholds and
// allow-list).
type Option interface {
	apply(*options)
}

// optionFunc is an Option that is a function.
type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// apply makes a Config an Option: it sets the detector's configuration.
func (c Config) apply(o *options) { o.Config = c }

type options struct {
	Config
	maxStatements int
	maxCalls      map[string]int
	allowN1       bool
}

// MaxStatements fails the test when the scope runs more than n statements
// (BEGIN/COMMIT and batches included).
func MaxStatements(n int) Option { return optionFunc(func(o *options) { o.maxStatements = n }) }

// MaxCalls fails the test when statements with sql's fingerprint run more
// than n times (constants and parameters do not matter: "… WHERE id = $1"
// counts every id).
func MaxCalls(sql string, n int) Option {
	return optionFunc(func(o *options) {
		if o.maxCalls == nil {
			o.maxCalls = map[string]int{}
		}
		o.maxCalls[sql] = n
	})
}

// AllowNPlusOne turns N+1 failures off (budgets still apply): for a test
// that only pins statement counts.
func AllowNPlusOne() Option { return optionFunc(func(o *options) { o.allowN1 = true }) }

func apply(opts []Option) options {
	o := options{maxStatements: -1}
	for _, opt := range opts {
		opt.apply(&o)
	}
	return o
}

func check(t TB, s *Scope, o options) []Finding {
	t.Helper()
	findings := s.Finish()
	var failed []string
	for _, f := range findings {
		if f.isNPlusOne() && !o.allowN1 {
			failed = append(failed, f.String())
		}
	}
	if len(failed) > 0 {
		t.Errorf("n1detect: %d N+1 pattern(s) in %s:\n\n%s\nFix them, or mark an intended loop with n1detect.Ignore(ctx), or allow it by ID with n1detect.Config{Allow: …}.",
			len(failed), s.name, strings.Join(failed, "\n"))
	}
	if n := s.Statements(); o.maxStatements >= 0 && n > o.maxStatements {
		t.Errorf("n1detect: %s ran %d statements, budget is %d:\n%s", s.name, n, o.maxStatements, s.summary())
	}
	for sql, max := range o.maxCalls {
		if n := s.calls(sql); n > max {
			t.Errorf("n1detect: %s ran %q %d times, budget is %d", s.name, sqlinfo.OneLine(sqlinfo.StripLeadingComments(sql), 100), n, max)
		}
	}
	return findings
}

// summary lists the statements of a scope by fingerprint, most frequent first.
func (s *Scope) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	type row struct {
		q string
		n int
	}
	var rows []row
	seen := map[uint64]bool{}
	for _, g := range s.order {
		if seen[g.info.Fingerprint] {
			continue
		}
		seen[g.info.Fingerprint] = true
		rows = append(rows, row{sqlinfo.OneLine(sqlinfo.StripLeadingComments(g.info.Normalized), 100), s.fingerprints[g.info.Fingerprint]})
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %5d × %s\n", r.n, r.q)
	}
	return b.String()
}
