//go:build !race

package sqlinfo

const raceEnabled = false
