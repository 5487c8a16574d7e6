/* NumPy .npy files: the model's parameters exported as a folder of NAME.npy files, the
 * form in which the PyTorch peer of the benchmark loads weights (--model-in DIR), so
 * that a model trained here can be evaluated there and the two compared.
 *
 * Files are NumPy format version 1.0: the magic "\x93NUMPY", bytes 1 and 0, a uint16
 * little-endian header length, then a header such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n' so that the data starts at a multiple of 64
 * bytes; then the raw data in C order. */
#ifndef FR_NPY_H
#define FR_NPY_H

#include <stddef.h>

#include "nn/fr_model.h"
#include "util/fr_status.h"

/* Write one array to path: descr is NumPy's type string ("<f4", "<i8", "|u1": byte
 * order, kind, item size), shape has ndim dimensions (0 for a scalar), data holds
 * exactly prod(shape) items, bytes in all, already in the byte order descr names.
 * FR_EINVAL when descr, shape and bytes disagree; FR_EIO when the file fails. */
FR_MUST fr_status fr_npy_write(const char *path, const char *descr, const size_t *shape, int ndim,
                               const void *data, size_t bytes, fr_err *err);

/* Export m to the folder dir (created, with its parents, if missing): NAME.npy for each
 * parameter ("<f4", the shapes of m->p: E_id (V,d) ... gru_b_hh (3d,)) and the
 * external ids of rows 1..V-1: item_ids.npy ("<i8", V-1 entries) when they are
 * integers, else item_keys.txt (one per line, UTF-8, '\n' after each). Files already
 * there are replaced, and the ids file of the other kind is removed. */
FR_MUST fr_status fr_npy_export(const fr_model *m, const char *dir, fr_err *err);

#endif
