// SPDX-License-Identifier: MIT
//
// Redirecting frames from a program into a CPUMAP (xmaps/cpumap.h): bpf_redirect_map(),
// xdp_do_redirect() and xdp_do_flush() of the kernel, for user-space poll loops.
//
// Each thread that runs programs on frames (an ingress poll loop, and every CPUMAP worker)
// owns one RedirectContext, the counterpart of the kernel's per-CPU redirect state and flush
// list. A poll batch looks like this:
//
//   xmaps::RedirectContext ctx;                       // once per thread
//   for (;;) {                                        // one poll batch:
//     for (xmaps::Frame* f : batch)
//       (void)ctx.run(first_program, f);              // PASS: the frame is still yours
//     ctx.flush();                                    // the xdp_do_flush point
//   }
//
// where the program chooses a target with
//
//   return xmaps::redirect_map(cpu_map, cpu, 0);      // XDP_REDIRECT, or flags' low 2 bits
//
// redirect_map() only records the target (as bpf_redirect_map does); run(), or redirect()
// after a program returned XDP_REDIRECT, queues the frame in this thread's bulk queue for that
// entry (pushed into the entry's ring when it holds bulk_size frames, and by flush()). A
// frame the ring has no room for is recycled and counted as an enqueue drop.
//
// From the first redirect_map() of a batch until flush() the thread is inside an RCU read-side
// section, so an entry it has chosen stays alive until its frames are in the ring: every
// batch must end in flush() (the destructor flushes too), and a thread must not update,
// erase or destroy a CpuMap in the middle of a batch (those return Errc::busy).
//
// Cost on the ingress thread, per frame: the program, a slot load, a bulk-queue append; per
// bulk: one ring claim and, when the worker sleeps, one wake-up.
#pragma once

#include <cstddef>
#include <cstdint>

#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/detail/cpumap_entry.h"
#include "xmaps/frame_pool.h"
#include "xmaps/rcu.h"
#include "xmaps/xdp.h"

namespace xmaps {

class RedirectContext;

namespace detail {
// The thread's context, set by RedirectContext (innermost wins), for redirect_map().
inline RedirectContext*& current_redirect_context() noexcept {
  thread_local RedirectContext* ctx = nullptr;
  return ctx;
}
// The first of RedirectContext's 64 bulk slots that a target CPU's bulk queue probes
// (linear probing from there): the top six bits of cpu * 2^32/phi (Fibonacci hashing).
// Consecutive CPUs land far apart, so contiguous CPU ranges, SMT siblings 32, 64 or 128 apart
// and their unions take at most 2 probes a frame on average for up to 63 targets
// (tests/redirect_bulk_test.cc). The low six bits alone took 13 for 48 workers on CPUs 8-31
// and 72-95, and xoring the high bits into the low ones 4.5 for 48 contiguous CPUs that do not
// start at a multiple of 64.
inline std::uint32_t bulk_home_slot(std::uint32_t cpu) noexcept {
  return (cpu * 0x9E3779B9U) >> 26;  // 32 - log2(64)
}

}  // namespace detail

// What one context's frames became (single thread: plain counters).
struct RedirectStats {
  std::uint64_t redirected = 0;       // queued for an entry
  std::uint64_t redirect_errors = 0;  // XDP_REDIRECT without a target: recycled
  std::uint64_t passed = 0;           // run(): XDP_PASS, left to the caller
  std::uint64_t dropped = 0;          // run(): XDP_DROP, recycled
  std::uint64_t aborted = 0;          // run(): XDP_ABORTED, XDP_TX, unknown: recycled
  std::uint64_t flushes = 0;          // bulks pushed into rings
};

class RedirectContext {
 public:
  RedirectContext() noexcept : previous_(detail::current_redirect_context()) {
    detail::current_redirect_context() = this;
  }
  // A CPUMAP worker's context: the frames it redirects are the engine's already.
  struct EngineOwned {};
  explicit RedirectContext(EngineOwned) noexcept : RedirectContext() { engine_owned_ = true; }
  ~RedirectContext() {
    flush();
    detail::current_redirect_context() = previous_;
  }
  RedirectContext(const RedirectContext&) = delete;
  RedirectContext& operator=(const RedirectContext&) = delete;
  RedirectContext(RedirectContext&&) = delete;
  RedirectContext& operator=(RedirectContext&&) = delete;

