// SPDX-License-Identifier: MIT
//
// Grace periods for NO_PREALLOC maps, on liburcu's "bulletproof" flavour (urcu-bp: threads
// register themselves on first use, so library users need no set-up call).
//
// A NO_PREALLOC map frees a deleted or replaced element only after every reader that might
// still see it has left its read-side section. The map's own operations enter such a section
// internally. A caller that keeps a pointer returned by lookup() past the call must hold an
// RcuReadGuard for as long as it uses the pointer; the element is then not recycled under it.
// Do not destroy a NO_PREALLOC map while holding a guard: its destructor waits for a grace period.
// (Preallocated maps recycle elements at once, as the kernel's do: a pointer into one stays
// valid memory but may come to hold another key's value; see hash_map.h.)
#pragma once

namespace xmaps {

namespace detail {
// Out of line (lib/src/rcu.cc), so urcu's macros never leak into users' code.
void rcu_enter() noexcept;
void rcu_leave() noexcept;
using RcuCallback = void (*)(void* arg);
// Runs fn(arg) on liburcu's call_rcu thread after a grace period. Allocates one small node.
void rcu_defer(RcuCallback fn, void* arg);
// Waits for a grace period, then for every callback queued so far to have run. Must not be
// called inside a read section (it would wait for itself).
void rcu_flush() noexcept;
// True if the calling thread is inside a read section.
bool rcu_in_read_section() noexcept;
}  // namespace detail

// Holds an RCU read-side section for its lifetime. Nestable; cheap (no shared write).
class RcuReadGuard {
 public:
  RcuReadGuard() noexcept { detail::rcu_enter(); }
  ~RcuReadGuard() { detail::rcu_leave(); }
  RcuReadGuard(const RcuReadGuard&) = delete;
  RcuReadGuard& operator=(const RcuReadGuard&) = delete;
  RcuReadGuard(RcuReadGuard&&) = delete;
  RcuReadGuard& operator=(RcuReadGuard&&) = delete;
};

}  // namespace xmaps
