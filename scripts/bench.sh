#!/usr/bin/env bash
# scripts/bench.sh: pgxperf's performance comparison (see BENCHMARKS.md).
#
# Runs the equivalent of
#   (cd bench && go test -run '^$' -bench 'BenchmarkTracers' -benchmem)
#   go test -run '^$' -bench 'BenchmarkPoolQueryRow|BenchmarkAnalyze|BenchmarkTracer' -benchmem ./...
# BENCH_COUNT times (default 6), one pass of everything after another, so that
# the variants of one comparison are always measured close together in time:
#   - ./bench (its own module):  BenchmarkTracers          pgxperf vs otelpgx vs tracelog
#   - root module:               BenchmarkPoolQueryRow     pgxpool vs pgxpool+tracer vs pgxperf
#                                BenchmarkPoolQueryRowPaired  the same, each pool alternating with raw
#                                BenchmarkTracer(Parallel) the tracer alone
#                                BenchmarkAnalyze          the statement analyzer (internal/sqlinfo)
# writes the raw outputs to bench/results/*.txt and the benchstat tables to
# bench/results/benchstat.txt, and prints the tables.
#
# The machines are small (2 cores) and shared: read the ratios between the
# columns of one table, never absolute times across runs. Wall-time "±" of
# 20-40% are usual there; cpu-ns/op and the paired pool ratio are steadier.
# When those are wide too, the machine was busy: run again.
#
# Needs the Postgres primary (PGXPERF_TEST_PRIMARY, default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); bring it up with
# scripts/testenv.sh.
#
# Usage:
#   bash scripts/bench.sh          run the benchmarks, then write the tables
#   bash scripts/bench.sh tables   only rewrite bench/results/benchstat.txt from
#                                  the raw outputs already in bench/results
#
# Environment:
#   BENCH_COUNT  runs per benchmark (default 6; benchstat wants at least 6)
#   BENCH_TIME   -benchtime of each run (default 1s)
# Besides ns/op, B/op and allocs/op, the benchmarks report cpu-ns/op: the
# process's CPU time per operation, which a busy machine disturbs less than
# wall time (time spent descheduled is not counted).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COUNT="${BENCH_COUNT:-6}"
BENCHTIME="${BENCH_TIME:-1s}"
OUT="$ROOT/bench/results"
BENCHSTAT_PKG="golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"
ROOT_PATTERN='BenchmarkPoolQueryRow|BenchmarkAnalyze|BenchmarkTracer|BenchmarkScope|BenchmarkRoute|BenchmarkReplicaQueryRow'
MODE="${1:-run}"

case "$MODE" in run | tables) ;; *) echo "usage: $0 [run|tables]" >&2; exit 2 ;; esac
case "$COUNT" in '' | *[!0-9]*) echo "bench.sh: BENCH_COUNT must be a number, got '$COUNT'" >&2; exit 2 ;; esac
if [ "$MODE" = run ] && [ "$COUNT" -lt 6 ]; then
	echo "bench.sh: warning: BENCH_COUNT=$COUNT; benchstat needs at least 6 runs for a confidence interval" >&2
fi

# run_benchmarks writes tracers.txt, core.txt and env.txt to bench/results.
# They are collected in a scratch directory and replace the previous ones only
# when the whole run succeeded.
run_benchmarks() {
	local bin tracers core env rel dir i
	bin="$(mktemp -d)"
	BENCH_BIN_DIR="$bin"
	trap 'rm -rf "${BENCH_BIN_DIR:-}"' EXIT
	tracers="$bin/tracers.txt"
	core="$bin/core.txt"
	env="$bin/env.txt"
	: >"$tracers"
	: >"$core"

	{
		echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		if rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"; then
			git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || rev="$rev (work tree modified)"
		else
			rev="none"
		fi
		echo "commit:     $rev"
		echo "go:         $(go version)"
		echo "cpus:       $(nproc)"
		echo "loadavg:    $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
		echo "count:      $COUNT x $BENCHTIME, interleaved"
	} >"$env"

	# Compile every test binary once, before measuring: all runs then measure
	# the same code (even if the work tree changes meanwhile), and no compiler
	# or linker competes with the benchmarks. Running a binary built by
	# `go test -c` with -test.bench, in the package's directory, is what
	# `go test -bench` does.
	echo "bench.sh: building" >&2
	(cd "$ROOT/bench" && go test -c -o "$bin/bench.test" .)
	local core_pkgs=()
	while IFS= read -r dir; do
		rel="${dir#"$ROOT"/}"
		(cd "$ROOT" && go test -c -o "$bin/$(echo "$rel" | tr '/' '_').test" "./$rel")
		core_pkgs+=("$rel")
	done < <(grep -rlE --include='*_test.go' "^func ($ROOT_PATTERN)[A-Za-z0-9_]*\(b \*testing\.B\)" "$ROOT" |
		grep -v "^$ROOT/bench/" | xargs -r -n1 dirname | sort -u)

	# run DIR BINARY PATTERN: one pass of the benchmarks of one package.
	run() {
		(cd "$1" && "$2" -test.run '^$' -test.bench "$3" -test.benchmem -test.benchtime "$BENCHTIME" -test.count 1)
	}
	for i in $(seq 1 "$COUNT"); do
		echo "bench.sh: run $i/$COUNT" >&2
		# One package at a time, so that benchmarks never share the 2 cores
		# with another test binary of this run.
		run "$ROOT/bench" "$bin/bench.test" 'BenchmarkTracers' >>"$tracers"
		for rel in "${core_pkgs[@]}"; do
			run "$ROOT/$rel" "$bin/$(echo "$rel" | tr '/' '_').test" "$ROOT_PATTERN" >>"$core"
		done
	done
	echo "loadavg:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)" >>"$env"

	if ! grep -q '^BenchmarkTracers/' "$tracers" || ! grep -q '^BenchmarkPoolQueryRow/' "$core"; then
		echo "bench.sh: benchmarks produced no results (skipped?): is Postgres up? (scripts/testenv.sh, PGXPERF_TEST_PRIMARY)" >&2
		grep -h -- '--- SKIP\|--- FAIL\|^\s*[a-z_]*\.go:[0-9]*:' "$tracers" "$core" >&2 || true
		exit 1
	fi
	mkdir -p "$OUT"
	cp "$tracers" "$core" "$env" "$OUT/"
}

