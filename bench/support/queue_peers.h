// SPDX-License-Identifier: MIT
//
// Bounded queues and stacks for bench/queue_bench.cc, behind one facade so one benchmark body
// drives them all. Values are u64 (a frame pointer's size, what the redirect engine carries).
//
//   explicit Peer(std::uint32_t capacity);    // holds at most `capacity` values; may throw
//   bool push(std::uint64_t);                 // false: full
//   bool pop(std::uint64_t&);                 // false: empty
//   static constexpr std::string_view kName;  // the <peer> in BM_<Case>/<peer>
//   static std::string describe();            // for the benchmark label
//   static constexpr bool kSpsc;              // only one producer and one consumer allowed
// Optional (the benchmark body checks with `requires`):
//   std::size_t push_bulk(const std::uint64_t*, std::size_t n);  // how many went in
//   std::size_t pop_bulk(std::uint64_t*, std::size_t n);         // how many came out
//   bool push_overwrite(std::uint64_t);   // push, dropping the oldest when full (BPF_EXIST)
//
// Capacities: where a peer needs a power of two (xenium, ck_ring, rte_ring) it gets the next one
// up from `capacity` (ck_ring and rte_ring hold one less than their size, so size = 2x); the
// label says what each one holds.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <boost/lockfree/stack.hpp>

#include "xmaps/errc.h"
#include "xmaps/queue_map.h"
#include "xmaps/stack_map.h"

#if XMAPS_BENCH_HAVE_MOODYCAMEL
#include <concurrentqueue/concurrentqueue.h>
#endif
#if XMAPS_BENCH_HAVE_TBB
#include <tbb/concurrent_queue.h>
#endif
#if XMAPS_BENCH_HAVE_XENIUM
#include <xenium/vyukov_bounded_queue.hpp>
#endif
#if XMAPS_BENCH_HAVE_CK
#include "support/ck_ring_shim.h"
#endif
#if XMAPS_BENCH_HAVE_DPDK
#include "support/dpdk_runtime.h"
// clang-format off
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_stack.h>
// clang-format on
#endif

namespace xmaps_bench {

// ---- xmaps -----------------------------------------------------------------------------------

// xmaps::Queue<u64> (lock-free ticket ring) and xmaps::Stack<u64> (spinlock).
template <class Ring, bool kIsQueue>
class XmapsRingPeer {
 public:
  static constexpr std::string_view kName = kIsQueue ? "xmaps_queue" : "xmaps_stack";
  static constexpr bool kSpsc = false;
  static std::string describe() {
    return kIsQueue ? "xmaps::Queue<u64> (lock-free ticket ring)" : "xmaps::Stack<u64> (spinlock)";
  }
  explicit XmapsRingPeer(std::uint32_t capacity) : ring_(capacity) {}
  bool push(std::uint64_t v) { return ring_.push(v) == xmaps::Errc::ok; }
  bool pop(std::uint64_t& v) { return ring_.pop(v) == xmaps::Errc::ok; }
  bool push_overwrite(std::uint64_t v) {
    return ring_.push(v, xmaps::UpdateFlag::exist) == xmaps::Errc::ok;
  }
  std::size_t push_bulk(const std::uint64_t* v, std::size_t n) { return ring_.push_bulk({v, n}); }
  std::size_t pop_bulk(std::uint64_t* v, std::size_t n) { return ring_.pop_bulk({v, n}); }

 private:
  Ring ring_;
};
using XmapsQueuePeer = XmapsRingPeer<xmaps::Queue<std::uint64_t>, true>;
using XmapsStackPeer = XmapsRingPeer<xmaps::Stack<std::uint64_t>, false>;

// ---- Boost.Lockfree --------------------------------------------------------------------------

// boost::lockfree::queue / stack with a fixed node pool (fixed_sized: bounded_push never
// allocates; at most 65535 nodes), and spsc_queue (a ring for one producer and one consumer).
class BoostQueuePeer {
 public:
  static constexpr std::string_view kName = "boost_queue";
  static constexpr bool kSpsc = false;
  static std::string describe() { return "boost::lockfree::queue<u64, fixed_sized<true>>"; }
  explicit BoostQueuePeer(std::uint32_t capacity) : q_(capacity) {}
  bool push(std::uint64_t v) { return q_.bounded_push(v); }
  bool pop(std::uint64_t& v) { return q_.pop(v); }

 private:
  boost::lockfree::queue<std::uint64_t, boost::lockfree::fixed_sized<true>> q_;
};

class BoostStackPeer {
 public:
  static constexpr std::string_view kName = "boost_stack";
  static constexpr bool kSpsc = false;
  static std::string describe() { return "boost::lockfree::stack<u64, fixed_sized<true>>"; }
  explicit BoostStackPeer(std::uint32_t capacity) : s_(capacity) {}
  bool push(std::uint64_t v) { return s_.bounded_push(v); }
  bool pop(std::uint64_t& v) { return s_.pop(v); }
  // No bulk calls: bounded_push(begin, end) does not compile with fixed_sized<true> in Boost
  // 1.74 (Debian 12), and a loop of single calls would add nothing to the single-call rows.

