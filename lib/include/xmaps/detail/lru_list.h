// SPDX-License-Identifier: MIT
//
// LruList: the node lists behind LRU_HASH and LRU_PERCPU_HASH, with the kernel's algorithm
// step for step (kernel/bpf/bpf_lru_list.c), so that xmaps evicts exactly the keys the kernel
// evicts for the same sequence of operations and CPUs.
//
// Two flavours, chosen at construction:
//   common (default)   one global list {active, inactive, free} + per CPU a local list
//                      {free, pending}. A CPU takes nodes from its local free list; when that is
//                      empty it refills it with up to target_free nodes from the global list
//                      (flushing its pending list, rotating, shrinking: pop_free_to_local()),
//                      and as a last resort steals from the CPUs' local lists.
//   per-CPU            (BPF_F_NO_COMMON_LRU) one {active, inactive, free} list per CPU; every
//                      node belongs to one CPU for life; a CPU evicts only its own nodes.
//
// Nodes live in one dense array of the Host's (node i belongs to element i); list heads are
// sentinel nodes at indices past the last element (first_sentinel...), so every list operation
// is plain index arithmetic with no special case for the head. The reference bits live in the
// elements (RefBits: a byte after each element's value), where a datapath lookup already is:
// setting the bit costs a lookup no extra cache line, and the list walks (a chase of prev
// links) run over 12-byte nodes packed five to a cache line instead of over whole elements.
//
//   struct LruNode {            // nodes[i], dense
//     u32 prev, next;           // list links: under the lock of the list the node is on
//     u16 cpu;                  // common: the CPU whose pending list took it; per-CPU: owner
//     u8  type;                 // which list (LruType); read without a lock by push_free()
//   };
//   RefBit ref;                 // in element i: set by datapath lookups without any lock
//
// Concurrency
//   Locks: each local list has one, the global list has one, each per-CPU list has one.
//   Lock order: local list -> global list -> bucket lock (Host::lru_evict() takes the bucket
//   lock of the element it deletes). The hash table never takes an LRU lock while it holds a
//   bucket lock: update pops a node before it locks the bucket and frees nodes after unlock.
//   Deliberate race: the reference bit is written by lock-free readers (only when clear, so a
//   hot key does not dirty its line) and read by rotations under the list lock; a lost or late
//   bit only changes which key is evicted, as in the kernel.
//   CPU ids are hints (xmaps/cpu.h): two threads acting as one CPU serialize on that CPU's
//   lock, so the lists stay consistent; only the eviction order then depends on timing.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/freelist.h"  // kNoElem
#include "xmaps/detail/spinlock.h"

namespace xmaps {

// Eviction counters of an LRU map, per CPU (the CPU whose update did the work) or summed.
struct LruStats {
  std::uint64_t evictions = 0;       // entries deleted to make room (every path below)
  std::uint64_t shrinks = 0;         // shrinks of an inactive list (each evicts up to a batch)
  std::uint64_t forced_shrinks = 0;  // shrinks that found nothing unreferenced: evicted 1 anyway
  std::uint64_t steals = 0;          // nodes taken from a CPU's local lists (common LRU only)
};

}  // namespace xmaps