  // bpf_redirect_map() for this context: see xmaps::redirect_map().
  [[nodiscard]] XdpAction choose(const CpuMap& map, std::uint32_t key,
                                 std::uint64_t flags) noexcept {
    if ((flags & ~std::uint64_t{kActionMask}) != 0)
      return XdpAction::aborted;  // the kernel accepts only the action bits for a CPUMAP
    enter();
    detail::CpuMapEntry* const e = map.entry_for_redirect(key);
    pending_ = e;
    if (e == nullptr)
      return static_cast<XdpAction>(flags & kActionMask);
    return XdpAction::redirect;
  }

  // xdp_do_redirect(): after a program returned XDP_REDIRECT, queue `f` for the target its
  // redirect_map() chose. False (the frame recycled, a redirect error counted) if it chose
  // none, or chose a missing entry; false (a redirect error, the frame left alone) for a pool
  // frame that is not out (handed over before, or free).
  bool redirect(Frame* f) noexcept {
    detail::CpuMapEntry* const e = pending_;
    pending_ = nullptr;
    if (e == nullptr) {
      ++stats_.redirect_errors;
      if (engine_owned_) {
        const std::uint64_t w = detail::frame_word(f);
        detail::recycle_words(&w, 1);
      } else {
        (void)f->recycle();
      }
      return false;
    }
    if (FramePool* const pool = f->pool();
        !engine_owned_ && pool != nullptr && !pool->hand_to_engine(f->index())) {
      ++stats_.redirect_errors;  // not out: already handed over (or freed); not ours to send
      return false;
    }
    Bulk& b = bulk_for(e);
    b.frames[b.count++] = detail::frame_word(f);
    ++stats_.redirected;
    if (b.count == e->bulk)
      push(b);
    return true;
  }

  // Runs `prog` on `f` and carries out its verdict: REDIRECT queues the frame (redirect()),
  // DROP / ABORTED / TX / unknown recycle it. Returns the verdict (REDIRECT that could not be
  // carried out: ABORTED); on PASS the frame is still the caller's.
  XdpAction run(const XdpProgram& prog, Frame* f) {
    pending_ = nullptr;
    const XdpAction act = prog.run(*f);
    switch (act) {
      case XdpAction::redirect: return redirect(f) ? XdpAction::redirect : XdpAction::aborted;
      case XdpAction::pass: ++stats_.passed; return act;
      case XdpAction::drop:
        ++stats_.dropped;
        (void)f->recycle();
        return act;
      default:
        ++stats_.aborted;
        (void)f->recycle();
        return XdpAction::aborted;
    }
  }

  // xdp_do_flush(): pushes every bulk queue into its ring and ends the batch (leaves the RCU
  // read-side section entered by the batch's first redirect_map()).
  void flush() noexcept {
    for (std::uint32_t i = 0; i < active_count_; ++i) {
      Bulk& b = bulks_[active_[i]];
      if (b.count != 0)
        push(b);
    }
    active_count_ = 0;
    used_ = 0;
    pending_ = nullptr;
    if (in_section_) {
      in_section_ = false;
      detail::rcu_leave();
    }
  }

  [[nodiscard]] const RedirectStats& stats() const noexcept { return stats_; }
  [[nodiscard]] bool in_batch() const noexcept { return in_section_; }

