package pgxperf

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/bridge"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// Report is what the Pool has seen, as Pool.Report took it: a value of its
// own that no later call changes, safe to read from any goroutine. Sections
// whose feature is off are empty (nil).
type Report struct {
	// Since is when the statistics started (the Pool's start, or the last
	// Tracer().Reset()); Taken is when the Report was made.
	Since, Taken time.Time
	// SlowThreshold is the slow-query threshold in force (negative: disabled).
	SlowThreshold time.Duration
	// Statements are the statistics per statement, by total time, most
	// first (see package tracer); empty with monitoring disabled.
	Statements []tracer.StatementStats
	// Pool is the primary pool's own figures (pgxpool's Stat): connections
	// in use, acquires and their waits, connections made and destroyed.
	// Pool.Report always sets it; a Report made otherwise may leave it nil.
	Pool *pgxpool.Stat
	// Nodes are the primary's and each replica's routing figures (state,
	// lag, statements routed, retries, errors); empty without replicas.
	Nodes []replica.NodeStats
	// Findings are the N+1 and redundant-query findings of n1detect scopes
	// (tests, requests, jobs) whose statements this Pool served.
	Findings []n1detect.Finding
	// Cache holds the query cache's figures (hits, misses, bypasses with
	// their reasons, invalidations per statement and table); nil when the
	// cache is off.
	Cache *querycache.Stats
}

// Report returns a snapshot of what the Pool has seen. With monitoring
// disabled, only the pool counters are filled.
func (p *Pool) Report() Report {
	r := Report{Taken: time.Now(), Pool: p.primary.Stat(), SlowThreshold: -1}
	if p.router != nil {
		r.Nodes = p.router.Nodes()
	}
	if p.cache != nil {
		cs := p.cache.Stats()
		r.Cache = &cs
	}
	if p.tracer != nil {
		snap := p.tracer.Snapshot()
		r.Since, r.Statements = snap.Since, snap.Statements
		r.Findings, _ = bridge.N1detectFindings(p.tracer).([]n1detect.Finding)
		for i := range r.Findings { // the Report's own: changing it changes nothing else
			f := &r.Findings[i]
			f.ExampleArgs, f.Stack, f.Also = slices.Clone(f.ExampleArgs), slices.Clone(f.Stack), slices.Clone(f.Also)
		}
		r.SlowThreshold = bridge.TracerSlowThreshold(p.tracer)
	}
	return r
}

// slowStatements returns the statements whose slowest execution reached the
// slow-query threshold, slowest first.
func (r Report) slowStatements() []tracer.StatementStats {
	if r.SlowThreshold < 0 {
		return nil
	}
	var out []tracer.StatementStats
	for _, st := range r.Statements {
		if st.Max >= r.SlowThreshold {
			out = append(out, st)
		}
	}
	slices.SortStableFunc(out, func(a, b tracer.StatementStats) int { return cmp.Compare(b.Mean, a.Mean) })
	return out
}