namespace xmaps::detail {

// enum bpf_lru_list_type: the first two are counted, the last two are local lists.
enum LruType : std::uint8_t {
  kLruActive = 0,
  kLruInactive = 1,
  kLruFree = 2,
  kLruLocalFree = 3,
  kLruLocalPending = 4,
};

// The reference bit. An enum rather than a uint8_t on purpose: stores through a character
// type may alias anything, which made the compiler reload the table's base pointer and stride
// after every reference-bit write (callgrind: ~70 instructions per evicting update).
enum class RefBit : std::uint8_t { clear = 0, set = 1 };

struct LruNode {
  std::uint32_t prev;
  std::uint32_t next;
  std::uint16_t cpu;
  LruType type;
  std::uint8_t unused;
};
static_assert(sizeof(LruNode) == 12);

// Where the nodes are: node i at base[i]. Functions copy it into a local first: the
// reference-bit and type accesses are atomics, after which the compiler would otherwise reload
// a member pointer at every node access (callgrind: ~115 instructions per update).
struct LruNodes {
  LruNode* base;
  [[nodiscard]] LruNode& operator[](std::uint32_t i) const noexcept { return base[i]; }
};

// Where the reference bits are: element i's at base + i * stride (elements only, no sentinels).
struct RefBits {
  unsigned char* base;
  std::size_t stride;
  [[nodiscard]] RefBit& operator[](std::uint32_t i) const noexcept {
    return *reinterpret_cast<RefBit*>(base + static_cast<std::size_t>(i) * stride);
  }
};

inline constexpr std::uint32_t kLruLocalFreeTarget = 128;  // LOCAL_FREE_TARGET (common LRU)
inline constexpr std::uint32_t kLruLocalNrScans = 128;     // LOCAL_NR_SCANS
inline constexpr std::uint32_t kLruPercpuFreeTarget = 4;   // PERCPU_FREE_TARGET (NO_COMMON_LRU)
inline constexpr std::uint32_t kLruPercpuNrScans = 4;      // PERCPU_NR_SCANS
// Shrink prefetch distances, in candidates (xmaps only: hints, no effect on what is evicted).
inline constexpr std::uint32_t kElemAhead = 8;
inline constexpr std::uint32_t kBucketAhead = 4;
inline constexpr std::uint32_t kChainAhead = 2;

// Reference-bit and type accessors: these two bytes are shared without a lock.
inline bool lru_is_ref(const RefBit& r) noexcept {
  // Relaxed: the deliberate race in the header comment; the bit orders nothing.
  return std::atomic_ref<RefBit>(const_cast<RefBit&>(r)).load(std::memory_order_relaxed) ==
         RefBit::set;
}
inline void lru_set_ref(RefBit& r) noexcept {
  std::atomic_ref<RefBit> ref(r);
  // Relaxed: as lru_is_ref(). Load first: a referenced hot key is never written again.
  if (ref.load(std::memory_order_relaxed) == RefBit::clear)
    ref.store(RefBit::set, std::memory_order_relaxed);
}
inline void lru_clear_ref(RefBit& r) noexcept {
  // Relaxed: as lru_is_ref().
  std::atomic_ref<RefBit>(r).store(RefBit::clear, std::memory_order_relaxed);
}

// Host: bool lru_evict(std::uint32_t idx);  // del_from_htab: unlink idx if it is linked
//       void lru_prefetch_elem(std::uint32_t idx) const;    // hints: idx's element,
//       void lru_prefetch_bucket(std::uint32_t idx) const;  //   its bucket (element cached)
//       void lru_prefetch_chain(std::uint32_t idx) const;   //   its chain head (bucket cached)
template <class Host>
class LruList {
 public:
  // Sentinels needed past the elements: 3 + 2 per CPU (common) or 3 per CPU (per-CPU).
  static std::uint32_t sentinels(bool percpu, int ncpus) noexcept {
    const auto n = static_cast<std::uint32_t>(ncpus);
    return percpu ? 3 * n : 3 + 2 * n;
  }

