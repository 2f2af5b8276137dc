// SPDX-License-Identifier: MIT
#include "xmaps/rcu.h"

#include <atomic>
#include <new>
#include <urcu-bp.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace xmaps::detail {

namespace {
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer cannot see what a grace period orders (liburcu is not instrumented): every
// read-side section that ended before rcu_flush() returned happens before what follows it
// (e.g. freeing a CPUMAP entry its reader pushed into). Tell it so: each section's end
// releases this token, each completed grace period acquires it. Only in TSan builds.
char grace_period_token;
#endif

// One deferred call. liburcu passes the node to its call_rcu thread through its own queue,
// which ThreadSanitizer does not see; `fn` carries the hand-off order instead.
struct DeferNode {
  rcu_head head;  // first member: the callback casts back from it
  std::atomic<RcuCallback> fn;
  void* arg;
};

void run_deferred(rcu_head* head) {
  auto* node = reinterpret_cast<DeferNode*>(head);
  // A8: pairs with R8 in rcu_defer(); arg and what it points to are visible.
  const RcuCallback fn = node->fn.load(std::memory_order_acquire);
  fn(node->arg);
  delete node;
}
}  // namespace

// urcu-bp.h maps generic names (rcu_read_lock, call_rcu, ...) onto its flavour by macro; the
// xmaps names are chosen not to collide with any of them.
void rcu_enter() noexcept {
  urcu_bp_read_lock();
}
void rcu_leave() noexcept {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(&grace_period_token);
#endif
  urcu_bp_read_unlock();
}

void rcu_defer(RcuCallback fn, void* arg) {
  auto* node = new DeferNode{{}, nullptr, arg};
  node->fn.store(fn, std::memory_order_release);  // R8: pairs with A8 in run_deferred()
  urcu_bp_call_rcu(&node->head, run_deferred);
}

bool rcu_in_read_section() noexcept {
  return urcu_bp_read_ongoing() != 0;
}

void rcu_flush() noexcept {
  urcu_bp_synchronize_rcu();
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(&grace_period_token);
#endif
  urcu_bp_barrier();
}

}  // namespace xmaps::detail
