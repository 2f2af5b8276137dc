/* SPDX-License-Identifier: MIT
 *
 * Concurrency Kit's ck_ring in its MPMC mode, behind three plain C functions: ck_ring.h is C
 * that C++ does not accept (an inline function returns `false` as a pointer). queue_bench is
 * built with link-time optimisation, so these calls are inlined into the benchmark loop like
 * every header-only peer. */
#include <ck_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ck_ring_shim.h"

struct xck_ring {
  ck_ring_t ring;
  ck_ring_buffer_t *buffer;
};

struct xck_ring *xck_ring_new(unsigned size) {
  struct xck_ring *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->buffer = calloc(size, sizeof(*r->buffer));
  if (r->buffer == NULL) {
    free(r);
    return NULL;
  }
  ck_ring_init(&r->ring, size);
  return r;
}

void xck_ring_free(struct xck_ring *r) {
  if (r != NULL)
    free(r->buffer);
  free(r);
}

bool xck_ring_push(struct xck_ring *r, uint64_t v) {
  return ck_ring_enqueue_mpmc(&r->ring, r->buffer, (void *)(uintptr_t)v);
}

bool xck_ring_pop(struct xck_ring *r, uint64_t *v) {
  void *p = NULL;
  if (!ck_ring_dequeue_mpmc(&r->ring, r->buffer, &p))
    return false;
  *v = (uint64_t)(uintptr_t)p;
  return true;
}