  // `nodes`: node i of element i (i < nr_elems) and of the sentinels (first_sentinel...);
  // `refs`: the reference bit of element i (i < nr_elems).
  LruList(Host* host, LruNodes nodes, RefBits refs, bool percpu, int ncpus, std::uint32_t nr_elems,
          std::uint32_t first_sentinel)
      : host_(host),
        nodes_(nodes),
        refs_(refs),
        percpu_(percpu),
        ncpus_(ncpus),
        nr_scans_(percpu ? kLruPercpuNrScans : kLruLocalNrScans),
        stats_(std::make_unique<CacheAligned<Counters>[]>(static_cast<std::size_t>(ncpus))) {
    const auto n = static_cast<std::size_t>(ncpus);
    const LruNodes nd = nodes_;
    std::uint32_t s = first_sentinel;
    if (percpu) {
      lists_ = std::make_unique<CacheAligned<List>[]>(n);
      for (std::size_t c = 0; c < n; ++c)
        init_list(nd, lists_[c].value, s);
    } else {
      lists_ = std::make_unique<CacheAligned<List>[]>(1);
      init_list(nd, lists_[0].value, s);
      locals_ = std::make_unique<CacheAligned<Local>[]>(n);
      for (std::size_t c = 0; c < n; ++c) {
        Local& loc = locals_[c].value;
        loc.free_head = s++;
        loc.pending_head = s++;
        init_head(nd, loc.free_head);
        init_head(nd, loc.pending_head);
        // Relaxed: construction is single-threaded.
        loc.next_steal.store(static_cast<int>(c), std::memory_order_relaxed);
      }
    }
    unsynchronized_populate(nr_elems);
  }

  LruList(const LruList&) = delete;
  LruList& operator=(const LruList&) = delete;
  LruList(LruList&&) = delete;
  LruList& operator=(LruList&&) = delete;

  // Common LRU: nodes moved to a local list per refill (the kernel's value since v6.16).
  [[nodiscard]] std::uint32_t target_free() const noexcept { return target_free_; }

  // bpf_lru_pop_free: a free node for an insert by `cpu`, evicting if needed; kNoElem if no
  // node can be found at all. Caller holds no bucket lock.
  [[nodiscard]] std::uint32_t pop_free(int cpu) noexcept {
    return percpu_ ? percpu_pop_free(cpu) : common_pop_free(cpu);
  }

  // bpf_lru_push_free: node i (unlinked from the table, or popped and never linked) is free.
  // Caller holds no bucket lock.
  void push_free(std::uint32_t i) noexcept {
    const LruNodes nd = nodes_;
    LruNode& n = nd[i];
    if (percpu_) {
      List& l = lists_[n.cpu].value;
      l.lock.lock();
      move_locked(nd, l, i, kLruFree);
      count_in_use(l.in_use, -1);
      l.lock.unlock();
      return;
    }
    // The type is read without a lock (a concurrent refill may flush the pending list) and
    // checked again under the owner's lock. n.cpu is stable: the node is ours.
    if (type(n) == kLruLocalPending) {
      Local& loc = locals_[n.cpu].value;
      loc.lock.lock();
      if (type(n) == kLruLocalPending) {
        set_type(n, kLruLocalFree);
        lru_clear_ref(refs_[i]);
        move_head(nd, i, loc.free_head);
        count_in_use(loc.in_use, -1);
        loc.lock.unlock();
        return;
      }
      loc.lock.unlock();
    }
    List& g = lists_[0].value;
    g.lock.lock();
    move_locked(nd, g, i, kLruFree);
    count_in_use(g.in_use, -1);
    g.lock.unlock();
  }

  // Per-CPU flavour: nodes on `cpu`'s free list, i.e. inserts that CPU can make before its next
  // insert evicts. Exact at the moment of the call.
  [[nodiscard]] std::uint32_t percpu_free_count(int cpu) const noexcept {
    List& l = lists_[static_cast<std::size_t>(cpu)].value;
    l.lock.lock();
    const std::uint32_t n = l.nfree;
    l.lock.unlock();
    return n;
  }

  // Nodes in use: linked in the table, or taken by an update still in flight. Exact when no
  // update or erase runs concurrently. (Each list counts what its own lock handed out and took
  // back, so no counter is shared between CPUs; a CPU's count alone may be negative.)
  [[nodiscard]] std::size_t in_use() const noexcept {
    std::int64_t n = 0;
    const std::size_t lists = percpu_ ? static_cast<std::size_t>(ncpus_) : 1;
    // Relaxed: a snapshot of statistics.
    for (std::size_t c = 0; c < lists; ++c)
      n += lists_[c].value.in_use.load(std::memory_order_relaxed);
    if (!percpu_) {
      for (std::size_t c = 0; c < static_cast<std::size_t>(ncpus_); ++c)
        n += locals_[c].value.in_use.load(std::memory_order_relaxed);
    }
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }

