//go:build !amd64

package tracer

import "unsafe"

// fpAvailable: elsewhere callers uses runtime.Callers.
const fpAvailable = false

func framePointer() unsafe.Pointer { return nil }
