// Package bridge lets pgxperf's public packages call each other's unexported
// functionality without exporting it to applications.
//
// A public package (tracer, replica, querycache, n1detect) that must offer
// something to a sibling only declares a function variable in its own file
// here (tracer.go for package tracer, and so on) and sets it in an init
// function of its own; the sibling calls the variable. The variables are set
// before any code of the module runs (package initialisation order), so
// callers never see them nil. Parameters that are the public package's own
// types are passed as the type itself when this package can import it
// without a cycle, and as any otherwise, asserted back by the setter.
//
// This is the arrangement grpc-go uses for its internal package: the public
// API stays what an application calls, and what the packages say to each
// other is free to change.
package bridge
