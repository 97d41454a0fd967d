// liblinear's C API (Debian liblinear-dev).
#include <linear.h>
