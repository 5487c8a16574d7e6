/* The compute backend chosen at run time (`--device cpu|cuda|auto`, config key
 * `device`): one function that every command calls, so that no model or training
 * code knows which device it runs on. */
#ifndef FR_BACKEND_SELECT_H
#define FR_BACKEND_SELECT_H

#include "backend/fr_backend.h"
#include "util/fr_status.h"

/* The device names the option takes, for help texts. */
#define FR_DEVICE_HELP "compute device: cpu, cuda or auto (cuda when a GPU is usable)"

/* name "cpu" (or NULL): the CPU backend. "cuda": the CUDA backend, or FR_EINVAL with
 * the reason ("no CUDA device: ...", or that it is not built). "auto": the CUDA
 * backend when it opens, else the CPU backend after one line on stderr saying why.
 * Anything else is FR_EINVAL. */
FR_MUST fr_status fr_backend_select(const char *name, const fr_backend **out, fr_err *err);

#endif