 private:
  static constexpr std::uint32_t kActionMask = 3;  // XDP_ABORTED | DROP | PASS | TX
  // Bulk queues, open-addressed by CPU key (linear probing): a batch keeps up to kSlots
  // targets open whatever their keys, as the kernel's per-entry, per-CPU bulk queues do.
  static constexpr std::uint32_t kSlots = 64;  // = the bits of used_ and of bulk_home_slot()
  static_assert(kSlots == 64, "used_ has 64 bits; bulk_home_slot() returns six");

  // Not initialised: a slot is set up when it is claimed (a bit in used_), so making a
  // context (once per worker batch in manual mode) writes a few words, not 9 KB.
  struct Bulk {
    detail::CpuMapEntry* entry;
    std::uint32_t count;
    std::uint64_t frames[CpuMap::kMaxBulk];  // detail::frame_word()s
  };

  // The bulk queue of `e` in this batch: its slot, a free one on its probe path, or (all
  // kSlots taken by other targets) its home slot, after pushing that slot's frames.
  Bulk& bulk_for(detail::CpuMapEntry* e) noexcept {
    const std::uint32_t home = detail::bulk_home_slot(e->key);
    for (std::uint32_t i = 0; i < kSlots; ++i) {  // i == 0: the home slot, the common case
      const std::uint32_t slot = (home + i) & (kSlots - 1);
      Bulk& b = bulks_[slot];
      if ((used_ >> slot & 1U) == 0) {
        used_ |= std::uint64_t{1} << slot;
        active_[active_count_++] = static_cast<std::uint8_t>(slot);
        b.entry = e;
        b.count = 0;
        return b;
      }
      if (b.entry == e)
        return b;
    }
    Bulk& first = bulks_[home];
    push(first);  // every slot holds another target: flush the home slot's and take it
    first.entry = e;
    return first;
  }

  void enter() noexcept {
    if (!in_section_) {
      in_section_ = true;
      detail::rcu_enter();
    }
  }

  // bq_flush_to_queue(): one bulk claim on the ring; what does not fit is dropped.
  void push(Bulk& b) noexcept {
    detail::CpuMapEntry& e = *b.entry;
    const std::size_t n = b.count;
    b.count = 0;
    const std::size_t in = e.ring->push_bulk<8>(b.frames, n, 0);
    if (in != n)
      detail::recycle_words(b.frames + in, n - in);
    const int cpu = current_cpu();
    detail::IngressCounters& c =
        e.ingress[static_cast<std::size_t>(cpu < e.ingress_cpus ? cpu : 0)].value;
    // Relaxed (both): statistics; several threads may act as one CPU, hence the RMW.
    c.enqueued.fetch_add(in, std::memory_order_relaxed);
    if (in != n)
      c.enqueue_drops.fetch_add(n - in, std::memory_order_relaxed);
    ++stats_.flushes;
    if (in != 0)
      e.wake_if_sleeping();
  }

  RedirectContext* previous_;
  bool engine_owned_ = false;
  detail::CpuMapEntry* pending_ = nullptr;
  bool in_section_ = false;
  std::uint32_t active_count_ = 0;
  std::uint64_t used_ = 0;       // bit s: bulks_[s] belongs to a target in this batch
  std::uint8_t active_[kSlots];  // the used slots, in the order they were claimed
  Bulk bulks_[kSlots];
  RedirectStats stats_;
};

// bpf_redirect_map(map, key, flags) for a CPUMAP, from a program run by a thread that has a
// RedirectContext: XDP_REDIRECT if the entry exists (the frame then goes there when the
// caller carries out the verdict), else the action in flags' low two bits; flags with other
// bits set, or no RedirectContext on this thread: XDP_ABORTED.
[[nodiscard]] inline XdpAction redirect_map(const CpuMap& map, std::uint32_t key,
                                            std::uint64_t flags) noexcept {
  RedirectContext* const ctx = detail::current_redirect_context();
  if (ctx == nullptr)
    return XdpAction::aborted;
  return ctx->choose(map, key, flags);
}

}  // namespace xmaps
