#!/usr/bin/env bash
# scripts/dropin-proof.sh: prove that *pgxperf.Pool is a drop-in replacement
# for *pgxpool.Pool on someone else's Go project, by running that project's own
# test suite before and after a mechanical rename.
#
# Usage:
#   bash scripts/dropin-proof.sh CHECKOUT [GO TEST ARGS...]
#
#   CHECKOUT        an existing checkout of a Go module that builds its pool with
#                   pgxpool.New / pgxpool.NewWithConfig. It is never modified:
#                   the script works on copies under $DROPIN_WORKDIR.
#   GO TEST ARGS    passed to `go test` (default: -count=1 -p 1 ./...)
#
# What it does:
#   1. copies CHECKOUT three times:
#        original  untouched, the project's own go.mod       (the baseline)
#        matched   untouched code, the go.mod/go.sum of "pgxperf" below, so the
#                  baseline uses the very same dependency versions (pgxperf may
#                  raise pgx and the go directive; this separates that effect)
#        pgxperf   the swap, in non-test .go files (vendor/ excluded):
#                    pgxpool.New(            -> pgxperf.New(
#                    pgxpool.NewWithConfig(  -> pgxperf.NewWithConfig(
#                    *pgxpool.Pool           -> *pgxperf.Pool
#                  plus the import "github.com/pgxperf/pgxperf/pgxperf" (and the
#                  pgxpool import dropped where nothing else uses it), and
#                  `replace github.com/pgxperf/pgxperf => $PGXPERF_ROOT` + go mod tidy;
#      and, when DROPIN_RUNS names it, a fourth copy:
#        replicas  the pgxperf copy, but every pool is built with a streaming
#                  replica (read routing + read-your-writes, pgxperf's defaults):
#                    pgxperf.New(            -> pgxperfNew(
#                    pgxperf.NewWithConfig(  -> pgxperfNewWithConfig(
#                  defined in one generated glue file per swapped package
#                  (zz_pgxperf_dropin_glue.go, or ..._test.go when only test
#                  files of that package were swapped), which calls
#                    pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
#                        ReplicaURLs: []string{<DROPIN_REPLICA_URL>}})
#                  The replica URL gets the database of the pool being built
#                  when it names none (a mismatch is an error), so a project
#                  whose tests create databases is covered too. The glue writes
#                  each pool's routing figures (Pool.Report: per node, per statement) to
#                  $DROPIN_WORKDIR/replicas.stats/, so the summary shows how many
#                  statements the replica actually served;
#   2. runs `go test -json` in each copy, test files unchanged;
#   3. prints the diff of the swap, pass/fail/skip counts per run, and every test
#      whose result differs between "matched" and "pgxperf", and between
#      "pgxperf" and "replicas" (the same code with and without the replica).
#
# Exit status: 0 when no test does worse with pgxperf than in the matched
# baseline, nor with replicas than with pgxperf alone (a test that fails only
# in the later run but passes when rerun alone is reported as flaky and does
# not count), 1 when one does, 2 on a usage/setup error.
#
# Environment:
#   PGXPERF_ROOT       pgxperf checkout to swap in (default: this script's repo)
#   DROPIN_GOFLAGS     extra flags for every go command, e.g. "-tags=testing"
#   DROPIN_SWAP_TESTS  1: apply the swap to _test.go files too (default 0)
#   DROPIN_RUNS        which runs, space-separated, among original matched pgxperf
#                      replicas (default "original matched pgxperf", plus
#                      "replicas" when DROPIN_REPLICA_URL is set)
#   DROPIN_REPLICA_URL postgres:// URL of a streaming replica of the primary the
#                      tests use, for the "replicas" run, e.g.
#                      postgres://postgres@127.0.0.1:5433/?sslmode=disable
#                      Without a database name each pool's own database is used
#                      (the replica of one cluster has all of them); with one,
#                      it must be the database of every pool the project builds.
#   DROPIN_REPLICA_CONSISTENCY  "pool" (default: pgxperf's default, read-your-writes
#                      per pool) or "session" (replica.Config.SessionConsistency, which
#                      gives no read-your-writes without a replica.Session in the
#                      context: the negative control, to see whether the
#                      project's tests can notice a stale read at all)
#   DROPIN_WORKDIR     where the copies and logs go (default: a new mktemp -d dir)
#   DROPIN_TIMEOUT     go test -timeout (default 10m)
#   DROPIN_RERUNS      a test that fails only with pgxperf (only with replicas) is
#                      run again alone this many times in both copies; if it then
#                      always passes it is reported as "flaky", not as a
#                      regression (default 3; 0 disables)
# The project's own test variables (DATABASE_URL, TEST_DATABASE_URL, ...) are
# passed through as they are; set them before running.
#
# Example (acaloiaro/neoq, see docs/dropin-proof.md):
#   psql -h 127.0.0.1 -U postgres -c 'create database neoq'
#   TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/neoq?sslmode=disable&pool_max_conns=100' \
#   TEST_REDIS_URL=127.0.0.1:6379 DROPIN_GOFLAGS=-tags=testing \
#   bash scripts/dropin-proof.sh /path/to/neoq
# and with a replica as well (runs original, matched, pgxperf and replicas):
#   DROPIN_REPLICA_URL='postgres://postgres@127.0.0.1:5433/?sslmode=disable' \
#   TEST_DATABASE_URL=... TEST_REDIS_URL=... DROPIN_GOFLAGS=-tags=testing \
#   bash scripts/dropin-proof.sh /path/to/neoq

