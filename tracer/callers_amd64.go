package tracer

import "unsafe"

// fpAvailable: Go keeps frame pointers on amd64.
const fpAvailable = true

// framePointer returns its caller's frame pointer (callers_amd64.s).
func framePointer() unsafe.Pointer
