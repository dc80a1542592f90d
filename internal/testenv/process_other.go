//go:build !unix

package testenv

// processAlive cannot tell here, so it says yes and nothing is swept.
func processAlive(pid int) bool { return true }
