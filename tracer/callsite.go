package tracer

import (
	"strconv"

	"github.com/pgxperf/pgxperf/internal/callsite"
)

// CallSite is a frame of application code: the first caller outside pgx,
// pgxperf, database/sql and the Go runtime. The zero value is an unknown
// call site.
type CallSite struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// String formats the call site as "file:line (function)", or "" when unknown.
func (c CallSite) String() string {
	if c.File == "" {
		return ""
	}
	return c.File + ":" + strconv.Itoa(c.Line) + " (" + c.Function + ")"
}

// captureCallSite returns the first application frame above the caller,
// skipping skip extra frames. It costs a stack walk: call it off the hot path.
func captureCallSite(skip int) CallSite { return CallSite(callsite.Capture(skip + 1)) }