  [[nodiscard]] LruStats stats(int cpu) const noexcept {
    const Counters& c = stats_[static_cast<std::size_t>(cpu)].value;
    LruStats s;
    // Relaxed: statistics; they order nothing.
    s.evictions = c.evictions.load(std::memory_order_relaxed);
    s.shrinks = c.shrinks.load(std::memory_order_relaxed);
    s.forced_shrinks = c.forced_shrinks.load(std::memory_order_relaxed);
    s.steals = c.steals.load(std::memory_order_relaxed);
    return s;
  }

 private:
  // bpf_lru_list: one common list, or one per CPU.
  struct List {
    mutable Spinlock lock;
    std::uint32_t head[3] = {};                // sentinels of active, inactive, free
    std::uint32_t counts[2] = {};              // nodes on active, inactive
    std::uint32_t nfree = 0;                   // nodes on free (xmaps: for percpu_free_count())
    std::uint32_t next_inactive_rotation = 0;  // cursor of rotate_inactive_locked()
    // Nodes this list's lock handed out minus nodes it took back (see in_use()).
    std::atomic<std::int64_t> in_use{0};
  };
  // bpf_lru_locallist (common LRU), one per CPU.
  struct Local {
    Spinlock lock;
    std::uint32_t free_head = 0;
    std::uint32_t pending_head = 0;
    // Where the next steal starts. Written after each steal round without a lock (as the
    // kernel's); relaxed: a round-robin hint, any value is a valid start.
    std::atomic<int> next_steal{0};
    std::atomic<std::int64_t> in_use{0};  // as List::in_use
  };
  struct Counters {
    std::atomic<std::uint64_t> evictions{0};
    std::atomic<std::uint64_t> shrinks{0};
    std::atomic<std::uint64_t> forced_shrinks{0};
    std::atomic<std::uint64_t> steals{0};
  };

  static LruType type(const LruNode& n) noexcept {
    // Relaxed: read without a lock only as a hint (push_free), else under the list's lock.
    return std::atomic_ref<LruType>(const_cast<LruType&>(n.type)).load(std::memory_order_relaxed);
  }
  static void set_type(LruNode& n, LruType t) noexcept {
    // Relaxed: written under the list's lock; unlocked readers re-check under it.
    std::atomic_ref<LruType>(n.type).store(t, std::memory_order_relaxed);
  }
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    // Relaxed: a statistic.
    c.fetch_add(1, std::memory_order_relaxed);
  }

  // ---- intrusive circular lists over node indices (caller holds the list's lock) ----------
  void init_head(const LruNodes nd, std::uint32_t h) noexcept {
    nd[h].prev = h;
    nd[h].next = h;
  }
  void init_list(const LruNodes nd, List& l, std::uint32_t& s) noexcept {
    for (std::uint32_t& h : l.head) {
      h = s++;
      init_head(nd, h);
    }
    l.next_inactive_rotation = l.head[kLruInactive];
  }
  [[nodiscard]] bool empty(const LruNodes nd, std::uint32_t h) const noexcept {
    return nd[h].next == h;
  }
  void unlink(const LruNodes nd, std::uint32_t i) noexcept {
    LruNode& n = nd[i];
    nd[n.prev].next = n.next;
    nd[n.next].prev = n.prev;
  }
  void link_head(const LruNodes nd, std::uint32_t i, std::uint32_t h) noexcept {
    LruNode& n = nd[i];
    const std::uint32_t first = nd[h].next;
    n.next = first;
    n.prev = h;
    nd[first].prev = i;
    nd[h].next = i;
  }
  void move_head(const LruNodes nd, std::uint32_t i, std::uint32_t h) noexcept {
    unlink(nd, i);
    link_head(nd, i, h);
  }

