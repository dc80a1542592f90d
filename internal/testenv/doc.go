// Package testenv connects pgxperf's integration tests to real servers: a
// Postgres primary, a streaming replica of it, and Redis. Every test that needs
// a server goes through it, so addresses, skipping rules and scratch databases
// work the same way everywhere.
//
// # Servers
//
// The addresses come from the environment, with the defaults that
// scripts/testenv.sh (run by `make test`) brings up on a development machine:
//
//	PGXPERF_TEST_PRIMARY  postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//	PGXPERF_TEST_REPLICA  postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable
//	PGXPERF_TEST_REDIS    127.0.0.1:6379 (host:port)
//
// [RequirePrimary], [RequireReplica] and [RequireRedis] check once per test
// process (3 s timeout) that the server answers, the replica being in recovery,
// and return its address. When it does not, the test is skipped with a message
// naming the variable and `make test`; when the CI environment variable is true
// the test fails instead, because in CI a missing server is a broken setup, not
// a reason to skip.
//
// # Scratch databases
//
// Tests that write get their own database:
//
//	func TestSomething(t *testing.T) {
//		dsn := testenv.NewDatabase(t)                      // schema only
//		seeded := testenv.NewDatabase(t, testenv.WithSeed()) // schema + seed rows
//		...
//	}
//
// [NewDatabase] creates a database named pgxperf_test_<pid>_<test>_<random> on
// the primary, loads [testdata.Schema] (and [testdata.Seed] with [WithSeed]) and
// drops it with DROP DATABASE … WITH (FORCE) when the test ends. Seeded
// databases are cloned from a template database, pgxperf_test_tmpl_<hash of
// schema.sql and seed.sql>, built once and kept on the primary, so a seeded
// database costs well under a second instead of a full seed load.
//
// Tests that only read seeded rows share one database per test process:
// [SharedSeededDatabase] creates pgxperf_test_shared_<pid> on first use. Treat
// it as read-only. It is dropped at the end of the process when the package's
// TestMain calls [Main]:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without that it stays behind; the next test process that uses this package
// drops scratch and shared databases left by test processes that no longer run
// (on a primary at a loopback address, and only those without connections).
//
// # Replica
//
// A database created on the primary reaches the replica by WAL replay.
// [NewReplicatedDatabase] and [SharedSeededReplica] return DSNs for both sides
// after [WaitForReplica] has seen the replica replay the primary's current WAL
// position; call WaitForReplica again after writing on the primary when a test
// must read the write back from the replica.
//
// # Tests that break servers
//
// Tests that stop, pause or partition a server start their own instance on a
// port from [FreePort] and never touch the shared ones.
package testenv
