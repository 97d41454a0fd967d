// OpenBLAS's CBLAS interface (Debian libopenblas-dev), plus its thread-count control.
#include <cblas.h>

// OpenBLAS's pthread build (Debian's default) starts its worker threads when the library loads, and
// an idle one spins on sched_yield for 2^28 cycles (tens of milliseconds) before it sleeps: at start-up
// that took a core from loading the model (EfficientNet-Lite0's extract of 4 images: 0.15 -> 0.115 s
// with them gone). The engine runs BLAS single-threaded in its own workers, so it stops them
// (blas_thread_shutdown_, what OpenBLAS calls itself before a fork). They do not come back: after
// this, openblas_set_num_threads(2) still runs sgemm on one thread, which is why `pipeline bench`
// measures its peak with one sgemm per worker. Weak: builds without a thread server lack the symbol.
extern int blas_thread_shutdown_(void) __attribute__((weak));
static inline void openblas_stop_threads(void) {
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}
