// Package openblas links OpenBLAS into a build with the tag openblas and
// reports which library runs: the configuration it was built with, the
// kernel it chose for this CPU and its number of threads. Package coupling
// calls OpenBLAS through gonum.org/v1/netlib/blas/netlib, which declares
// the CBLAS functions but leaves the choice of library to the linker
// flags; this package supplies -lopenblas. It is separate from coupling
// because a package that uses cgo cannot hold Go assembly, and coupling's
// micro-kernel is written in it.
//
// Without the tag the package is empty and nothing is linked.
package openblas
