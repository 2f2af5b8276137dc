// SPDX-License-Identifier: MIT
#include "xmaps/rcu.h"

#include <urcu-bp.h>

#include <new>

namespace xmaps::detail {

namespace {
struct DeferNode {
  rcu_head head;  // first member: the callback casts back from it
  RcuCallback fn;
  void* arg;
};

void run_deferred(rcu_head* head) {
  auto* node = reinterpret_cast<DeferNode*>(head);
  node->fn(node->arg);
  delete node;
}
}  // namespace

// urcu-bp.h maps generic names (rcu_read_lock, call_rcu, ...) onto its flavour by macro; the
// xmaps names are chosen not to collide with any of them.
void rcu_enter() noexcept { urcu_bp_read_lock(); }
void rcu_leave() noexcept { urcu_bp_read_unlock(); }

void rcu_defer(RcuCallback fn, void* arg) {
  auto* node = new DeferNode{{}, fn, arg};
  urcu_bp_call_rcu(&node->head, run_deferred);
}

bool rcu_in_read_section() noexcept { return urcu_bp_read_ongoing() != 0; }

void rcu_flush() noexcept {
  urcu_bp_synchronize_rcu();
  urcu_bp_barrier();
}

}  // namespace xmaps::detail