# benchstat runs in bench/results so that the tables name the files relatively.
benchstat() { (cd "$OUT" && go run "$BENCHSTAT_PKG" "$@"); }

# write_tables writes bench/results/benchstat.txt from the raw outputs.
write_tables() {
	{
		echo "# pgxperf benchmarks (scripts/bench.sh)"
		cat "$OUT/env.txt"
		echo
		echo "## Tracers: one statement's start+end, tracer called directly (bench/results/tracers.txt)"
		echo "## (cd bench/results && benchstat -col '/tracer@(pgxperf otelpgx otelpgx_metrics otelpgx_span tracelog)' tracers.txt)"
		benchstat -col '/tracer@(pgxperf otelpgx otelpgx_metrics otelpgx_span tracelog)' tracers.txt
		echo
		echo "## Pool: QueryRow(SELECT \$1::int).Scan over loopback (bench/results/core.txt)"
		echo "## (cd bench/results && benchstat -filter '.name:PoolQueryRow' -col '/pool@(raw tracer pgxperf)' core.txt)"
		benchstat -filter '.name:PoolQueryRow' -col '/pool@(raw tracer pgxperf)' core.txt
		echo
		echo "## Pool, paired: the plain pool and another alternating every 32 queries in one loop (bench/results/core.txt)"
		echo "## x/raw: ratio of the mean times per query (slowest 1% of each dropped); x/raw-p50: of the medians"
		echo "## raw2 is a second plain pool (must be 1: no bias); nomon is pgxperf with monitoring disabled"
		echo "## (cd bench/results && benchstat -filter '.name:PoolQueryRowPaired .unit:/raw/' -col '/pool@(raw2 tracer nomon pgxperf)' core.txt)"
		benchstat -filter '.name:PoolQueryRowPaired .unit:/raw/' -col '/pool@(raw2 tracer nomon pgxperf)' core.txt
		echo
		echo "## The tracer alone, core module (bench/results/core.txt)"
		echo "## (cd bench/results && benchstat -filter '.name:(Tracer OR TracerParallel)' core.txt)"
		benchstat -filter '.name:(Tracer OR TracerParallel)' core.txt
		if grep -q '^BenchmarkAnalyze' "$OUT/core.txt"; then
			echo
			echo "## Statement analyzer (internal/sqlinfo)"
			echo "## (cd bench/results && benchstat -filter '.name:/^Analyze/' core.txt)"
			benchstat -filter '.name:/^Analyze/' core.txt
		fi
		if grep -q '^BenchmarkScope' "$OUT/core.txt"; then
			echo
			echo "## n1detect: what a scope adds per statement (n1detect/bench_test.go)"
			echo "## (cd bench/results && benchstat -filter '.name:Scope' core.txt)"
			benchstat -filter '.name:Scope' core.txt
		fi
		if grep -q '^BenchmarkRoute' "$OUT/core.txt"; then
			echo
			echo "## Read routing: the decision for a cached statement, and a read on the replica"
			echo "## (cd bench/results && benchstat -filter '.name:Route' core.txt; benchstat -filter '.name:ReplicaQueryRow' -col '/pool@(raw pgxperf)' core.txt)"
			benchstat -filter '.name:Route' core.txt
			benchstat -filter '.name:ReplicaQueryRow' -col '/pool@(raw pgxperf)' core.txt
		fi
	} >"$OUT/benchstat.tmp"
	mv "$OUT/benchstat.tmp" "$OUT/benchstat.txt"
}

if [ "$MODE" = run ]; then
	run_benchmarks
fi
write_tables
cat "$OUT/benchstat.txt"
echo "bench.sh: raw outputs and tables in ${OUT#"$ROOT"/}/" >&2