  static void count_inc(List& l, LruType t) noexcept {
    if (t < 2)
      ++l.counts[t];
    else if (t == kLruFree)
      ++l.nfree;
  }
  static void count_dec(List& l, LruType t) noexcept {
    if (t < 2)
      --l.counts[t];
    else if (t == kLruFree)
      --l.nfree;
  }

  // Moves are the kernel's three helpers; each keeps the inactive cursor off the moved node.
  // __bpf_lru_node_move_to_free: off the list onto a (local or global) free list.
  void move_to_free_locked(const LruNodes nd, List& l, std::uint32_t i, std::uint32_t free_head,
                           LruType free_type) noexcept {
    LruNode& n = nd[i];
    if (i == l.next_inactive_rotation)
      l.next_inactive_rotation = n.prev;
    count_dec(l, type(n));
    if (free_type == kLruFree)
      ++l.nfree;  // the kernel counts no free list; xmaps does, for percpu_free_count()
    set_type(n, free_type);
    move_head(nd, i, free_head);
  }
  // __bpf_lru_node_move_in: from a local pending list to the head of active or inactive.
  void move_in_locked(const LruNodes nd, List& l, std::uint32_t i, LruType to) noexcept {
    LruNode& n = nd[i];
    count_inc(l, to);
    set_type(n, to);
    lru_clear_ref(refs_[i]);
    move_head(nd, i, l.head[to]);
  }
  // __bpf_lru_node_move: within the list (active, inactive, free), to the head of `to`.
  void move_locked(const LruNodes nd, List& l, std::uint32_t i, LruType to) noexcept {
    LruNode& n = nd[i];
    if (type(n) != to) {
      count_dec(l, type(n));
      count_inc(l, to);
      set_type(n, to);
    }
    lru_clear_ref(refs_[i]);
    if (i == l.next_inactive_rotation)
      l.next_inactive_rotation = n.prev;
    move_head(nd, i, l.head[to]);
  }

  // Rotates the active list when it outnumbers the inactive one, then the inactive list.
  // Active, from the tail, at most nr_scans nodes and never past the node that was first:
  //   1. referenced -> head of active, bit cleared (one more round);
  //   2. unreferenced -> head of inactive.
  // Inactive, backwards from the saved cursor, at most nr_scans nodes:
  //   1. referenced -> head of active, bit cleared;
  //   2. unreferenced nodes stay where they are, for the next shrink; the cursor is saved.
  void rotate_locked(const LruNodes nd, List& l) noexcept {
    if (l.counts[kLruInactive] < l.counts[kLruActive]) {
      const std::uint32_t head = l.head[kLruActive];
      const std::uint32_t first = nd[head].next;
      std::uint32_t scanned = 0;
      for (std::uint32_t cur = nd[head].prev; cur != head;) {
        const std::uint32_t prev = nd[cur].prev;
        move_locked(nd, l, cur, lru_is_ref(refs_[cur]) ? kLruActive : kLruInactive);
        if (++scanned == nr_scans_ || cur == first)
          break;
        cur = prev;
      }
    }
    const std::uint32_t inactive = l.head[kLruInactive];
    if (empty(nd, inactive))
      return;
    std::uint32_t last = nd[l.next_inactive_rotation].next;
    if (last == inactive)
      last = nd[last].next;
    std::uint32_t cur = l.next_inactive_rotation;
    std::uint32_t next = inactive;
    std::uint32_t scanned = 0;
    while (scanned < nr_scans_) {
      if (cur == inactive) {  // step over the head without counting it
        cur = nd[cur].prev;
        continue;
      }
      next = nd[cur].prev;
      if (lru_is_ref(refs_[cur]))
        move_locked(nd, l, cur, kLruActive);
      if (cur == last)
        break;
      cur = next;
      ++scanned;
    }
    l.next_inactive_rotation = next;
  }

