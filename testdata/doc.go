// Package testdata embeds the SQL fixtures that pgxperf's tests, benchmarks and
// demo load into Postgres, so no code needs a file path to find them.
//
// It holds a small publishing platform:
//
//   - schema.sql ([Schema]): enum types content_status, publication_status and
//     platform_type; tables users, projects, content, publications,
//     platform_metrics and sessions, with foreign keys and the indexes the
//     product's example queries need: content (project_id, status, published_at),
//     content and publications (project_id, created_at, status), platform_metrics
//     (project_id, platform_type, period_start), users (email) unique,
//     sessions (user_id) and (expires_at). The columns cover many Postgres types
//     (numeric, jsonb, uuid, bytea, inet, interval, text[], timestamptz, enums,
//     NULLs) so row-fidelity tests can compare values of every common kind. It is
//     plain CREATE statements, meant for a new, empty database.
//   - seed.sql ([Seed]): deterministic rows built with generate_series and
//     arithmetic only (2,000 users, 5,000 projects, 50,000 content rows, 100,000
//     publications, 60,000 platform_metrics, 10,000 sessions), fixed timestamps,
//     then ANALYZE. Its header comment documents the formulas, so tests can
//     assert exact values. It sets TimeZone to UTC for the loading session.
//
// Both are multi-statement scripts: run them with the simple query protocol,
// for example pgconn's Exec (conn.PgConn().Exec(ctx, testdata.Schema).ReadAll()),
// or psql -f. internal/testenv loads them into scratch databases for tests.
//
// The go command skips directories named testdata when expanding ./..., so this
// package is compiled only by the packages that import it. Other fixtures (SQL
// corpora, fuzz corpora) may live beside these files.
package testdata

import _ "embed"

// Schema is the text of schema.sql: the tables, types and indexes of the test
// database. Load it into a new database before Seed.
//
//go:embed schema.sql
var Schema string

// Seed is the text of seed.sql: deterministic rows for every table in Schema,
// followed by ANALYZE. Loading takes a few seconds.
//
//go:embed seed.sql
var Seed string
