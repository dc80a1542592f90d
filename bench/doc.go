// Package bench compares pgxperf's tracer with other pgx tracers (otelpgx,
// tracelog) and checks that they combine through pgx's multitracer.
//
// It is a separate Go module so that the core module
// (github.com/pgxperf/pgxperf) never depends on otelpgx or OpenTelemetry:
// applications that install pgxperf do not download, build or vet them. The
// module points at the repository's own pgxperf through a replace directive, so
// the figures always describe the code next to it.
//
// Run the comparison with scripts/bench.sh (from the repository root); the
// method and the latest figures are in BENCHMARKS.md.
package bench
