package weir

// StartJob exposes the snapshot driver's entry point to the package's
// external tests.
var StartJob = (*Environment).start
