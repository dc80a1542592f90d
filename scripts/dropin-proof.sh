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
#   2. runs `go test -json` in each copy, test files unchanged;
#   3. prints the diff of the swap, pass/fail/skip counts per run, and every test
#      whose result differs between "matched" and "pgxperf".
#
# Exit status: 0 when no test does worse with pgxperf than in the matched
# baseline (tests that fail only with pgxperf but pass when rerun alone are
# reported as flaky and do not count), 1 when one does, 2 on a usage/setup error.
#
# Environment:
#   PGXPERF_ROOT       pgxperf checkout to swap in (default: this script's repo)
#   DROPIN_GOFLAGS     extra flags for every go command, e.g. "-tags=testing"
#   DROPIN_SWAP_TESTS  1: apply the swap to _test.go files too (default 0)
#   DROPIN_RUNS        which runs, space-separated (default "original matched pgxperf")
#   DROPIN_WORKDIR     where the copies and logs go (default: a new mktemp -d dir)
#   DROPIN_TIMEOUT     go test -timeout (default 10m)
#   DROPIN_RERUNS      a test that fails only with pgxperf is run again alone this
#                      many times in both copies; if it then always passes with
#                      pgxperf it is reported as "flaky", not as a regression
#                      (default 3; 0 disables)
# The project's own test variables (DATABASE_URL, TEST_DATABASE_URL, ...) are
# passed through as they are; set them before running.
#
# Example (acaloiaro/neoq, see docs/dropin-proof.md):
#   psql -h 127.0.0.1 -U postgres -c 'create database neoq'
#   TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/neoq?sslmode=disable&pool_max_conns=100' \
#   TEST_REDIS_URL=127.0.0.1:6379 DROPIN_GOFLAGS=-tags=testing \
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

RUNS="${DROPIN_RUNS:-original matched pgxperf}"
TIMEOUT="${DROPIN_TIMEOUT:-10m}"
RERUNS="${DROPIN_RERUNS:-3}"
WORK="${DROPIN_WORKDIR:-$(mktemp -d /tmp/dropin-proof.XXXXXX)}"
mkdir -p "$WORK"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod${DROPIN_GOFLAGS:+ $DROPIN_GOFLAGS}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

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
	if ! grep -q '\bpgxpool\.' "$P/$f"; then  # (the import line has no "pgxpool.")
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
		*) die "unknown run '$run' in DROPIN_RUNS" ;;
	esac
	log "run $run: go build + go test (log: $WORK/$run.log)"
	set +e
	(cd "$WORK/$run" && go build ./... && go vet ./... ) >"$WORK/$run.build.log" 2>&1
	b=$?
	(cd "$WORK/$run" && go test -json -timeout "$TIMEOUT" "${TEST_ARGS[@]}") >"$WORK/$run.json" 2>"$WORK/$run.log"
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
echo
printf '%-10s %7s %7s %7s %9s %11s %s\n' run passed failed skipped pkg-fails top-level exit
for run in $RUNS; do
	printf '%-10s %7s %7s %7s %9s %11s %s\n' "$run" \
		"$(count "$run" pass)" "$(count "$run" fail)" "$(count "$run" skip)" "$(count "$run" pkgfail)" \
		"$(count_top "$run" pass)/$(($(count_top "$run" pass) + $(count_top "$run" fail) + $(count_top "$run" skip)))" \
		"${RC[$run]}"
done
echo "(passed/failed/skipped count test runs, subtests included; top-level = top-level test runs passed/total)"

status=0
if [[ " $RUNS " == *" pgxperf "* ]]; then
	base=matched
	[[ " $RUNS " == *" matched "* ]] || base=original
	if [[ " $RUNS " == *" $base "* ]]; then
		diffs="$(LC_ALL=C join -t $'\t' -j1 -a1 -a2 -e MISSING -o 0,1.2,2.2 \
			<(verdicts "$base") <(verdicts pgxperf) |
			awk -F'\t' '$2 != $3 {
				worse = ($3 ~ /fail/) || ($3 == "MISSING" && $2 == "pass")
				printf "    %-9s %-70s %-8s -> %s\n", (worse ? "WORSE" : "better"), $1, $2, $3 }')"
		# A test that fails only with pgxperf is run again on its own, RERUNS times
		# in each copy: timing-sensitive tests on a loaded machine fail either way.
		if [[ "$RERUNS" -gt 0 ]] && grep -q '^    WORSE' <<<"$diffs"; then
			diffs="$(while IFS= read -r line; do
				read -r tag pkg tst _ <<<"$line"
				# only tests that ran and failed (a MISSING one did not build or run)
				if [[ "$tag" != WORSE || "$tst" == - || "$line" != *"-> fail" ]]; then printf '%s\n' "$line"; continue; fi
				top="${tst%%/*}"
				for run in "$base" pgxperf; do
					(cd "$WORK/$run" && go test -json -count="$RERUNS" -run "^${top}\$" "$pkg") >"$WORK/rerun.$run.json" 2>/dev/null
					jq -r --arg t "$tst" 'select(.Test==$t and (.Action=="pass" or .Action=="fail")) | .Action' \
						"$WORK/rerun.$run.json" | sort | uniq -c | awk '{ printf "%s%d %s", sep, $1, $2; sep = ", " }' >"$WORK/rerun.$run.txt"
				done
				again="$(cat "$WORK/rerun.pgxperf.txt")"
				if [[ "$again" != *fail* && "$again" == *pass* ]]; then
					line="    flaky${line#    WORSE}"
				fi
				printf '%s  (rerun alone x%s: pgxperf %s; %s %s)\n' "$line" "$RERUNS" "${again:-none}" "$base" "$(cat "$WORK/rerun.$base.txt")"
			done <<<"$diffs")"
			# A package that failed only because of such a test is flaky too.
			if ! grep -E '^    WORSE +[^ ]+ [^-]' <<<"$diffs" >/dev/null; then
				diffs="$(sed -E 's/^    WORSE ( +[^ ]+ - )/    flaky \1/' <<<"$diffs")"
			fi
		fi
		echo
		if [[ -n "$diffs" ]]; then
			echo "== tests whose verdict differs ($base -> pgxperf; a test fails if any of its runs failed):"
			printf '%s\n' "$diffs"
			grep -q '^    WORSE' <<<"$diffs" && status=1
		else
			echo "== no test verdict differs between $base and pgxperf"
		fi
	fi
fi
echo "== logs and copies: $WORK"
if [[ $status -eq 0 ]]; then echo "dropin-proof: PASS"; else echo "dropin-proof: FAIL (pgxperf changed the outcome)"; fi
exit $status