 private:
  boost::lockfree::stack<std::uint64_t, boost::lockfree::fixed_sized<true>> s_;
};

class BoostSpscPeer {
 public:
  static constexpr std::string_view kName = "boost_spsc";
  static constexpr bool kSpsc = true;
  static std::string describe() {
    return "boost::lockfree::spsc_queue<u64> (1 producer, 1 consumer)";
  }
  explicit BoostSpscPeer(std::uint32_t capacity) : q_(capacity) {}
  bool push(std::uint64_t v) { return q_.push(v); }
  bool pop(std::uint64_t& v) { return q_.pop(v); }
  std::size_t push_bulk(const std::uint64_t* v, std::size_t n) { return q_.push(v, n); }
  std::size_t pop_bulk(std::uint64_t* v, std::size_t n) { return q_.pop(v, n); }

 private:
  boost::lockfree::spsc_queue<std::uint64_t> q_;
};

// ---- moodycamel, TBB, xenium, Concurrency Kit -------------------------------------------------

#if XMAPS_BENCH_HAVE_MOODYCAMEL
// moodycamel::ConcurrentQueue: unbounded by design (blocks per producer). try_enqueue only uses
// blocks already there, and a second producer thread has none of its own, so it would fail for
// ever: push is enqueue(), which allocates a block when a producer's blocks are full and reuses
// freed ones after that (the benchmarks run long enough for that to be the steady state). So it
// is not a bounded queue: push never reports full. Not linearizable across producers either (a
// pop may miss a value another producer pushed earlier: pop_retries).
class MoodycamelPeer {
 public:
  static constexpr std::string_view kName = "moodycamel";
  static constexpr bool kSpsc = false;
  static std::string describe() {
    return "moodycamel::ConcurrentQueue<u64> (unbounded: enqueue, blocks reused)";
  }
  explicit MoodycamelPeer(std::uint32_t capacity) : q_(capacity) {}
  bool push(std::uint64_t v) { return q_.enqueue(v); }
  bool pop(std::uint64_t& v) { return q_.try_dequeue(v); }
  std::size_t push_bulk(const std::uint64_t* v, std::size_t n) {
    return q_.enqueue_bulk(v, n) ? n : 0;
  }
  std::size_t pop_bulk(std::uint64_t* v, std::size_t n) { return q_.try_dequeue_bulk(v, n); }

 private:
  moodycamel::ConcurrentQueue<std::uint64_t> q_;
};
#endif

#if XMAPS_BENCH_HAVE_TBB
class TbbBoundedPeer {
 public:
  static constexpr std::string_view kName = "tbb_bounded";
  static constexpr bool kSpsc = false;
  static std::string describe() { return "tbb::concurrent_bounded_queue<u64> (try_push/try_pop)"; }
  explicit TbbBoundedPeer(std::uint32_t capacity) { q_.set_capacity(capacity); }
  bool push(std::uint64_t v) { return q_.try_push(v); }
  bool pop(std::uint64_t& v) { return q_.try_pop(v); }

 private:
  tbb::concurrent_bounded_queue<std::uint64_t> q_;
};
#endif

#if XMAPS_BENCH_HAVE_XENIUM
class XeniumVyukovPeer {
 public:
  static constexpr std::string_view kName = "xenium_vyukov";
  static constexpr bool kSpsc = false;
  static std::string describe() {
    return "xenium::vyukov_bounded_queue<u64> (size rounded up to a power of two)";
  }
  explicit XeniumVyukovPeer(std::uint32_t capacity)
      : q_(std::bit_ceil(std::max<std::uint32_t>(capacity, 2))) {}
  bool push(std::uint64_t v) { return q_.try_push(v); }
  bool pop(std::uint64_t& v) { return q_.try_pop(v); }

 private:
  xenium::vyukov_bounded_queue<std::uint64_t> q_;
};
#endif

#if XMAPS_BENCH_HAVE_CK
// ck_ring in its MPMC mode (support/ck_ring_shim.c): a ring of pointers (the u64 values travel
// as pointer bits); a ring of size 2^k holds 2^k - 1.
class CkRingPeer {
 public:
  static constexpr std::string_view kName = "ck_ring";
  static constexpr bool kSpsc = false;
  static std::string describe() { return "ck_ring mpmc (void* slots, size 2^k holds 2^k - 1)"; }
  explicit CkRingPeer(std::uint32_t capacity) : r_(xck_ring_new(std::bit_ceil(capacity + 1))) {
    if (r_ == nullptr)
      throw std::bad_alloc();
  }
  ~CkRingPeer() { xck_ring_free(r_); }
  CkRingPeer(const CkRingPeer&) = delete;
  CkRingPeer& operator=(const CkRingPeer&) = delete;
  bool push(std::uint64_t v) { return xck_ring_push(r_, v); }
  bool pop(std::uint64_t& v) { return xck_ring_pop(r_, &v); }

