package sqlinfo_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

var update = flag.Bool("update", false, "rewrite testdata/sql/*.golden")

// corpusDir holds the SQL corpora of the repository.
const corpusDir = "../../testdata/sql"

// loadCorpus returns the statements of every testdata/sql/*.sql file.
// Entries end with a line ending in ";" (which is dropped); comment lines
// before an entry are skipped unless they are a sqlc "-- name:" header.
func loadCorpus(tb testing.TB) map[string][]string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.sql"))
	require.NoError(tb, err)
	require.NotEmpty(tb, files)
	out := make(map[string][]string, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(tb, err)
		out[f] = splitCorpus(string(data))
	}
	return out
}

func splitCorpus(text string) []string {
	var stmts []string
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if len(cur) == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--") && !strings.HasPrefix(trimmed, "-- name:")) {
			continue
		}
		cur = append(cur, line)
		if strings.HasSuffix(strings.TrimRight(line, " \t\r"), ";") {
			s := strings.TrimSuffix(strings.TrimRight(strings.Join(cur, "\n"), " \t\r"), ";")
			stmts = append(stmts, s)
			cur = cur[:0]
		}
	}
	if len(cur) > 0 {
		stmts = append(stmts, strings.Join(cur, "\n"))
	}
	return stmts
}

// describe renders the parts of an analysis a reviewer checks.
func describe(sql string, in *sqlinfo.Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "== %q\n", sql)
	fmt.Fprintf(&b, "   kind=%s readonly=%t reason=%q", in.Kind, in.ReadOnly, in.Reason)
	if in.TxOp != sqlinfo.TxNone {
		fmt.Fprintf(&b, " txop=%d", in.TxOp)
	}
	if in.Fallback {
		b.WriteString(" fallback")
	}
	b.WriteString("\n")
	field := func(name string, v []string) {
		if len(v) > 0 {
			fmt.Fprintf(&b, "   %s=%s\n", name, strings.Join(v, ","))
		}
	}
	field("read", in.TablesRead)
	field("written", in.TablesWritten)
	field("funcs", in.Functions)
	field("unknown", in.UnknownFunctions)
	field("named", in.NamedArgs)
	var extra []string
	if in.Locking != "" {
		extra = append(extra, fmt.Sprintf("locking=%q", in.Locking))
	}
	if in.BatchShaped {
		extra = append(extra, "batch")
	}
	if in.Params > 0 {
		extra = append(extra, fmt.Sprintf("params=%d", in.Params))
	}
	if in.SQLCName != "" {
		extra = append(extra, "sqlc="+in.SQLCName+" "+in.SQLCCommand)
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "   %s\n", strings.Join(extra, " "))
	}
	return b.String()
}

// TestCorpus compares the analysis of every corpus statement with the golden
// file beside it; run with -update to rewrite it after checking the diff.
func TestCorpus(t *testing.T) {
	for file, stmts := range loadCorpus(t) {
		require.Greater(t, len(stmts), 0, file)
		var b strings.Builder
		for _, s := range stmts {
			b.WriteString(describe(s, sqlinfo.AnalyzeUncached(s)))
		}
		golden := strings.TrimSuffix(file, ".sql") + ".golden"
		if *update {
			require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
			continue
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test -run TestCorpus -update to create it")
		if diff := firstDiff(string(want), b.String()); diff != "" {
			t.Errorf("analysis of %s changed (run with -update if intended):\n%s", file, diff)
		}
	}
}

// firstDiff describes the first differing line of two texts, or returns "".
func firstDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			ctx := ""
			for j := max(0, i-3); j < i && j < len(g); j++ {
				ctx += "    " + g[j] + "\n"
			}
			return fmt.Sprintf("line %d:\n%s  - %s\n  + %s", i+1, ctx, wl, gl)
		}
	}
	return ""
}
