package n1detect

import "github.com/pgxperf/pgxperf/internal/bridge"

// What pgxperf's other packages need from n1detect and applications do not
// (see internal/bridge).
func init() {
	bridge.N1detectFindings = func(t any) any { return recorded(bridge.TracerFindings(t)) }
}