  // Frees up to `want` nodes onto free_head (as free_type); returns how many:
  //   1. inactive shrink: from the tail, at most nr_scans nodes; referenced ones go to active,
  //      unreferenced ones are evicted (if still linked) and freed;
  //   2. only if that freed none, a forced shrink: the first node from the tail of inactive (or
  //      of active, if inactive is empty) that can be evicted, reference bit ignored: exactly 1.
  std::uint32_t shrink_locked(const LruNodes nd, List& l, std::uint32_t want,
                              std::uint32_t free_head, LruType free_type, int cpu) noexcept {
    Counters& st = stats_[static_cast<std::size_t>(cpu)].value;
    bump(st.shrinks);
    const std::uint32_t inactive = l.head[kLruInactive];
    std::uint32_t freed = 0;
    std::uint32_t scanned = 0;
    // Large maps: the tail is cold. A three-stage prefetch overlaps the coming candidates'
    // misses with this node's eviction: the element kElemAhead candidates ahead, the bucket of
    // the one kBucketAhead ahead (whose element an earlier round fetched), the chain head of the
    // one kChainAhead ahead (whose bucket an earlier round fetched). The cursors walk the dense
    // nodes; processing a candidate never changes the prev links of the ones still ahead.
    std::uint32_t pf_elem = nd[inactive].prev;
    std::uint32_t pf_bucket = pf_elem;
    for (std::uint32_t k = 0; k < kElemAhead && pf_elem != inactive; ++k) {
      host_->lru_prefetch_elem(pf_elem);
      pf_elem = nd[pf_elem].prev;
    }
    for (std::uint32_t k = 0; k < kBucketAhead && pf_bucket != inactive; ++k) {
      host_->lru_prefetch_bucket(pf_bucket);
      pf_bucket = nd[pf_bucket].prev;
    }
    std::uint32_t pf_chain = nd[inactive].prev;
    for (std::uint32_t k = 0; k < kChainAhead && pf_chain != inactive; ++k) {
      host_->lru_prefetch_chain(pf_chain);
      pf_chain = nd[pf_chain].prev;
    }
    for (std::uint32_t cur = nd[inactive].prev; cur != inactive;) {
      const std::uint32_t prev = nd[cur].prev;
      if (pf_elem != inactive) {
        host_->lru_prefetch_elem(pf_elem);
        pf_elem = nd[pf_elem].prev;
      }
      if (pf_bucket != inactive) {
        host_->lru_prefetch_bucket(pf_bucket);
        pf_bucket = nd[pf_bucket].prev;
      }
      if (pf_chain != inactive) {
        host_->lru_prefetch_chain(pf_chain);
        pf_chain = nd[pf_chain].prev;
      }
      if (lru_is_ref(refs_[cur])) {
        move_locked(nd, l, cur, kLruActive);
      } else if (host_->lru_evict(cur)) {
        move_to_free_locked(nd, l, cur, free_head, free_type);
        if (++freed == want)
          break;
      }
      if (++scanned == nr_scans_)
        break;
      cur = prev;
    }
    if (freed != 0) {
      count_in_use(l.in_use, -static_cast<std::int64_t>(freed));
      evicted(cpu, freed);  // once per batch: the counter is an atomic read-modify-write
      return freed;
    }
    const std::uint32_t victims = empty(nd, inactive) ? l.head[kLruActive] : inactive;
    for (std::uint32_t cur = nd[victims].prev; cur != victims;) {
      const std::uint32_t prev = nd[cur].prev;
      if (host_->lru_evict(cur)) {
        move_to_free_locked(nd, l, cur, free_head, free_type);
        bump(st.forced_shrinks);
        count_in_use(l.in_use, -1);
        evicted(cpu, 1);
        return 1;
      }
      cur = prev;
    }
    return 0;
  }

