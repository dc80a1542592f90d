package bridge

// What package n1detect offers its siblings (set in n1detect's init).
var (
	// N1detectFindings returns the n1detect findings recorded in the
	// statistics of t, a *tracer.Tracer, as a []n1detect.Finding merged by
	// ID (Occurrences, FirstSeen and LastSeen set), largest total time
	// first; nil when there are none. pgxperf's Report lists them.
	N1detectFindings func(t any) any
)