// WriteText writes the report as aligned text: the top statements by total
// time (all when top ≤ 0), then the slow statements with their call sites.
func (r Report) WriteText(w io.Writer, top int) error {
	ew := &errWriter{w: w}
	ew.printf("pgxperf report: %d statement fingerprints, %s of data\n", len(r.Statements), r.Taken.Sub(r.Since).Round(time.Millisecond))
	if r.Pool != nil {
		ew.printf("primary pool: %d/%d connections in use, %d acquires (%d waited, %v waiting), %d connects\n\n",
			r.Pool.AcquiredConns(), r.Pool.MaxConns(), r.Pool.AcquireCount(), r.Pool.EmptyAcquireCount(),
			r.Pool.EmptyAcquireWaitTime().Round(time.Microsecond), r.Pool.NewConnsCount())
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "total\tcalls\tmean\tp50\tp95\tp99\tmax\trows\terrors\tcached\tcache mean\t  fingerprint       statement")
	stmts := r.Statements
	if top > 0 && top < len(stmts) {
		stmts = stmts[:top]
	}
	for _, st := range stmts {
		fmt.Fprintf(tw, "%v\t%d\t%v\t%v\t%v\t%v\t%v\t%d\t%d\t%d\t%v\t  %s  %s\n",
			dur(st.Total), st.Calls, dur(st.Mean), dur(st.P50), dur(st.P95), dur(st.P99), dur(st.Max), st.Rows, st.Errors,
			st.Cache.Hits, dur(st.Cache.Mean), st.FingerprintHex, statementLabel(st, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if slow := r.slowStatements(); len(slow) > 0 {
		ew.printf("\nslow statements (≥ %v):\n", r.SlowThreshold)
		for _, st := range slow {
			ew.printf("  %v max, %v mean, %d calls  %s\n", dur(st.Max), dur(st.Mean), st.Calls, statementLabel(st, 100))
			if site := st.Slowest.CallSite.String(); site != "" {
				ew.printf("      at %s\n", site)
			}
		}
	}
	if len(r.Nodes) > 0 {
		ew.printf("\nrouting:\n")
		ntw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(ntw, "  node\tstate\trouted\tretries\terrors\tlag\tlag bytes\treplayed")
		for _, n := range r.Nodes {
			lag, lagBytes, replay := "-", "-", "-"
			if !n.Primary {
				lag, lagBytes, replay = n.Lag.Round(time.Millisecond).String(), fmt.Sprint(n.LagBytes), n.ReplayLSN
			}
			fmt.Fprintf(ntw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", n.Name, n.State, n.Routed, n.Retries, n.Errors, lag, lagBytes, replay)
		}
		if err := ntw.Flush(); err != nil {
			return err
		}
	}
	if r.Cache != nil {
		if err := writeCache(ew, r.Cache, top); err != nil {
			return err
		}
	}
	if len(r.Findings) > 0 {
		ew.printf("\nN+1 findings (%d):\n", len(r.Findings))
		for _, f := range r.Findings {
			seen := ""
			if f.Occurrences > 1 {
				seen = fmt.Sprintf(" (seen in %d scopes)", f.Occurrences)
			}
			ew.printf("%s%s\n", indent(f.String(), "  "), seen)
		}
	}
	var failing []tracer.StatementStats
	for _, st := range r.Statements {
		if st.Errors > 0 {
			failing = append(failing, st)
		}
	}
	if len(failing) > 0 {
		ew.printf("\nstatements with errors:\n")
		slices.SortStableFunc(failing, func(a, b tracer.StatementStats) int { return cmp.Compare(b.Errors, a.Errors) })
		for _, st := range failing {
			codes := make([]string, 0, len(st.ErrorsByCode))
			for code, n := range st.ErrorsByCode {
				codes = append(codes, fmt.Sprintf("%s×%d", code, n))
			}
			sort.Strings(codes)
			ew.printf("  %d of %d calls failed (%s)  %s\n", st.Errors, st.Calls, strings.Join(codes, ", "), statementLabel(st, 100))
		}
	}
	return ew.err
}

// writeCache writes the query cache section: per statement, then per table.
func writeCache(ew *errWriter, cs *querycache.Stats, top int) error {
	ew.printf("\nquery cache: breaker %s, %d redis errors, %d invalidations pending", cs.Breaker, cs.RedisErrors, cs.PendingInvalidations)
	if cs.L1Live || cs.L1Entries > 0 {
		ew.printf(", in-process %d entries (%d KiB)", cs.L1Entries, cs.L1Bytes>>10)
	}
	ew.printf("\n")
	if len(cs.Statements) == 0 {
		ew.printf("  no statement opted in\n")
		return ew.err
	}
	ctw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(ctw, "hits\tin-proc\tmisses\tstale\tstores\tbypass\terrors\tinval\t  fingerprint       statement")
	stmts := cs.Statements
	if top > 0 && top < len(stmts) {
		stmts = stmts[:top]
	}
	for _, st := range stmts {
		label := sqlinfo.OneLine(sqlinfo.StripLeadingComments(st.Normalized), 70)
		if st.SQLCName != "" {
			label = st.SQLCName + ": " + label
		}
		fmt.Fprintf(ctw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t  %s  %s\n", st.Hits, st.L1Hits, st.Misses, st.Stale,
			st.Stores, st.Bypasses, st.Errors, st.Invalidations, st.Fingerprint, label)
	}
	if err := ctw.Flush(); err != nil {
		return err
	}
	for _, st := range stmts {
		if st.LastBypass != "" {
			ew.printf("  %s not cached: %s\n", st.Fingerprint, st.LastBypass)
		}
	}
	if len(cs.Tables) > 0 {
		parts := make([]string, 0, len(cs.Tables))
		for _, t := range cs.Tables {
			parts = append(parts, fmt.Sprintf("%s×%d", t.Table, t.Invalidations))
		}
		ew.printf("  invalidated tables: %s\n", strings.Join(parts, ", "))
	}
	return ew.err
}

// String renders the top 20 statements as text.
func (r Report) String() string {
	var sb strings.Builder
	_ = r.WriteText(&sb, 20)
	return sb.String()
}

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func dur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// statementLabel shows a statement on one line: its sqlc name, then its
// normalized text without leading comments.
func statementLabel(st tracer.StatementStats, n int) string {
	q := sqlinfo.StripLeadingComments(st.Query)
	if st.SQLCName != "" {
		q = st.SQLCName + ": " + q
	}
	if st.BatchShaped {
		q = "[batch] " + q // apart from the per-value form of the same fingerprint
	}
	return sqlinfo.OneLine(q, n)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