  // Counts a node handed out (+1) or taken back (-1: freed or evicted) under the lock that
  // owns `c`. A plain load and store, not a read-modify-write: only that lock's holder writes.
  static void count_in_use(std::atomic<std::int64_t>& c, std::int64_t delta) noexcept {
    // Relaxed: writers are serialized by the lock; readers (in_use()) want a snapshot.
    c.store(c.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }

  void evicted(int cpu, std::uint32_t n) noexcept {
    // Relaxed: a statistic.
    stats_[static_cast<std::size_t>(cpu)].value.evictions.fetch_add(n, std::memory_order_relaxed);
  }

  // ---- common LRU --------------------------------------------------------------------------

  // Caller holds loc.lock. Node i becomes cpu's pending node (an insert in progress).
  void add_pending_locked(const LruNodes nd, Local& loc, int cpu, std::uint32_t i) noexcept {
    LruNode& n = nd[i];
    n.cpu = static_cast<std::uint16_t>(cpu);
    set_type(n, kLruLocalPending);
    lru_clear_ref(refs_[i]);
    link_head(nd, i, loc.pending_head);
    count_in_use(loc.in_use, 1);
  }
  // Caller holds loc.lock.
  std::uint32_t pop_local_free_locked(const LruNodes nd, Local& loc) noexcept {
    const std::uint32_t i = nd[loc.free_head].next;
    if (i == loc.free_head)
      return kNoElem;
    unlink(nd, i);
    return i;
  }
  // Caller holds loc.lock. Evicts from the tail of the pending list: unreferenced nodes first,
  // then any node that can be evicted.
  std::uint32_t pop_local_pending_locked(const LruNodes nd, Local& loc, int cpu) noexcept {
    for (const bool force : {false, true}) {
      for (std::uint32_t cur = nd[loc.pending_head].prev; cur != loc.pending_head;
           cur = nd[cur].prev) {
        if ((force || !lru_is_ref(refs_[cur])) && host_->lru_evict(cur)) {
          count_in_use(loc.in_use, -1);
          evicted(cpu, 1);
          unlink(nd, cur);
          return cur;
        }
      }
    }
    return kNoElem;
  }

  // Caller holds loc.lock. Refills cpu's local free list from the global list:
  //   1. flush the local pending list into the global one (referenced -> active, else inactive);
  //   2. rotate;
  //   3. move up to target_free nodes from the global free list;
  //   4. shrink for the shortfall.
  void pop_free_to_local(const LruNodes nd, Local& loc, int cpu) noexcept {
    List& l = lists_[0].value;
    l.lock.lock();
    for (std::uint32_t cur = nd[loc.pending_head].prev; cur != loc.pending_head;) {
      const std::uint32_t prev = nd[cur].prev;
      move_in_locked(nd, l, cur, lru_is_ref(refs_[cur]) ? kLruActive : kLruInactive);
      cur = prev;
    }
    rotate_locked(nd, l);
    const std::uint32_t free = l.head[kLruFree];
    std::uint32_t got = 0;
    for (std::uint32_t cur = nd[free].next; cur != free && got < target_free_;) {
      const std::uint32_t next = nd[cur].next;
      move_to_free_locked(nd, l, cur, loc.free_head, kLruLocalFree);
      ++got;
      cur = next;
    }
    if (got < target_free_)
      shrink_locked(nd, l, target_free_ - got, loc.free_head, kLruLocalFree, cpu);
    l.lock.unlock();
  }

  // bpf_common_lru_pop_free:
  //   1. own local free list, refilled from the global list if empty;
  //   2. else steal round-robin from every CPU's local lists, starting at next_steal: its free
  //      list, else an eviction from its pending list.
  // The node found goes on the caller's pending list.
  std::uint32_t common_pop_free(int cpu) noexcept {
    const LruNodes nd = nodes_;
    Local& loc = locals_[static_cast<std::size_t>(cpu)].value;
    loc.lock.lock();
    std::uint32_t i = pop_local_free_locked(nd, loc);
    if (i == kNoElem) {
      pop_free_to_local(nd, loc, cpu);
      i = pop_local_free_locked(nd, loc);
    }
    if (i != kNoElem)
      add_pending_locked(nd, loc, cpu, i);
    loc.lock.unlock();
    if (i != kNoElem)
      return i;

    // Relaxed: see Local::next_steal.
    const int first = loc.next_steal.load(std::memory_order_relaxed);
    int steal = first;
    do {
      Local& victim = locals_[static_cast<std::size_t>(steal)].value;
      victim.lock.lock();
      i = pop_local_free_locked(nd, victim);
      if (i == kNoElem)
        i = pop_local_pending_locked(nd, victim, cpu);
      victim.lock.unlock();
      steal = steal + 1 == ncpus_ ? 0 : steal + 1;
    } while (i == kNoElem && steal != first);
    loc.next_steal.store(steal, std::memory_order_relaxed);
    if (i != kNoElem) {
      bump(stats_[static_cast<std::size_t>(cpu)].value.steals);
      loc.lock.lock();
      add_pending_locked(nd, loc, cpu, i);
      loc.lock.unlock();
    }
    return i;
  }

  // ---- per-CPU LRU -------------------------------------------------------------------------

  // bpf_percpu_lru_pop_free: rotate cpu's list; if its free list is empty shrink it by up to
  // PERCPU_FREE_TARGET; the first free node goes to the head of inactive.
  std::uint32_t percpu_pop_free(int cpu) noexcept {
    const LruNodes nd = nodes_;
    List& l = lists_[static_cast<std::size_t>(cpu)].value;
    l.lock.lock();
    rotate_locked(nd, l);
    const std::uint32_t free = l.head[kLruFree];
    if (empty(nd, free))
      shrink_locked(nd, l, kLruPercpuFreeTarget, free, kLruFree, cpu);
    std::uint32_t i = kNoElem;
    if (!empty(nd, free)) {
      i = nd[free].next;
      lru_clear_ref(refs_[i]);
      move_locked(nd, l, i, kLruInactive);
      count_in_use(l.in_use, 1);
    }
    l.lock.unlock();
    return i;
  }

  // Single-threaded: every node onto the free list(s), as bpf_common_lru_populate /
  // bpf_percpu_lru_populate (list_add: the last node added is popped first).
  void unsynchronized_populate(std::uint32_t nr) noexcept {
    const LruNodes nd = nodes_;
    if (!percpu_) {
      List& l = lists_[0].value;
      for (std::uint32_t i = 0; i < nr; ++i) {
        LruNode& n = nd[i];
        n.cpu = 0;
        set_type(n, kLruFree);
        lru_clear_ref(refs_[i]);
        link_head(nd, i, l.head[kLruFree]);
      }
      l.nfree = nr;
      target_free_ = std::clamp<std::uint32_t>((nr / static_cast<std::uint32_t>(ncpus_)) / 2, 1,
                                               kLruLocalFreeTarget);
      return;
    }
    // NO_COMMON_LRU: nr is a multiple of the CPU count; CPU 0 gets the first share, and so on.
    const std::uint32_t share = nr / static_cast<std::uint32_t>(ncpus_);
    std::uint32_t i = 0;
    for (int cpu = 0; cpu < ncpus_ && i < nr; ++cpu) {
      List& l = lists_[static_cast<std::size_t>(cpu)].value;
      do {
        LruNode& n = nd[i];
        n.cpu = static_cast<std::uint16_t>(cpu);
        set_type(n, kLruFree);
        lru_clear_ref(refs_[i]);
        link_head(nd, i, l.head[kLruFree]);
        ++l.nfree;
        ++i;
      } while (i < nr && i % share != 0);
    }
  }

  Host* host_;
  LruNodes nodes_;
  RefBits refs_;
  bool percpu_;
  int ncpus_;
  std::uint32_t nr_scans_;
  std::uint32_t target_free_ = kLruPercpuFreeTarget;
  std::unique_ptr<CacheAligned<List>[]> lists_;    // [0] common, or one per CPU
  std::unique_ptr<CacheAligned<Local>[]> locals_;  // common LRU: one per CPU
  std::unique_ptr<CacheAligned<Counters>[]> stats_;
};

}  // namespace xmaps::detail
