// OpenBLAS's CBLAS interface (Debian libopenblas-dev), plus its thread-count control.
#include <cblas.h>
