package sqlinfo_test

import (
	"fmt"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

func ExampleAnalyze() {
	info := sqlinfo.Analyze("SELECT id, name FROM users WHERE id = $1")
	fmt.Println(info.Kind, info.ReadOnly, info.Reason)
	fmt.Println(info.TablesRead, info.Params)
	// Output:
	// select true plain select
	// [users] 1
}

func ExampleAnalyze_locking() {
	info := sqlinfo.Analyze("SELECT id FROM content WHERE status = 'queued' LIMIT 10 FOR UPDATE SKIP LOCKED")
	fmt.Println(info.ReadOnly, info.Locking)
	// Output:
	// false FOR UPDATE SKIP LOCKED
}

func ExampleAnalyze_batchShaped() {
	one := sqlinfo.Analyze("SELECT * FROM users WHERE id = $1")
	many := sqlinfo.Analyze("SELECT * FROM users WHERE id = ANY($1)")
	fmt.Println(one.Fingerprint == many.Fingerprint, one.BatchShaped, many.BatchShaped)
	// Output:
	// true false true
}

func ExampleAnalyze_sqlc() {
	info := sqlinfo.Analyze("-- name: GetUser :one\nSELECT * FROM users WHERE id = $1")
	fmt.Println(info.SQLCName, info.SQLCCommand)
	// Output:
	// GetUser :one
}

func ExampleAnalyze_writes() {
	info := sqlinfo.Analyze("WITH moved AS (DELETE FROM sessions WHERE expires_at < now() RETURNING *) " +
		"INSERT INTO sessions_archive SELECT * FROM moved")
	fmt.Println(info.Kind, info.ReadOnly, info.TablesWritten)
	// Output:
	// insert false [sessions sessions_archive]
}

func ExampleAnalyze_fallback() {
	info := sqlinfo.Analyze("SELEC * FROM users WHERE email = 'a@example.com'")
	fmt.Println(info.Kind, info.Fallback, info.ReadOnly, info.Reason)
	fmt.Println(info.Normalized)
	// Output:
	// unparsed true false parse error
	// selec * from users where email = ?
}

func ExampleAnalyzer() {
	a := sqlinfo.New(sqlinfo.Config{MaxBytes: 8 << 20})
	first := a.Analyze("SELECT count(*) FROM content")
	again := a.Analyze("SELECT count(*) FROM content")
	fmt.Println(first == again, a.Len())
	// Output:
	// true 1
}

func ExampleIsKnownReadOnlyFunction() {
	fmt.Println(sqlinfo.IsKnownReadOnlyFunction("date_trunc"), sqlinfo.IsKnownReadOnlyFunction("nextval"))
	// Output:
	// true false
}
