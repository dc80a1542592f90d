package snippets

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// snippet is one block of code shown to users, and where it came from.
type snippet struct {
	from string // file:line
	code string
}

// root is the repository root, two levels up from this package.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return r
}

// docSnippets returns the tab-indented blocks of the package comment of a
// doc.go file.
func docSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []snippet
	var cur []string
	start := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, snippet{from: fmt.Sprintf("%s:%d", path, start), code: strings.Join(cur, "\n")})
		}
		cur = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "package ") {
			break
		}
		switch {
		case strings.HasPrefix(line, "//\t"):
			if cur == nil {
				start = n
			}
			cur = append(cur, strings.TrimPrefix(line, "//\t"))
		case line == "//" && cur != nil:
			cur = append(cur, "")
		default:
			flush()
		}
	}
	flush()
	return out
}

// readmeSnippets returns the ```go fences of a Markdown file.
func readmeSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []snippet
	var cur []string
	in, start := false, 0
	for n, line := range strings.Split(string(data), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```go":
			in, start, cur = true, n+2, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			out = append(out, snippet{from: fmt.Sprintf("%s:%d", path, start), code: strings.Join(cur, "\n")})
		case in:
			cur = append(cur, line)
		}
	}
	return out
}

// given are the names a snippet may use without declaring them: what an
// application has at hand where the snippet would go (parameters of a
// function-body snippet, package variables for declarations).
const given = "ctx context.Context, pool *pgxperf.Pool, cfg *pgxpool.Config, rdb *redis.Client, " +
	"id, userID int64, name string, w http.ResponseWriter, r *http.Request, t *testing.T"

// givenVars declares the same names at package level, for a snippet of
// declarations.
const givenVars = "\tctx context.Context\n\tpool *pgxperf.Pool\n\tcfg *pgxpool.Config\n\trdb *redis.Client\n" +
	"\tid, userID int64\n\tname string\n\tw http.ResponseWriter\n\tr *http.Request\n\tt *testing.T\n"

// topLevel tells a snippet of declarations (a func, a type) from one of
// statements; var and const may be either, and are taken as statements.
var topLevel = regexp.MustCompile(`(?m)^(func|type|import|package) `)

// imports every snippet may use without saying so; unused ones are fine
// (the errors they cause are ignored below).
var imports = []string{
	"context", "database/sql", "errors", "fmt", "log", "log/slog", "net/http", "os", "slices", "strings",
	"testing", "time",
	"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/jackc/pgx/v5/pgxpool",
	"github.com/redis/go-redis/v9",
}

// ignored are compiler complaints that come from cutting code into
// snippets, not from the API: names a snippet declares for the reader and
// does not use, and the imports above.
var ignored = regexp.MustCompile(`declared and not used|imported and not used|"[^"]+" imported as \w+ and not used`)

// module lists the public packages of this module, the ones users import.
func publicPackages(t *testing.T, r string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "./...")
	cmd.Dir = r
	out, err := cmd.Output()
	require.NoError(t, err)
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "/internal/") || strings.Contains(p, "/cmd/") || strings.HasSuffix(p, "/testdata") {
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestSnippetsCompileOutsideModule builds every doc-comment and README
// snippet in a module of its own that requires this one, so a snippet
// naming an internal type, an unexported name or a removed function fails.
func TestSnippetsCompileOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command; skipped under -short")
	}
	r := root(t)
	var all []snippet
	docs, err := filepath.Glob(filepath.Join(r, "*", "doc.go"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(r, "extra", "*", "doc.go"))
	require.NoError(t, err)
	for _, d := range append(docs, more...) {
		all = append(all, docSnippets(t, d)...)
	}
	all = append(all, readmeSnippets(t, filepath.Join(r, "README.md"))...)
	require.NotEmpty(t, all)

	dir := t.TempDir()
	gomod := "module example.com/snippets\n\ngo 1.26\n\nrequire github.com/pgxperf/pgxperf v0.0.0\n\nreplace github.com/pgxperf/pgxperf => " + r + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	sum, err := os.ReadFile(filepath.Join(r, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))

	allImports := append(append([]string(nil), imports...), publicPackages(t, r)...)
	where := map[string]string{} // generated file → snippet origin
	compiled := 0
	for i, s := range all {
		code := strings.ReplaceAll(s.code, "…", "")
		if strings.HasPrefix(strings.TrimSpace(code), "// not compiled") {
			continue
		}
		var b strings.Builder
		b.WriteString("package snippets\n\nimport (\n")
		for _, imp := range allImports {
			fmt.Fprintf(&b, "\t%q\n", imp)
		}
		b.WriteString(")\n\n")
		fmt.Fprintf(&b, "// from %s\n", s.from)
		if topLevel.MatchString(code) {
			fmt.Fprintf(&b, "var (\n%s\n)\n\n", givenVars)
			b.WriteString(code)
		} else {
			// The snippet runs in a block of its own, so that it may
			// declare the names given to it (pool := …) afresh.
			fmt.Fprintf(&b, "func snippet%d(%s) error {\n{\n%s\n}\nreturn nil\n}\n", i, given, code)
		}
		name := fmt.Sprintf("s%03d.go", i)
		// Each snippet is a package of its own: they declare the same names.
		sub := filepath.Join(dir, fmt.Sprintf("s%03d", i))
		require.NoError(t, os.MkdirAll(sub, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sub, name), []byte(b.String()), 0o644))
		where[fmt.Sprintf("s%03d/%s", i, name)] = s.from
		compiled++
	}
	t.Logf("%d snippets from %d files", compiled, len(docs)+len(more)+1)

	tidy := exec.Command("go", "mod", "tidy", "-e")
	tidy.Dir = dir
	tidy.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Logf("go mod tidy: %v\n%s", err, out)
	}
	build := exec.Command("go", "build", "-gcflags=-e", "./...")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, _ := build.CombinedOutput()
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || ignored.MatchString(line) {
			continue
		}
		for gen, from := range where {
			if strings.HasPrefix(line, gen+":") || strings.HasPrefix(line, "./"+gen+":") {
				line += "   (snippet " + strings.TrimPrefix(from, r+"/") + ")"
				break
			}
		}
		bad = append(bad, line)
	}
	require.Empty(t, bad, "snippets shown to users do not compile outside the module:\n%s", strings.Join(bad, "\n"))
}
