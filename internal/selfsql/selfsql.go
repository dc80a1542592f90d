// Package selfsql marks the statements pgxperf runs for itself (catalog
// lookups of the router and of the query cache, the write clock), so that
// every package can tell them from the application's: the tracer does not
// record them, the invalidator and the write watch never count them as writes.
package selfsql

// Mark starts the text of every statement pgxperf runs for itself.
const Mark = "/* pgxperf:catalog */"

// Is reports whether sql is one of pgxperf's own statements.
// The first byte is checked alone first: every statement pays for Is.
func Is(sql string) bool {
	return len(sql) >= len(Mark) && sql[0] == '/' && sql[:len(Mark)] == Mark
}