set -euo pipefail

die() { printf 'dropin-proof: ERROR: %s\n' "$*" >&2; exit 2; }
log() { printf 'dropin-proof: %s\n' "$*" >&2; }

[[ $# -ge 1 ]] || { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
case "$1" in -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

SRC="$(cd "$1" 2>/dev/null && pwd)" || die "no such directory: $1"
shift
[[ -f "$SRC/go.mod" ]] || die "$SRC has no go.mod (pass the module root)"
if [[ $# -gt 0 ]]; then TEST_ARGS=("$@"); else TEST_ARGS=(-count=1 -p 1 ./...); fi

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGXPERF_ROOT="$(cd "${PGXPERF_ROOT:-$SCRIPT_DIR/..}" && pwd)"
PGXPERF_MOD=github.com/pgxperf/pgxperf
PGXPERF_PKG=$PGXPERF_MOD/pgxperf
grep -q "^module $PGXPERF_MOD\$" "$PGXPERF_ROOT/go.mod" 2>/dev/null ||
	die "PGXPERF_ROOT=$PGXPERF_ROOT is not the $PGXPERF_MOD module"
command -v go >/dev/null || die "go not found"
command -v rsync >/dev/null || die "rsync not found"

REPLICA_URL="${DROPIN_REPLICA_URL:-}"
RUNS="${DROPIN_RUNS:-original matched pgxperf${REPLICA_URL:+ replicas}}"
for run in $RUNS; do
	case "$run" in original|matched|pgxperf|replicas) ;; *) die "unknown run '$run' in DROPIN_RUNS" ;; esac
done
if [[ " $RUNS " == *" replicas "* ]]; then
	[[ -n "$REPLICA_URL" ]] || die "DROPIN_RUNS has 'replicas' but DROPIN_REPLICA_URL is not set"
	[[ "$REPLICA_URL" =~ ^postgres(ql)?:// ]] || die "DROPIN_REPLICA_URL must be a postgres:// URL"
	# A replica that is not in recovery (or is down) would make the run prove nothing.
	if command -v psql >/dev/null; then
		rdb="$(sed -E 's|^[a-z]+://[^/?]*/?([^?]*).*|\1|' <<<"$REPLICA_URL")"
		rurl="$(sed -E 's|^([a-z]+://[^/?]*)/?[^?]*|\1/'"${rdb:-postgres}"'|' <<<"$REPLICA_URL")"
		rec="$(psql "$rurl" -XAtc 'select pg_is_in_recovery()' 2>&1)" ||
			die "DROPIN_REPLICA_URL does not answer ($rec); bash scripts/testenv.sh brings pgxperf's test replica up"
		[[ "$rec" == t ]] || die "DROPIN_REPLICA_URL is not a standby (pg_is_in_recovery() = $rec)"
	fi
	export DROPIN_REPLICA_URL="$REPLICA_URL"
fi
TIMEOUT="${DROPIN_TIMEOUT:-10m}"
RERUNS="${DROPIN_RERUNS:-3}"
WORK="${DROPIN_WORKDIR:-$(mktemp -d /tmp/dropin-proof.XXXXXX)}"
mkdir -p "$WORK"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod${DROPIN_GOFLAGS:+ $DROPIN_GOFLAGS}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
unset DROPIN_REPLICA_STATS  # set by the script for the replicas run only

log "project  $SRC ($(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo 'not a git checkout'))"
log "pgxperf  $PGXPERF_ROOT"
log "workdir  $WORK"
log "go test  ${TEST_ARGS[*]}  (GOFLAGS=$GOFLAGS)"

copy() { rm -rf "${WORK:?}/$1"; rsync -a --exclude=.git "$SRC/" "$WORK/$1/"; }

# ------------------------------------------------------------------ the swap
copy pgxperf
P="$WORK/pgxperf"
cp -a "$P" "$WORK/.pristine"

mapfile -t FILES < <(cd "$P" && grep -rlE --include='*.go' 'pgxpool\.New(WithConfig)?\(|\*pgxpool\.Pool\b' . |
	grep -v -e '^\./vendor/' -e '/testdata/' |
	{ if [[ "${DROPIN_SWAP_TESTS:-0}" == 1 ]]; then cat; else grep -v '_test\.go$'; fi } | sort)
[[ ${#FILES[@]} -gt 0 ]] || die "no pgxpool.New/NewWithConfig or *pgxpool.Pool in $SRC's non-test Go files"

# uses PKG FILE: whether FILE refers to PKG. outside comments and string literals
# (a comment or an error message saying "pgxpool.New" is not a use).
uses() {
	sed -E -e 's/"([^"\\]|\\.)*"//g' -e 's/`[^`]*`//g' -e 's|//.*||' "$2" | grep "\b$1\." >/dev/null  # not -q: under pipefail, sed's SIGPIPE would fail it
}

for f in "${FILES[@]}"; do
	sed -i -E \
		-e 's/\bpgxpool\.NewWithConfig\(/pgxperf.NewWithConfig(/g' \
		-e 's/\bpgxpool\.New\(/pgxperf.New(/g' \
		-e 's/\*pgxpool\.Pool\b/*pgxperf.Pool/g' "$P/$f"
	if ! grep -q "\"$PGXPERF_PKG\"" "$P/$f"; then
		grep -q '^[[:space:]]*"github.com/jackc/pgx/v5/pgxpool"' "$P/$f" ||
			die "$f: no plain \"github.com/jackc/pgx/v5/pgxpool\" import line to put the pgxperf import after"
		sed -i -E "0,/^([[:space:]]*)\"github.com\/jackc\/pgx\/v5\/pgxpool\"/s||&\n\1\"${PGXPERF_PKG//\//\\/}\"|" "$P/$f"
	fi
	# Drop the pgxpool import where the rename removed its last use.
	if ! uses pgxpool "$P/$f"; then
		sed -i -E '/^[[:space:]]*(import[[:space:]]+)?"github.com\/jackc\/pgx\/v5\/pgxpool"[[:space:]]*$/d' "$P/$f"
	fi
	gofmt -w "$P/$f"
done

(
	cd "$P"
	go mod edit -require="$PGXPERF_MOD@v0.0.0-00010101000000-000000000000" -replace="$PGXPERF_MOD=$PGXPERF_ROOT"
	go get "$PGXPERF_MOD@v0.0.0-00010101000000-000000000000" >"$WORK/tidy.log" 2>&1 || { cat "$WORK/tidy.log" >&2; die "go get $PGXPERF_MOD failed in $P"; }
	# tidy also walks the tests of pgxperf's packages; -e keeps a gap there
	# (which does not affect the project's build) from stopping the proof.
	if ! go mod tidy >>"$WORK/tidy.log" 2>&1; then
		log "go mod tidy reported errors (see $WORK/tidy.log); retrying with -e"
		go mod tidy -e >>"$WORK/tidy.log" 2>&1 || { cat "$WORK/tidy.log" >&2; die "go mod tidy -e failed in $P"; }
	fi
)
SWAP_DIFF="$(cd "$WORK" && diff -ru -x go.sum .pristine pgxperf || true)"
rm -rf "$WORK/.pristine"
printf '%s\n' "$SWAP_DIFF" >"$WORK/swap.diff"

# ------------------------------------------------------------------ the replicas copy
# glue PACKAGE: the generated file that builds every pool with a replica.
glue() {
	cat <<GLUE
// Code generated by scripts/dropin-proof.sh for its "replicas" run. DO NOT EDIT.
// It exists only in the proof's copy of the project, never in the project.

package $1

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
)

// pgxperfNew is pgxperf.New with the replica of DROPIN_REPLICA_URL.
func pgxperfNew(ctx context.Context, connString string) (*pgxperf.Pool, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return pgxperfNewWithConfig(ctx, cfg)
}

// pgxperfNewWithConfig is pgxperf.NewWithConfig with the replica of
// DROPIN_REPLICA_URL (pgxperf's default routing: read-your-writes per pool).
func pgxperfNewWithConfig(ctx context.Context, cfg *pgxpool.Config) (*pgxperf.Pool, error) {
	if cfg == nil {
		return pgxperf.NewWithConfig(ctx, cfg) // the same error as without the glue
	}
	replicaURL, err := pgxperfDropinReplicaURL(cfg.ConnConfig.Database)
	if err != nil {
		return nil, err
	}
	stats := &pgxperfDropinStats{}
	if dir := os.Getenv("DROPIN_REPLICA_STATS"); dir != "" {
		// A copy, so the caller's config keeps its own tracer; this one only
		// schedules the write of the routing counts after statements ran.
		cfg = cfg.Copy()
		stats.file = filepath.Join(dir, fmt.Sprintf("pool.%d.%d.%d", os.Getpid(), time.Now().UnixNano(), pgxperfDropinSeq.Add(1)))
		if cfg.ConnConfig.Tracer == nil {
			cfg.ConnConfig.Tracer = stats
		} else {
			cfg.ConnConfig.Tracer = multitracer.New(cfg.ConnConfig.Tracer, stats)
		}
	}
	opts := pgxperf.Config{ReplicaURLs: []string{replicaURL}}
	switch c := os.Getenv("DROPIN_REPLICA_CONSISTENCY"); c {
	case "", "pool":
	case "session": // the negative control: no read-your-writes without a Session
		opts.Routing.SessionConsistency = true
	default:
		return nil, fmt.Errorf("dropin-proof glue: DROPIN_REPLICA_CONSISTENCY=%q (want pool or session)", c)
	}
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(ctx, &opts)
	if err == nil {
		stats.pool.Store(p)
		stats.flush()
	}
	return p, err
}

// pgxperfDropinReplicaURL is DROPIN_REPLICA_URL with the database db when it
// names none.
func pgxperfDropinReplicaURL(db string) (string, error) {
	raw := os.Getenv("DROPIN_REPLICA_URL")
	if raw == "" {
		return "", fmt.Errorf("dropin-proof glue: DROPIN_REPLICA_URL is not set")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("dropin-proof glue: DROPIN_REPLICA_URL is not a postgres:// URL")
	}
	switch name := strings.TrimPrefix(u.Path, "/"); {
	case name == "":
		u.Path = "/" + db
	case name != db:
		return "", fmt.Errorf("dropin-proof glue: DROPIN_REPLICA_URL names database %q, the pool connects to %q", name, db)
	}
	return u.String(), nil
}

var pgxperfDropinSeq atomic.Int64

// pgxperfDropinStats writes the pool's per-node routing counts to its file
// 100 ms after statements ran (one timer at a time, no goroutine of its own).
type pgxperfDropinStats struct {
	file    string
	pool    atomic.Pointer[pgxperf.Pool]
	pending atomic.Bool
}

func (s *pgxperfDropinStats) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (s *pgxperfDropinStats) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {
	if s.file != "" && s.pending.CompareAndSwap(false, true) {
		time.AfterFunc(100*time.Millisecond, func() { s.pending.Store(false); s.flush() })
	}
}

func (s *pgxperfDropinStats) flush() {
	p := s.pool.Load()
	if s.file == "" || p == nil || p.Router() == nil {
		return
	}
	// "node<TAB>primary|replica<TAB>NAME<TAB>ROUTED" per node, then
	// "stmt<TAB>ro|rw<TAB>PRIMARY CALLS<TAB>REPLICA CALLS<TAB>QUERY" per statement.
	r := p.Report()
	var b strings.Builder
	for _, n := range r.Nodes {
		role := "replica"
		if n.Primary {
			role = "primary"
		}
		fmt.Fprintf(&b, "node\t%s\t%s\t%d\n", role, n.Name, n.Routed)
	}
	for _, st := range r.Statements {
		ro := "rw"
		if st.ReadOnly {
			ro = "ro"
		}
		q := strings.Join(strings.Fields(st.Query), " ")
		if len(q) > 160 {
			q = q[:160] + "…"
		}
		fmt.Fprintf(&b, "stmt\t%s\t%d\t%d\t%s\n", ro, st.PrimaryCalls, st.ReplicaCalls, q)
	}
	if os.WriteFile(s.file+".tmp", []byte(b.String()), 0o644) == nil {
		_ = os.Rename(s.file+".tmp", s.file)
	}
}
GLUE
}

GLUED=()
if [[ " $RUNS " == *" replicas "* ]]; then
	rm -rf "${WORK:?}/replicas"
	cp -a "$P" "$WORK/replicas"
	R="$WORK/replicas"
	declare -A GLUE_TEST=()  # "dir<TAB>package" -> 1 when only _test.go files of it were swapped
	for f in "${FILES[@]}"; do
		sed -i -E \
			-e 's/\bpgxperf\.NewWithConfig\(/pgxperfNewWithConfig(/g' \
			-e 's/\bpgxperf\.New\(/pgxperfNew(/g' "$R/$f"
		# Drop the pgxperf import where the glue call was its last use.
		if ! uses pgxperf "$R/$f"; then
			sed -i -E '/^[[:space:]]*(import[[:space:]]+)?"github.com\/pgxperf\/pgxperf\/pgxperf"[[:space:]]*$/d' "$R/$f"
		fi
		gofmt -w "$R/$f"
		grep -qE '\bpgxperfNew(WithConfig)?\(' "$R/$f" || continue
		pkg="$(sed -n -E 's/^package[[:space:]]+([A-Za-z0-9_]+).*/\1/p' "$R/$f" | head -1)"
		[[ -n "$pkg" ]] || die "$f: no package clause"
		key="$(dirname "$f")"$'\t'"$pkg"
		if [[ "$f" == *_test.go ]]; then
			[[ -n "${GLUE_TEST[$key]:-}" ]] || GLUE_TEST[$key]=1
		else
			GLUE_TEST[$key]=0
		fi
	done
	for key in "${!GLUE_TEST[@]}"; do
		dir="${key%%$'\t'*}" pkg="${key#*$'\t'}"
		# an external test package (foo_test) can only see a _test.go glue file
		if [[ "${GLUE_TEST[$key]}" == 1 || "$pkg" == *_test ]]; then
			g="$dir/zz_pgxperf_dropin_glue_${pkg}_test.go"
		else
			g="$dir/zz_pgxperf_dropin_glue.go"
		fi
		glue "$pkg" >"$R/$g"
		gofmt -l "$R/$g" >/dev/null || die "generated $g does not parse"
		GLUED+=("$g")
	done
	[[ ${#GLUED[@]} -gt 0 ]] || die "replicas: no pgxpool.New/NewWithConfig call was swapped, so no pool would get a replica (set DROPIN_SWAP_TESTS=1 if the tests build the pool)"
	(cd "$WORK" && diff -ru -x go.sum -x 'zz_pgxperf_dropin_glue*' pgxperf replicas || true) >"$WORK/replicas.diff"
	mapfile -t GLUED < <(printf '%s\n' "${GLUED[@]}" | sort)
fi

# ------------------------------------------------------------------ the runs
# results RUN: one "ACTION<TAB>PACKAGE<TAB>TEST" line per finished test run
# (subtests included; -count=N gives N lines), plus "pkgfail<TAB>PACKAGE<TAB>-"
# for packages that failed outside any test (build failure, TestMain, a panic).
results() {
	jq -r 'select(.Action=="pass" or .Action=="fail" or .Action=="skip")
	       | select(.Test or .Action=="fail")
	       | [ (if .Test then .Action else "pkgfail" end), .Package, (.Test // "-") ] | @tsv' \
		"$WORK/$1.json" 2>/dev/null || true
}
# verdicts RUN: "PACKAGE TEST<TAB>VERDICT", one line per test: fail (or pkgfail)
# when any of its runs failed, else pass when any passed, else skip.
verdicts() {
	awk -F'\t' '{ k = $2 " " $3; r = (k in v) ? v[k] : "" }
		$1 ~ /fail/ { v[k] = $1; next }
		$1 == "pass" && r !~ /fail/ { v[k] = "pass"; next }
		r == "" { v[k] = $1 }
		END { for (k in v) print k "\t" v[k] }' "$WORK/$1.results" | LC_ALL=C sort -t $'\t' -k1,1
}
count() { awk -F'\t' -v a="$2" '$1==a' "$WORK/$1.results" | wc -l | tr -d ' '; }
count_top() { awk -F'\t' -v a="$2" '$1==a && $3 !~ /\//' "$WORK/$1.results" | wc -l | tr -d ' '; }

declare -A RC
for run in $RUNS; do
	case "$run" in
		original) copy original ;;
		matched) copy matched; cp "$P/go.mod" "$P/go.sum" "$WORK/matched/" ;;
		pgxperf) ;;
		replicas) rm -rf "$WORK/replicas.stats"; mkdir -p "$WORK/replicas.stats" ;;
	esac
	log "run $run: go build + go test (log: $WORK/$run.log)"
	set +e
	(cd "$WORK/$run" && go build ./... && go vet ./... ) >"$WORK/$run.build.log" 2>&1
	b=$?
	stats=""
	[[ "$run" == replicas ]] && stats="$WORK/replicas.stats"
	(cd "$WORK/$run" && DROPIN_REPLICA_STATS="$stats" go test -json -timeout "$TIMEOUT" "${TEST_ARGS[@]}") >"$WORK/$run.json" 2>"$WORK/$run.log"
	RC[$run]=$?
	set -e
	[[ $b -eq 0 ]] || { log "run $run: go build/vet failed:"; sed 's/^/    /' "$WORK/$run.build.log" | head -30 >&2 || true; }
	jq -r 'select(.Action=="output") | .Output' "$WORK/$run.json" 2>/dev/null >>"$WORK/$run.log" || true
	results "$run" >"$WORK/$run.results"
done

# ------------------------------------------------------------------ summary
echo
echo "== dropin-proof: $(basename "$SRC") @ $(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo '?')"
echo "== swap (${#FILES[@]} file(s); full diff in $WORK/swap.diff)"
printf '%s\n' "$SWAP_DIFF" | grep -E '^(\+\+\+|[-+][^-+])' | grep -v -e '^+++ ' -e '^[-+]\s*$' | sed 's/^/    /' | head -40 || true
if [[ " $RUNS " == *" replicas "* ]]; then
	echo "== replicas: pools built with ReplicaURLs=[DROPIN_REPLICA_URL=$REPLICA_URL], consistency ${DROPIN_REPLICA_CONSISTENCY:-pool}, through ${#GLUED[@]} generated glue file(s):"
	printf '    %s\n' "${GLUED[@]}"
	grep -E '^[-+][^-+]' "$WORK/replicas.diff" | sed 's/^/    /' | head -20 || true
	# every pool's last routing counts: role, node, statements routed
	mapfile -t STATS < <(ls "$WORK"/replicas.stats/pool.* 2>/dev/null | grep -v '\.tmp$')
	if [[ ${#STATS[@]} -gt 0 ]]; then
		awk -F'\t' '$1 == "node" { n[$2] += $4 } FNR == 1 { pools++ }
			END { printf "    routing (replicas run, %d pool(s)): %d statements to the replica, %d to the primary\n", pools, n["replica"], n["primary"]
			      if (n["replica"] == 0) print "    WARNING: the replica served no statement: the replicas run proves nothing" }' \
			"${STATS[@]}"
		# per read-only statement, over all pools: calls on the primary / on the replica
		awk -F'\t' '$1 == "stmt" && $2 == "ro" { p[$5] += $3; r[$5] += $4 }
			END { for (q in p) printf "%7d %7d  %s\n", p[q], r[q], q }' "${STATS[@]}" |
			sort -k2,2nr -k1,1nr >"$WORK/replicas.routing.txt"
		echo "    read-only statements (primary calls, replica calls; all in $WORK/replicas.routing.txt):"
		head -12 "$WORK/replicas.routing.txt" | cut -c1-150 | sed 's/^/    /'
	else
		echo "    WARNING: no pool wrote routing counts (no pool was built through the glue?)"
	fi
fi
echo
printf '%-10s %7s %7s %7s %9s %11s %s\n' run passed failed skipped pkg-fails top-level exit
for run in $RUNS; do
	printf '%-10s %7s %7s %7s %9s %11s %s\n' "$run" \
		"$(count "$run" pass)" "$(count "$run" fail)" "$(count "$run" skip)" "$(count "$run" pkgfail)" \
		"$(count_top "$run" pass)/$(($(count_top "$run" pass) + $(count_top "$run" fail) + $(count_top "$run" skip)))" \
		"${RC[$run]}"
done
echo "(passed/failed/skipped count test runs, subtests included; top-level = top-level test runs passed/total)"

# compare BASE TARGET: print every test whose verdict differs between the two
# runs; a test that fails only in TARGET is rerun alone (DROPIN_RERUNS) in both
# copies and called flaky when it then passes. Sets status=1 on a WORSE test.
compare() {
	local base="$1" target="$2" diffs
	diffs="$(LC_ALL=C join -t $'\t' -j1 -a1 -a2 -e MISSING -o 0,1.2,2.2 \
		<(verdicts "$base") <(verdicts "$target") |
		awk -F'\t' '$2 != $3 {
			worse = ($3 ~ /fail/) || ($3 == "MISSING" && $2 == "pass")
			printf "    %-9s %-70s %-8s -> %s\n", (worse ? "WORSE" : "better"), $1, $2, $3 }')"
	# A test that fails only in TARGET is run again on its own, RERUNS times
	# in each copy: timing-sensitive tests on a loaded machine fail either way.
	if [[ "$RERUNS" -gt 0 ]] && grep -q '^    WORSE' <<<"$diffs"; then
		diffs="$(while IFS= read -r line; do
			read -r tag pkg tst _ <<<"$line"
			# only tests that ran and failed (a MISSING one did not build or run)
			if [[ "$tag" != WORSE || "$tst" == - || "$line" != *"-> fail" ]]; then printf '%s\n' "$line"; continue; fi
			top="${tst%%/*}"
			for run in "$base" "$target"; do
				(cd "$WORK/$run" && go test -json -count="$RERUNS" -run "^${top}\$" "$pkg") >"$WORK/rerun.$run.json" 2>/dev/null
				jq -r --arg t "$tst" 'select(.Test==$t and (.Action=="pass" or .Action=="fail")) | .Action' \
					"$WORK/rerun.$run.json" | sort | uniq -c | awk '{ printf "%s%d %s", sep, $1, $2; sep = ", " }' >"$WORK/rerun.$run.txt"
			done
			again="$(cat "$WORK/rerun.$target.txt")"
			if [[ "$again" != *fail* && "$again" == *pass* ]]; then
				line="    flaky${line#    WORSE}"
			fi
			printf '%s  (rerun alone x%s: %s %s; %s %s)\n' "$line" "$RERUNS" "$target" "${again:-none}" "$base" "$(cat "$WORK/rerun.$base.txt")"
		done <<<"$diffs")"
		# A package that failed only because of such a test is flaky too.
		if ! grep -E '^    WORSE +[^ ]+ [^-]' <<<"$diffs" >/dev/null; then
			diffs="$(sed -E 's/^    WORSE ( +[^ ]+ - )/    flaky \1/' <<<"$diffs")"
		fi
	fi
	echo
	if [[ -n "$diffs" ]]; then
		echo "== tests whose verdict differs ($base -> $target; a test fails if any of its runs failed):"
		printf '%s\n' "$diffs"
		if grep -q '^    WORSE' <<<"$diffs"; then status=1; fi
	else
		echo "== no test verdict differs between $base and $target"
	fi
	return 0
}

status=0
base=matched
[[ " $RUNS " == *" matched "* ]] || base=original
if [[ " $RUNS " == *" pgxperf "* && " $RUNS " == *" $base "* ]]; then
	compare "$base" pgxperf
fi
if [[ " $RUNS " == *" replicas "* ]]; then
	# the same code without the replica is the fair baseline; else the untouched code
	rbase=pgxperf
	[[ " $RUNS " == *" pgxperf "* ]] || rbase=$base
	if [[ " $RUNS " == *" $rbase "* ]]; then compare "$rbase" replicas; fi
fi
echo "== logs and copies: $WORK"
if [[ $status -eq 0 ]]; then echo "dropin-proof: PASS"; else echo "dropin-proof: FAIL (pgxperf or its replica routing changed the outcome)"; fi
exit $status
