// OpenBLAS by its own path: plain <cblas.h> is an alternatives link that can point to another
// BLAS (ENGINE-NOTES.md). openblas_set_num_threads lets TensorCore pin BLAS to one thread and
// split work itself.
#include "/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h"
