/* bits.h - the "bits" transfer backend (Windows): backend_ops over the
 * Background Intelligent Transfer Service's COM API. */
#ifndef BITSYNC_BITS_H
#define BITSYNC_BITS_H

#include "backend.h"

extern const struct backend_ops bits_backend_ops;

#endif