 private:
  xck_ring* r_;
};
#endif

// ---- DPDK --------------------------------------------------------------------------------------

#if XMAPS_BENCH_HAVE_DPDK
inline std::string dpdk_name(const char* prefix) {
  static std::atomic<unsigned> serial{0};
  // Relaxed: only uniqueness of the name matters.
  return prefix + std::to_string(serial.fetch_add(1, std::memory_order_relaxed));
}

// rte_ring, multi-producer multi-consumer (flags 0): a ring of pointers; size 2^k holds 2^k - 1.
class DpdkRingPeer {
 public:
  static constexpr std::string_view kName = "rte_ring";
  static constexpr bool kSpsc = false;
  static std::string describe() { return "DPDK rte_ring MP/MC (void* slots)"; }
  explicit DpdkRingPeer(std::uint32_t capacity) {
    if (!DpdkRuntime::ok())
      throw std::runtime_error(DpdkRuntime::error());
    const std::string name = dpdk_name("xqr");
    r_ = rte_ring_create(name.c_str(), std::bit_ceil(capacity + 1), SOCKET_ID_ANY, 0);
    if (r_ == nullptr)
      throw std::runtime_error(std::string("rte_ring_create: ") + rte_strerror(rte_errno));
  }
  ~DpdkRingPeer() { rte_ring_free(r_); }
  DpdkRingPeer(const DpdkRingPeer&) = delete;
  DpdkRingPeer& operator=(const DpdkRingPeer&) = delete;
  bool push(std::uint64_t v) { return rte_ring_enqueue(r_, reinterpret_cast<void*>(v)) == 0; }
  bool pop(std::uint64_t& v) {
    void* p = nullptr;
    if (rte_ring_dequeue(r_, &p) != 0)
      return false;
    v = reinterpret_cast<std::uint64_t>(p);
    return true;
  }
  // Burst (as many as fit / are there), the closest to xmaps' bulk semantics.
  std::size_t push_bulk(const std::uint64_t* v, std::size_t n) {
    return rte_ring_enqueue_burst(r_, reinterpret_cast<void* const*>(v), static_cast<unsigned>(n),
                                  nullptr);
  }
  std::size_t pop_bulk(std::uint64_t* v, std::size_t n) {
    return rte_ring_dequeue_burst(r_, reinterpret_cast<void**>(v), static_cast<unsigned>(n),
                                  nullptr);
  }

 private:
  rte_ring* r_ = nullptr;
};

// rte_stack, standard (lock-based) flavour.
class DpdkStackPeer {
 public:
  static constexpr std::string_view kName = "rte_stack";
  static constexpr bool kSpsc = false;
  static std::string describe() { return "DPDK rte_stack (standard, spinlock)"; }
  explicit DpdkStackPeer(std::uint32_t capacity) {
    if (!DpdkRuntime::ok())
      throw std::runtime_error(DpdkRuntime::error());
    const std::string name = dpdk_name("xqs");
    s_ = rte_stack_create(name.c_str(), capacity, SOCKET_ID_ANY, 0);
    if (s_ == nullptr)
      throw std::runtime_error(std::string("rte_stack_create: ") + rte_strerror(rte_errno));
  }
  ~DpdkStackPeer() { rte_stack_free(s_); }
  DpdkStackPeer(const DpdkStackPeer&) = delete;
  DpdkStackPeer& operator=(const DpdkStackPeer&) = delete;
  bool push(std::uint64_t v) {
    void* p = reinterpret_cast<void*>(v);
    return rte_stack_push(s_, &p, 1) == 1;
  }
  bool pop(std::uint64_t& v) {
    void* p = nullptr;
    if (rte_stack_pop(s_, &p, 1) != 1)
      return false;
    v = reinterpret_cast<std::uint64_t>(p);
    return true;
  }
  // All or nothing, as rte_stack's API.
  std::size_t push_bulk(const std::uint64_t* v, std::size_t n) {
    return rte_stack_push(s_, reinterpret_cast<void* const*>(v), static_cast<unsigned>(n));
  }
  std::size_t pop_bulk(std::uint64_t* v, std::size_t n) {
    return rte_stack_pop(s_, reinterpret_cast<void**>(v), static_cast<unsigned>(n));
  }

 private:
  rte_stack* s_ = nullptr;
};
#endif

}  // namespace xmaps_bench
