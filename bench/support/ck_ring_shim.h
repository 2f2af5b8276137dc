/* SPDX-License-Identifier: MIT
 * ck_ring (MPMC) for C++ callers: see ck_ring_shim.c. size: a power of two; holds size - 1. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xck_ring;
struct xck_ring* xck_ring_new(unsigned size);
void xck_ring_free(struct xck_ring* r);
bool xck_ring_push(struct xck_ring* r, uint64_t v);
bool xck_ring_pop(struct xck_ring* r, uint64_t* v);

#ifdef __cplusplus
}
#endif
