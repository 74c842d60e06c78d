//go:build openblas

package openblas

// #cgo LDFLAGS: -lopenblas
// char *openblas_get_config(void);
// char *openblas_get_corename(void);
// int openblas_get_num_threads(void);
import "C"

// Config returns OpenBLAS's build configuration, e.g. "OpenBLAS 0.3.21
// DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64".
func Config() string { return C.GoString(C.openblas_get_config()) }

// Core returns the name of the kernel OpenBLAS chose for this CPU (for its
// DYNAMIC_ARCH builds, OPENBLAS_CORETYPE overrides the choice when the
// process starts).
func Core() string { return C.GoString(C.openblas_get_corename()) }

// Threads returns the number of threads OpenBLAS uses
// (OPENBLAS_NUM_THREADS when the process starts; default every core).
func Threads() int { return int(C.openblas_get_num_threads()) }
