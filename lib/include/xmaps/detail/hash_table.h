// SPDX-License-Identifier: MIT
//
// HashTable: the one engine behind HASH and PERCPU_HASH (preallocated or NO_PREALLOC), for both
// the typed maps (compile-time key/value sizes: the KS/VS template arguments) and the
// byte-level Map (runtime sizes: KS = VS = 0). Mirrors kernel/bpf/hashtab.c.
//
// Layout
//   buckets_   n_buckets = roundup_pow_of_two(max_entries) buckets of one 64-bit word:
//                bits 0-31  head (element index or nulls marker)
//                bit  32    lock
//                bit  33    single: the chain has exactly one element
//                bits 34-47 tag: 14 bits of the head element's hash
//                bits 48-63 version, bumped by every unlock that changed the chain
//              so most misses are decided from the bucket alone: an empty bucket, or a
//              one-element chain whose tag differs, cannot hold the key.
//   elements_  one Region of element slots, `stride_` bytes each:
//                struct Elem {
//                  atomic<u32> next;       // chain link: element index, or the nulls marker
//                  atomic<u32> seq;        // bit 0 odd while written (words.h), bit 31 dead
//                  atomic<u32> hash;       // htab_hash(key)
//                  u32 free_next;          // free-list link (free-list lock only)
//                  u64 key[round_up(key_size, 8) / 8];       // zero-padded
//                  u64 value[round_up(value_size, 8) / 8];   // absent for per-CPU maps
//                };
//   pcpu_      per-CPU maps: one Region holding every CPU's value slots, CPU-major
//              (slot(idx, cpu) = pcpu_ + (cpu * capacity_ + idx) * vslot_), so each CPU's
//              values are contiguous and CPUs do not false-share.
//   Overhead per element beyond round_up(key) + round_up(value): 16 bytes of header plus
//   8 * n_buckets / max_entries (8 to 16) bytes of bucket: 24 to 32 bytes.
//
// Chains are the kernel's hlist_nulls: a chain ends in a marker that names its bucket
// (kNullsBit | bucket). Preallocated elements are recycled at once, so a lock-free reader can
// be walking an element that is deleted and re-linked into another chain; it then ends on
// another bucket's marker and restarts. The element's seq tells a reader that the element it
// matched was rewritten under it (then it retries), so a copy-out never returns a torn value.
// A reader accepts a miss only if the bucket word was unlocked and unchanged across its walk:
// otherwise a key being replaced (new element linked at the head, old one unlinked behind a
// reader already past the head) could be reported absent although it never was. (The kernel
// has that window; xmaps closes it, so lookups of a present key always find it.)
//
// Concurrency
//   lookups (find, copy, get_next_key): no lock, no shared write; they may retry while a
//     writer rewrites the element they are reading (bounded by writers' progress).
//   update / erase / lookup_and_erase / batch: the bucket's lock. Different buckets do not
//     contend. No global lock: free elements come from PerCpuFreelist (one lock per CPU).
//   update of a present key heading its chain (preallocated HASH): the element's seq by CAS,
//     no bucket lock (replace_head_lockfree()).
//   Lock order: bucket lock -> free-list lock. Frees of preallocated elements happen after the
//     bucket lock is dropped, as in hashtab.c.
//   A thread that re-enters a bucket lock it holds gets Errc::busy (the kernel's -EBUSY).
//
// Replace (an existing key) writes the value in place under the element's seqlock, so copies
// see the old or the new value, never a mix, and replacing a key in a full map cannot fail.
// Preallocated HASH replaces a key that heads its chain without the bucket lock: it takes the
// element's seq by CAS from the value it matched the key under (replace_head_lockfree()), so
// two updates of different keys in one bucket, or one key from two CPUs, share no lock word;
// every other writer of a linked element then takes the seq by CAS too (own_linked()), and a
// delete leaves the seq marked dead (kSeqDead) until the element is reused.
// For HASH the element then moves to the head of its chain (if it is not there already), since
// the kernel links a fresh element at the head: iteration order stays the kernel's. (The kernel
// keeps a spare element per CPU for that fresh element; writing in place needs none and
// writes only the bucket and the element.) Per-CPU maps stay where they are, as the kernel's.
//
// LRU_HASH / LRU_PERCPU_HASH: an LruList (lru_list.h) replaces the free list; each element
// carries its reference bit after its value (8 more bytes), and its LruNode (12 bytes) is in a
// dense array of its own (lru_nodes_) that also holds the lists' head sentinels. update() pops a
// node before it locks the bucket (lock order: LRU -> bucket, because evicting takes the victim's
// bucket lock); lru_evict() is the kernel's del_from_htab. Datapath lookups call mark_referenced().
//
// NO_PREALLOC: elements are taken from a lazily committed Region (memory grows with use), the
// element count is checked against max_entries, and a freed element is recycled only after an
// RCU grace period (xmaps/rcu.h), so readers never see it reused.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <type_traits>

#include "xmaps/cpu.h"
#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/freelist.h"
#include "xmaps/detail/jhash.h"
#include "xmaps/detail/lru_list.h"
#include "xmaps/detail/region.h"
#include "xmaps/detail/spinlock.h"
#include "xmaps/detail/words.h"
#include "xmaps/errc.h"
#include "xmaps/rcu.h"

namespace xmaps::detail {

inline constexpr std::uint32_t kNullsBit = 1U << 31;

// Plain integers (implicit-lifetime, so they may live in mmapped memory) accessed through
// std::atomic_ref where threads share them.
struct ElemHeader {
  std::uint32_t next;       // written under the bucket lock; read by lock-free walkers
  std::uint32_t seq;        // written by the element's single writer; read by readers
  std::uint32_t hash;       // written with seq odd; read by walkers
  std::uint32_t free_next;  // free-list link: only under the free-list lock

  [[nodiscard]] std::atomic_ref<std::uint32_t> next_ref() const noexcept {
    return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(next));
  }
  [[nodiscard]] std::atomic_ref<std::uint32_t> seq_ref() const noexcept {
    return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(seq));
  }
  [[nodiscard]] std::atomic_ref<std::uint32_t> hash_ref() const noexcept {
    return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(hash));
  }
};
static_assert(sizeof(ElemHeader) == 16);
static_assert(std::is_trivially_default_constructible_v<ElemHeader> &&
              std::is_trivially_destructible_v<ElemHeader>);  // may live in a Region uncreated

// The thread's held bucket lock, for the re-entry check (a thread holds at most one at a time).
inline const void*& held_bucket() noexcept {
  thread_local const void* held = nullptr;
  return held;
}

// A chain head, its lock and its version in one word, so that a reader can tell with one load
// whether a writer changed (or is changing) the chain since it started walking.
class Bucket {
 public:
  static constexpr std::uint64_t kHeadMask = 0xffffffffULL;
  static constexpr std::uint64_t kLockBit = 1ULL << 32;
  static constexpr std::uint64_t kSingleBit = 1ULL << 33;
  static constexpr unsigned kTagShift = 34;
  static constexpr std::uint64_t kTagMask = 0x3fffULL << kTagShift;
  static constexpr std::uint64_t kVersionUnit = 1ULL << 48;

  static std::uint32_t head_of(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>(w & kHeadMask);
  }
  static bool locked(std::uint64_t w) noexcept { return (w & kLockBit) != 0; }
  // The tag bits a hash contributes (above the bits a bucket index uses in most tables).
  static std::uint64_t tag_bits(std::uint32_t hash) noexcept {
    return (static_cast<std::uint64_t>(hash >> 18) << kTagShift) & kTagMask;
  }
  // True if a word proves the chain lacks a key with this hash: unlocked, and empty or one
  // element with another tag. (A locked word may show a chain halfway through a move.)
  // Branch-free on purpose: whether a bucket is single is random per key, and a branch on it
  // mispredicts on hits (bench: 1K lookup hit 9.7 -> 14.6 ns with `&&` here).
  static bool proves_absent(std::uint64_t w, std::uint32_t hash) noexcept {
    const std::uint64_t unlocked = ~(w >> 32) & 1U;
    const std::uint64_t empty = (w >> 31) & 1U;  // head is a nulls marker
    const std::uint64_t single = (w >> 33) & 1U;
    const std::uint64_t differ = ((w ^ tag_bits(hash)) & kTagMask) != 0 ? 1U : 0U;
    return (unlocked & (empty | (single & differ))) != 0;
  }

  // True if the word's head element has a hash with another tag than `hash` (so the key, if
  // present, is further down the chain). Meaningful only for a non-empty chain.
  static bool head_tag_differs(std::uint64_t w, std::uint32_t hash) noexcept {
    return ((w ^ tag_bits(hash)) & kTagMask) != 0;
  }

  // Single-threaded construction.
  void init(std::uint32_t nulls) noexcept { ref().store(nulls, std::memory_order_relaxed); }

  // A1: pairs with R1 (set_chain_locked) and R7 (unlock): the chain and elements it names are
  // visible.
  [[nodiscard]] std::uint64_t snapshot() const noexcept {
    return ref().load(std::memory_order_acquire);
  }
  // Relaxed: the word for a hint (prefetching; nothing is read through it unordered), for the
  // lock holder (only it changes the word), or for a quiescent table's self-check.
  [[nodiscard, gnu::always_inline]] inline std::uint64_t word_relaxed() const noexcept {
    return ref().load(std::memory_order_relaxed);
  }

  // Takes the lock; false (nothing taken) if the calling thread holds it already. The
  // uncontended path is inline; waiting is out of line.
  [[nodiscard, gnu::always_inline]] inline bool lock() noexcept {
    if (held_bucket() == this)
      return false;
    // Acquire: A7, pairs with R7 in unlock(): the previous holder's writes are visible. One
    // RMW takes the line exclusive at once (a load first would fetch it shared, then upgrade).
    if (locked(ref().fetch_or(kLockBit, std::memory_order_acquire))) [[unlikely]]
      lock_contended();
    held_bucket() = this;
    return true;
  }

  // Drops the lock; `changed` bumps the version so that concurrent misses re-walk.
  [[gnu::always_inline]] inline void unlock(bool changed) noexcept {
    held_bucket() = nullptr;
    // Relaxed: only the lock holder changes the word (a waiter's fetch_or on a locked word
    // rewrites the same value).
    const std::uint64_t w = ref().load(std::memory_order_relaxed);
    // R7: pairs with A7 in lock() and A1 in snapshot().
    ref().store(((changed ? w + kVersionUnit : w) & ~kLockBit), std::memory_order_release);
  }

  // Caller holds the lock: the head cannot change under it.
  [[nodiscard, gnu::always_inline]] inline std::uint32_t head_locked() const noexcept {
    return head_of(ref().load(std::memory_order_relaxed));
  }
  // Caller holds the lock. The head, or the nulls marker if the word alone shows that the chain
  // lacks `hash` (empty, or one element with another tag): then no element need be read.
  [[nodiscard, gnu::always_inline]] inline std::uint32_t head_for_locked(
      std::uint32_t hash) const noexcept {
    // Relaxed: only the lock holder changes the word (a waiter's fetch_or on a locked word
    // rewrites the same value).
    const std::uint64_t w = ref().load(std::memory_order_relaxed);
    if ((w & kSingleBit) != 0 && ((w ^ tag_bits(hash)) & kTagMask) != 0)
      return kNullsBit;  // a marker (of no particular bucket): the walk ends at once
    return head_of(w);
  }
  // Caller holds the lock. Sets the head and what the word says about the chain.
  [[gnu::always_inline]] inline void set_chain_locked(std::uint32_t head, bool single,
                                                      std::uint32_t head_hash) noexcept {
    const std::uint64_t w = ref().load(std::memory_order_relaxed);
    std::uint64_t next = (w & ~(kHeadMask | kSingleBit | kTagMask)) | head;
    if ((head & kNullsBit) == 0)
      next |= (single ? kSingleBit : 0) | tag_bits(head_hash);
    // R1: pairs with A1 in snapshot(); publishes a new head element's contents.
    ref().store(next, std::memory_order_release);
  }

 private:
  [[nodiscard]] std::atomic_ref<std::uint64_t> ref() const noexcept {
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(word_));
  }
  // lock() found the word locked: spin with backoff until a fetch_or finds it unlocked.
  [[gnu::noinline]] void lock_contended() noexcept {
    Backoff backoff;
    for (;;) {
      backoff.pause();
      // Relaxed: waits without writing; the fetch_or orders.
      if (locked(ref().load(std::memory_order_relaxed)))
        continue;
      // Acquire: A7 (see lock()).
      if (!locked(ref().fetch_or(kLockBit, std::memory_order_acquire)))
        return;
    }
  }
  // Written under the lock bit (and by the CAS that sets it); read by lock-free walkers. A plain
  // integer behind atomic_ref, so buckets can live in a (huge-page) Region.
  std::uint64_t word_;
};
static_assert(sizeof(Bucket) == 8);
static_assert(std::is_trivially_default_constructible_v<Bucket> &&
              std::is_trivially_destructible_v<Bucket>);

struct HashConfig {
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  bool percpu = false;
  bool prealloc = true;
  bool zero_seed = false;
  bool lru = false;               // LRU_HASH / LRU_PERCPU_HASH: evict instead of failing when full
  bool lru_percpu_lists = false;  // BPF_F_NO_COMMON_LRU: one LRU list per CPU
};

// max_entries as hashtab.c sets it: NO_COMMON_LRU rounds it up to a multiple of the CPU count
// (down, if rounding up would overflow), so every CPU's list gets the same share.
inline std::uint32_t effective_max_entries(std::uint32_t max_entries, bool lru_percpu_lists,
                                           int ncpus) noexcept {
  if (!lru_percpu_lists || ncpus <= 0)
    return max_entries;
  const auto n = static_cast<std::uint64_t>(ncpus);
  const std::uint64_t up = (max_entries + n - 1) / n * n;
  if (up <= 0xffffffffULL)
    return static_cast<std::uint32_t>(up);
  return static_cast<std::uint32_t>(max_entries / n * n);
}

// Which side performs an update or a lookup of a per-CPU map: a program on current_cpu()
// (one slot, value_size bytes) or user space (every CPU's slot, round_up(value_size, 8) each).
enum class Side { program, user };

inline std::uint32_t roundup_pow_of_two(std::uint32_t n) noexcept {
  std::uint32_t p = 1;
  while (p < n)
    p <<= 1;
  return p;
}

class HashTable {
 public:
  // Throws std::invalid_argument for a config the kernel would reject, std::bad_alloc.
  explicit HashTable(const HashConfig& cfg)
      : cfg_(cfg),
        ncpus_(possible_cpus()),
        kslot_(round_up(cfg.key_size, 8)),
        vslot_(round_up(cfg.value_size, 8)),
        lru_off_(sizeof(ElemHeader) + kslot_ + (cfg.percpu ? 0 : vslot_)),
        stride_(lru_off_ + (cfg.lru ? sizeof(std::uint64_t) : 0)),  // LRU: the reference bit
        freelist_(possible_cpus(), Link{this}) {
    if (cfg.key_size == 0 || cfg.value_size == 0 || cfg.max_entries == 0) {
      throw std::invalid_argument(
          "xmaps: hash map key_size, value_size and max_entries must be > 0");
    }
    if (cfg.lru && !cfg.prealloc)
      throw std::invalid_argument("xmaps: LRU hash maps are preallocated only (no kNoPrealloc)");
    if (cfg.lru_percpu_lists && !cfg.lru)
      throw std::invalid_argument("xmaps: kNoCommonLru applies to LRU hash maps only");
    cfg_.max_entries = effective_max_entries(cfg.max_entries, cfg.lru_percpu_lists, ncpus_);
    if (cfg_.max_entries > (1U << 31) - 1U) {
      throw std::invalid_argument("xmaps: hash map max_entries too large");
    }
    n_buckets_ = roundup_pow_of_two(cfg_.max_entries);
    bucket_mask_ = n_buckets_ - 1;
    seed_ = cfg.zero_seed ? 0 : std::random_device{}();
    inplace_lockfree_ = cfg.prealloc && !cfg.percpu && !cfg.lru;
    // NO_PREALLOC reserves (address space for) twice the entries plus kGraceSlack, so that
    // elements waiting out a grace period rarely leave a new insert without a slot (see
    // alloc_fresh()); small maps under churn would otherwise wait for grace periods often.
    constexpr std::uint64_t kGraceSlack = 1024;
    capacity_ = cfg.prealloc ? cfg_.max_entries
                             : static_cast<std::uint32_t>(std::min<std::uint64_t>(
                                   2ULL * cfg_.max_entries + kGraceSlack, (1ULL << 31) - 1));
    bucket_region_ = Region(static_cast<std::size_t>(n_buckets_) * sizeof(Bucket), /*commit=*/true);
    buckets_ = reinterpret_cast<Bucket*>(bucket_region_.data());
    for (std::uint32_t b = 0; b < n_buckets_; ++b) {
      // Relaxed: construction is single-threaded; publication of the table orders it.
      buckets_[b].init(kNullsBit | b);
    }
    elements_ = Region(static_cast<std::size_t>(capacity_) * stride_, cfg.prealloc);
    const std::size_t table_bytes = static_cast<std::size_t>(n_buckets_) * sizeof(Bucket) +
                                    static_cast<std::size_t>(capacity_) * stride_;
    many_mode_ = table_bytes <= kCachedTableBytes ? ManyMode::cached
                 : table_bytes <= kLlcTableBytes  ? ManyMode::head
                                                  : ManyMode::chain;
    if (cfg.lru) {
      // The dense LRU nodes: one per element, then the lists' head sentinels (lru_list.h).
      const std::uint32_t sentinels = LruList<HashTable>::sentinels(cfg.lru_percpu_lists, ncpus_);
      lru_nodes_ = Region((static_cast<std::size_t>(capacity_) + sentinels) * sizeof(LruNode),
                          /*commit=*/true);
    }
    if (cfg.percpu) {
      pcpu_ =
          Region(static_cast<std::size_t>(capacity_) * vslot_ * static_cast<std::size_t>(ncpus_),
                 cfg.prealloc);
    }
    if (cfg.prealloc) {
      if (cfg.lru) {
        lru_ = std::make_unique<LruList<HashTable>>(
            this, LruNodes{reinterpret_cast<LruNode*>(lru_nodes_.data())},
            RefBits{elements_.data() + lru_off_, stride_}, cfg.lru_percpu_lists, ncpus_,
            cfg_.max_entries, capacity_);
      } else {
        freelist_.unsynchronized_populate(0, cfg_.max_entries);
      }
    }
  }

  ~HashTable() {
    // Deferred frees of a NO_PREALLOC map point at this table: wait for all of them. The
    // pending count makes the wait visible to ThreadSanitizer (liburcu is not instrumented).
    if (!cfg_.prealloc) {
      rcu_flush();
      Backoff backoff;
      // A6: pairs with R6 in retire()'s callback; its free-list writes happen before teardown.
      while (pending_.load(std::memory_order_acquire) != 0)
        backoff.pause();
    }
  }

  HashTable(const HashTable&) = delete;
  HashTable& operator=(const HashTable&) = delete;
  HashTable(HashTable&&) = delete;
  HashTable& operator=(HashTable&&) = delete;

  [[nodiscard]] const HashConfig& config() const noexcept { return cfg_; }
  [[nodiscard]] std::uint32_t n_buckets() const noexcept { return n_buckets_; }
  [[nodiscard]] int ncpus() const noexcept { return ncpus_; }
  // Bytes of a user-side value buffer.
  [[nodiscard]] std::size_t user_value_size() const noexcept {
    return cfg_.percpu ? vslot_ * static_cast<std::size_t>(ncpus_) : cfg_.value_size;
  }
  // Elements linked in buckets now. Racy under concurrent updates: a snapshot, exact when quiet.
  [[nodiscard]] std::size_t approx_size() const noexcept {
    if (lru_ != nullptr)
      return lru_->in_use();
    if (cfg_.prealloc) {
      // Every element is either on the free lists or taken (linked, or for a moment on its way
      // in or out), so this is exact when quiet. Counting on the free lists, under their locks,
      // costs the update path no atomic read-modify-write of its own.
      const std::uint64_t free = freelist_.approx_free();
      return free >= capacity_ ? 0 : static_cast<std::size_t>(capacity_ - free);
    }
    // Relaxed: a statistic; no data is read through it.
    const std::int64_t n = count_.load(std::memory_order_relaxed);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }

  // Length of the longest bucket chain. Single-threaded use only (walks without locks).
  [[nodiscard]] std::uint32_t unsynchronized_longest_chain() const noexcept {
    std::uint32_t longest = 0;
    for (std::uint32_t b = 0; b < n_buckets_; ++b) {
      std::uint32_t n = 0;
      for (std::uint32_t i = buckets_[b].head_locked(); (i & kNullsBit) == 0; i = next_locked(i))
        ++n;
      longest = std::max(longest, n);
    }
    return longest;
  }

  // Buckets whose word disagrees with their chain: locked, a chain that does not end on the
  // bucket's own marker, an element whose stored hash is not its key's or that belongs to
  // another bucket, or a summary (single bit, tag) that is not the chain's. 0 in a quiescent,
  // healthy table. Single-threaded use only (walks without locks); for tests.
  [[nodiscard]] std::uint32_t unsynchronized_bad_buckets() const noexcept {
    std::uint32_t bad = 0;
    for (std::uint32_t b = 0; b < n_buckets_; ++b) {
      const std::uint64_t w = buckets_[b].word_relaxed();
      std::uint32_t n = 0;
      std::uint32_t head_hash = 0;
      bool ok = !Bucket::locked(w);
      std::uint32_t i = Bucket::head_of(w);
      for (; (i & kNullsBit) == 0 && n <= capacity_; i = next_locked(i)) {
        // Relaxed: single-threaded.
        const std::uint32_t h = header(i).hash_ref().load(std::memory_order_relaxed);
        ok = ok && h == htab_hash<0>(key_words(i), cfg_.key_size, seed_) && (h & bucket_mask_) == b;
        if (n == 0)
          head_hash = h;
        ++n;
      }
      const std::uint64_t summary = w & (Bucket::kSingleBit | Bucket::kTagMask);
      const std::uint64_t expected =
          n == 0 ? 0 : (n == 1 ? Bucket::kSingleBit : 0) | Bucket::tag_bits(head_hash);
      ok = ok && i == (kNullsBit | b) && summary == expected;
      bad += ok ? 0 : 1;
    }
    return bad;
  }

  template <std::size_t KS = 0>
  [[nodiscard]] std::uint32_t hash_of(const void* key) const noexcept {
    return htab_hash<KS>(key, cfg_.key_size, seed_);
  }

  // ---- lock-free lookups -------------------------------------------------------------------

  // Finds the element holding `key`; returns its index and the seq it had when it matched,
  // or kNoElem. NO_PREALLOC callers hold an RCU read section. The first walk is inlined into
  // the caller; anything that needs a retry (a writer in the way) goes out of line.
  // (No proves_absent() pre-check here: measured, it costs hits more than it saves misses;
  // bench/RESULTS.md, "Engine variants".)
  template <std::size_t KS = 0>
  [[nodiscard, gnu::always_inline]] inline std::uint32_t find(
      const void* key, std::uint32_t hash, std::uint32_t* seq_out = nullptr) const noexcept {
    const std::uint32_t b = hash & bucket_mask_;
    const std::uint64_t w = buckets_[b].snapshot();  // A1
    const std::uint32_t found = walk<KS>(b, w, key, hash, seq_out);
    if (found != kRetry) [[likely]]
      return found;
    return find_slow<KS>(key, hash, seq_out);
  }

  // Copies the value of `key` (user side: every CPU's slot for per-CPU maps; program side:
  // the current CPU's value_size bytes). Never torn.
  // `stride` (user side of per-CPU maps): bytes per CPU in `out`; 0 = the kernel's
  // round_up(value_size, 8). A smaller stride (a typed V) copies that many bytes per CPU.
  template <std::size_t KS = 0, std::size_t VS = 0>
  // `found` (optional) receives the index of the element copied.
  [[nodiscard]] Errc copy_value(const void* key, void* out, Side side, std::size_t stride = 0,
                                std::uint32_t* found = nullptr) const noexcept {
    const std::uint32_t hash = hash_of<KS>(key);
    for (;;) {
      std::uint32_t s1 = 0;
      const std::uint32_t i = find<KS>(key, hash, &s1);
      if (i == kNoElem)
        return Errc::not_found;
      read_value<VS>(i, out, side, stride);
      // Relaxed: ordered after read_value's acquire loads (words.h).
      if (header(i).seq_ref().load(std::memory_order_relaxed) == s1) {
        if (found != nullptr)
          *found = i;
        return Errc::ok;
      }
    }
  }

  // Looks up n keys (packed at `key_stride` bytes) and writes each element index (or kNoElem)
  // to out[]. How depends on the table's size (many_mode_, set at construction):
  //   cached  (the table fits in a core's L2): key by key; prefetching would only cost;
  //   head    (it fits in a last-level cache): a three-stage software pipeline keeps several
  //           keys' cache misses in flight: key j is hashed and its bucket prefetched; key
  //           j - kDist reads its (now cached) bucket word and prefetches the chain's head
  //           element (both lines where it straddles two); key j - 2kDist is resolved by
  //           find(), whose loads now mostly hit the cache;
  //   chain   (larger): one more stage before find(): if the word's tag shows that the head
  //           holds another hash, the second element (the head's link, now cached) is
  //           prefetched too. About a third of the hits in a full table are not at the head;
  //           from DRAM each would be a serial miss inside find().
  // Each mode measured at each size (hash_map_bench LookupManyHit, u32, ns per key, stage distance
  // 8, medians of 4; bench/RESULTS.md "Engine variants"): 1K cached 13.5, head 15.4, chain 20.0;
  // 64K cached 23.8, head 19.0, chain 21.5; 1M cached 139, head 71, chain 53.4.
  template <std::size_t KS = 0>
  void find_many(const unsigned char* keys, std::size_t key_stride, std::size_t n,
                 std::uint32_t* out) const noexcept {
    switch (many_mode_) {
      case ManyMode::cached:
        for (std::size_t k = 0; k < n; ++k)
          out[k] = find<KS>(keys + k * key_stride, hash_of<KS>(keys + k * key_stride));
        return;
      case ManyMode::head: find_many_pipelined<KS, false>(keys, key_stride, n, out); return;
      case ManyMode::chain: find_many_pipelined<KS, true>(keys, key_stride, n, out); return;
    }
  }

  // Pointer to the value slot of element i for `cpu` (per-CPU maps) or its value.
  [[nodiscard]] void* value_ptr(std::uint32_t i, int cpu) const noexcept {
    if (cfg_.percpu) {
      return pcpu_.data() + (static_cast<std::size_t>(cpu) * capacity_ + i) * vslot_;
    }
    return elem(i) + sizeof(ElemHeader) + kslot_;
  }

  // BPF_MAP_GET_NEXT_KEY. NO_PREALLOC callers hold an RCU read section.
  template <std::size_t KS = 0>
  Errc get_next_key(const void* key, void* next_key) const noexcept {
    std::uint32_t start = 0;
    if (key != nullptr) {
      const std::uint32_t hash = hash_of<KS>(key);
      for (;;) {
        std::uint32_t s1 = 0;
        const std::uint32_t i = find<KS>(key, hash, &s1);
        if (i == kNoElem)
          break;  // a missing key restarts from the first bucket
        // Acquire: A1' (see find()).
        const std::uint32_t nx = header(i).next_ref().load(std::memory_order_acquire);
        // Relaxed: ordered after the acquire above; the link must belong to the matched element.
        if (header(i).seq_ref().load(std::memory_order_relaxed) != s1)
          continue;
        if ((nx & kNullsBit) == 0) {
          if (copy_key<KS>(nx, next_key))
            return Errc::ok;
          continue;  // the next element was recycled while we read it: look again
        }
        start = (hash & bucket_mask_) + 1;
        break;
      }
    }
    for (std::uint32_t b = start; b < n_buckets_; ++b) {
      for (;;) {
        const std::uint32_t i = Bucket::head_of(buckets_[b].snapshot());  // A1
        if ((i & kNullsBit) != 0)
          break;
        if (copy_key<KS>(i, next_key))
          return Errc::ok;
      }
    }
    return Errc::not_found;
  }

  // ---- LRU ---------------------------------------------------------------------------------

  [[nodiscard]] bool is_lru() const noexcept { return lru_ != nullptr; }

  // A datapath lookup found element i: set its reference bit (bpf_lru_node_set_ref: only if
  // clear, no lock). No-op for non-LRU maps.
  [[gnu::always_inline]] inline void mark_referenced(std::uint32_t i) const noexcept {
    if (lru_ != nullptr)
      lru_set_ref(lru_ref(i));
  }

  // Called with an evicted element's index while its bucket lock (and LRU locks) are held: the
  // key and value are stable; the callback must not call into the map. Set before the map is
  // shared between threads.
  using EvictFn = void (*)(void* ctx, std::uint32_t idx);
  void set_evict_callback(EvictFn fn, void* ctx) noexcept {
    on_evict_ = fn;
    evict_ctx_ = ctx;
  }
  [[nodiscard]] const void* key_ptr(std::uint32_t i) const noexcept { return key_words(i); }

  [[nodiscard]] LruStats lru_stats(int cpu) const noexcept {
    return lru_ != nullptr ? lru_->stats(cpu) : LruStats{};
  }
  // NO_COMMON_LRU: inserts `cpu` can make before it evicts (its free-list length).
  [[nodiscard]] std::uint32_t lru_percpu_free(int cpu) const noexcept {
    return lru_->percpu_free_count(cpu);
  }

  // Element i's reference bit, in the element's tail (the nodes are in lru_nodes_).
  [[nodiscard]] RefBit& lru_ref(std::uint32_t i) const noexcept {
    return *reinterpret_cast<RefBit*>(elem(i) + lru_off_);
  }
  // del_from_htab (htab_lru_map_delete_node): unlinks element i if it is still linked in the
  // bucket its hash names; false if it is not (a pending insert, or already deleted). Caller
  // holds LRU list locks, no bucket lock.
  bool lru_evict(std::uint32_t i) noexcept {
    // Relaxed: if i is linked its hash is stable (published by the link, ordered by the bucket
    // lock below); if it is not, any value leads to a bucket without i.
    const std::uint32_t hash = header(i).hash_ref().load(std::memory_order_relaxed);
    Bucket& b = buckets_[hash & bucket_mask_];
    if (!b.lock())
      return false;
    bool linked = false;
    for (std::uint32_t j = b.head_locked(); (j & kNullsBit) == 0; j = next_locked(j)) {
      if (j == i) {
        linked = true;
        break;
      }
    }
    if (linked) {
      if (on_evict_ != nullptr)
        on_evict_(evict_ctx_, i);
      unlink_locked(b, i);
    }
    b.unlock(linked);
    return linked;
  }
  // Prefetch hints for nodes the LRU is about to look at.
  void lru_prefetch_elem(std::uint32_t i) const noexcept { prefetch_elem(i); }
  void lru_prefetch_bucket(std::uint32_t i) const noexcept {
    // Relaxed: a hint; a stale hash only prefetches the wrong bucket. For writing: the eviction
    // locks it.
    __builtin_prefetch(
        &buckets_[header(i).hash_ref().load(std::memory_order_relaxed) & bucket_mask_], 1);
  }
  // The head of i's chain, when that is another element: the eviction walks past it (victims
  // are old, so newer elements of their bucket stand before them).
  void lru_prefetch_chain(std::uint32_t i) const noexcept {
    // Relaxed: a hint, as lru_prefetch_bucket().
    const std::uint32_t hash = header(i).hash_ref().load(std::memory_order_relaxed);
    const std::uint32_t head = Bucket::head_of(buckets_[hash & bucket_mask_].snapshot());
    if ((head & kNullsBit) == 0 && head != i)
      __builtin_prefetch(elem(head));
  }

  // ---- writers -------------------------------------------------------------------------------

  // BPF_MAP_UPDATE_ELEM on the hash side. `flags` is the raw flags word.
  // `stride`: as in copy_value(); a stride below round_up(value_size, 8) zero-pads each slot.
  template <std::size_t KS = 0, std::size_t VS = 0>
  [[nodiscard]] Errc update(const void* key, const void* value, std::uint64_t flags, Side side,
                            std::size_t stride = 0) noexcept {
    if (flags > static_cast<std::uint64_t>(UpdateFlag::exist))
      return Errc::invalid;
    if (lru_ != nullptr) {
      return cfg_.percpu ? update_lru_percpu<KS, VS>(key, value, flags, side, stride)
                         : update_lru<KS, VS>(key, value, flags, side, stride);
    }
    const std::uint32_t hash = hash_of<KS>(key);
    if (inplace_lockfree_ && flags != static_cast<std::uint64_t>(UpdateFlag::no_exist) &&
        replace_head_lockfree<KS, VS>(key, hash, value)) {
      return Errc::ok;
    }
    Bucket& b = buckets_[hash & bucket_mask_];
    for (;;) {
      if (!b.lock())
        return Errc::busy;
      const std::uint32_t old = find_locked<KS>(b, key, hash);
      if (old != kNoElem && flags == static_cast<std::uint64_t>(UpdateFlag::no_exist)) {
        b.unlock(false);
        return Errc::exists;
      }
      if (old == kNoElem && flags == static_cast<std::uint64_t>(UpdateFlag::exist)) {
        b.unlock(false);
        return Errc::not_found;
      }
      if (old != kNoElem) {  // replace in place; HASH moves the key to the chain head
        write_begin(old, /*fresh=*/false);
        write_values<VS>(old, value, side, stride, /*fresh=*/false);
        write_end(old);
        const bool move = !cfg_.percpu && b.head_locked() != old;
        if (move) {
          unlink_locked(b, old);
          link_head_locked(b, old);
        }
        b.unlock(move);
        return Errc::ok;
      }
      const int cpu = current_cpu();
      const Taken fresh = take_free(cpu);
      if (fresh.idx == kNoElem) {
        b.unlock(false);
        if (fresh.retry) {  // NO_PREALLOC: every free slot is waiting out a grace period
          // A caller inside a read section cannot wait for one: out of memory, as the kernel's
          // allocator can be under churn.
          if (rcu_in_read_section())
            return Errc::no_memory;
          rcu_flush();
          continue;
        }
        return fresh.error;
      }
      write_begin(fresh.idx, /*fresh=*/true);
      // Release: a word of the seqlock write (words.h).
      header(fresh.idx).hash_ref().store(hash, std::memory_order_release);
      store_bytes<KS>(key_words(fresh.idx), key, cfg_.key_size);
      write_values<VS>(fresh.idx, value, side, stride, /*fresh=*/true);
      write_end(fresh.idx);
      link_head_locked(b, fresh.idx);
      b.unlock(true);
      return Errc::ok;
    }
  }

  // htab_lru_map_update_elem (LRU_HASH):
  //   1. take a node from the LRU first (this may evict, even the key being updated), since
  //      evicting needs bucket locks and the lock order is LRU -> bucket;
  //   2. write key and value into it, lock the bucket, look the key up, check the flags (on an
  //      error the node goes back);
  //   3. link the node at the chain head; a replaced element is unlinked and freed, and the new
  //      node starts referenced, so the replaced key stays protected.
  template <std::size_t KS = 0, std::size_t VS = 0>
  [[nodiscard]] Errc update_lru(const void* key, const void* value, std::uint64_t flags, Side side,
                                std::size_t stride) noexcept {
    const std::uint32_t hash = hash_of<KS>(key);
    const int cpu = current_cpu();
    __builtin_prefetch(&buckets_[hash & bucket_mask_]);  // overlaps the pop below
    const std::uint32_t fresh = lru_->pop_free(cpu);
    if (fresh == kNoElem)
      return Errc::no_memory;
    fill_elem<KS, VS>(fresh, key, hash, value, side, stride);
    Bucket& b = buckets_[hash & bucket_mask_];
    if (!b.lock()) {
      lru_->push_free(fresh);
      return Errc::busy;
    }
    const std::uint32_t old = find_locked<KS>(b, key, hash);
    const Errc err = check_update_flags(old, flags);
    if (err != Errc::ok) {
      b.unlock(false);
      lru_->push_free(fresh);
      return err;
    }
    link_head_locked(b, fresh);
    if (old != kNoElem) {
      lru_set_ref(lru_ref(fresh));
      unlink_locked(b, old);
    }
    b.unlock(true);
    if (old != kNoElem)
      lru_->push_free(old);
    return Errc::ok;
  }

  // htab_lru_percpu_map_update_elem (LRU_PERCPU_HASH): as update_lru(), except that a present
  // key is updated in place (and marked referenced), and BPF_EXIST takes no node at all.
  template <std::size_t KS = 0, std::size_t VS = 0>
  [[nodiscard]] Errc update_lru_percpu(const void* key, const void* value, std::uint64_t flags,
                                       Side side, std::size_t stride) noexcept {
    const std::uint32_t hash = hash_of<KS>(key);
    const int cpu = current_cpu();
    __builtin_prefetch(&buckets_[hash & bucket_mask_]);  // overlaps the pop below
    std::uint32_t fresh = kNoElem;
    if (flags != static_cast<std::uint64_t>(UpdateFlag::exist)) {
      fresh = lru_->pop_free(cpu);
      if (fresh == kNoElem)
        return Errc::no_memory;
      fill_elem<KS, VS>(fresh, key, hash, value, side, stride);
    }
    Bucket& b = buckets_[hash & bucket_mask_];
    if (!b.lock()) {
      if (fresh != kNoElem)
        lru_->push_free(fresh);
      return Errc::busy;
    }
    const std::uint32_t old = find_locked<KS>(b, key, hash);
    const Errc err = check_update_flags(old, flags);
    if (err == Errc::ok && old != kNoElem) {
      lru_set_ref(lru_ref(old));
      write_begin(old, /*fresh=*/false);
      write_values<VS>(old, value, side, stride, /*fresh=*/false);
      write_end(old);
    } else if (err == Errc::ok) {
      link_head_locked(b, fresh);
    }
    const bool linked = err == Errc::ok && old == kNoElem;
    b.unlock(linked);
    if (!linked && fresh != kNoElem)
      lru_->push_free(fresh);  // not needed after all
    return err;
  }

  // BPF_MAP_DELETE_ELEM, or LOOKUP_AND_DELETE_ELEM when `out` is given (copied under the lock).
  template <std::size_t KS = 0, std::size_t VS = 0>
  [[nodiscard]] Errc erase(const void* key, void* out = nullptr, Side side = Side::user,
                           std::size_t stride = 0) noexcept {
    const std::uint32_t hash = hash_of<KS>(key);
    Bucket& b = buckets_[hash & bucket_mask_];
    if (!b.lock())
      return Errc::busy;
    const std::uint32_t i = find_locked<KS>(b, key, hash);
    if (i == kNoElem) {
      b.unlock(false);
      return Errc::not_found;
    }
    const std::uint32_t s0 = own_linked(i);  // a lock-free replace may be writing it
    if (out != nullptr)
      read_value<VS>(i, out, side, stride);
    unlink_locked(b, i);
    disown_linked(i, s0, /*dead=*/true);
    b.unlock(true);
    free_elem(i);
    return Errc::ok;
  }

  // BPF_MAP_LOOKUP_BATCH / LOOKUP_AND_DELETE_BATCH over buckets, as
  // __htab_map_lookup_and_delete_batch: `batch` is the first bucket index to read; on return it
  // is the bucket to continue from and `count` the number of elements copied.
  //   - a bucket is copied whole or not at all; if the first non-empty bucket does not fit in
  //     `max_count`, Errc::no_space (nothing copied); a later one that does not fit ends the
  //     call with Errc::ok and a partial count;
  //   - reaching the last bucket returns Errc::not_found together with the final count.
  // Keys are packed at key_size stride, values at user_value_size() stride. A null `keys` or
  // `values` (the kernel's failing copy_to_user) processes, and with do_delete removes, the
  // first bucket that fits, then returns Errc::fault.
  [[nodiscard]] Errc lookup_batch(std::uint32_t& batch, std::uint32_t max_count,
                                  std::uint32_t& count, unsigned char* keys, unsigned char* values,
                                  bool do_delete) noexcept {
    count = 0;
    if (batch >= n_buckets_)
      return Errc::not_found;
    const std::size_t vsize = user_value_size();
    for (;;) {
      Bucket& b = buckets_[batch];
      // An empty bucket is skipped without its lock (A1).
      if ((Bucket::head_of(b.snapshot()) & kNullsBit) == 0) {
        if (!b.lock())
          return Errc::busy;
        std::uint32_t in_bucket = 0;
        for (std::uint32_t i = b.head_locked(); (i & kNullsBit) == 0; i = next_locked(i)) {
          ++in_bucket;
        }
        if (in_bucket > max_count - count) {
          b.unlock(false);
          return count == 0 ? Errc::no_space : Errc::ok;
        }
        std::uint32_t to_free = kNoElem;  // chained through free_next, freed after unlock
        for (std::uint32_t i = b.head_locked(); (i & kNullsBit) == 0;) {
          const std::uint32_t nx = next_locked(i);
          const std::uint32_t s0 = own_linked(i);  // a lock-free replace may be writing it
          if (keys != nullptr && values != nullptr) {
            load_bytes(keys + static_cast<std::size_t>(count) * cfg_.key_size, key_words(i),
                       cfg_.key_size);
            read_value(i, values + static_cast<std::size_t>(count) * vsize, Side::user, 0);
          }
          ++count;
          if (do_delete) {
            unlink_locked(b, i);
            disown_linked(i, s0, /*dead=*/true);
            header(i).free_next = to_free;
            to_free = i;
          } else {
            disown_linked(i, s0, /*dead=*/false);
          }
          i = nx;
        }
        b.unlock(do_delete && in_bucket > 0);
        while (to_free != kNoElem) {
          const std::uint32_t nx = header(to_free).free_next;
          free_elem(to_free);
          to_free = nx;
        }
        if (keys == nullptr || values == nullptr)
          return Errc::fault;
      }
      ++batch;
      if (batch >= n_buckets_)
        return Errc::not_found;
    }
  }

 private:
  struct Link {
    HashTable* table;
    std::uint32_t& operator()(std::uint32_t i) const noexcept { return table->header(i).free_next; }
  };

  // An element taken for an insert: from the free list, or (NO_PREALLOC) fresh memory.
  struct Taken {
    std::uint32_t idx = kNoElem;
    Errc error = Errc::ok;
    bool retry = false;
  };

  [[nodiscard]] unsigned char* elem(std::uint32_t i) const noexcept {
    return elements_.data() + static_cast<std::size_t>(i) * stride_;
  }
  [[nodiscard]] ElemHeader& header(std::uint32_t i) const noexcept {
    return *reinterpret_cast<ElemHeader*>(elem(i));
  }
  [[nodiscard]] std::uint64_t* key_words(std::uint32_t i) const noexcept {
    return reinterpret_cast<std::uint64_t*>(elem(i) + sizeof(ElemHeader));
  }
  [[nodiscard]] std::uint64_t* value_words(std::uint32_t i, int cpu) const noexcept {
    return static_cast<std::uint64_t*>(value_ptr(i, cpu));
  }

  static constexpr std::uint32_t kRetry = kNoElem - 1;  // walk(): a writer was in the way

  template <std::size_t KS, bool kSecond>
  void find_many_pipelined(const unsigned char* keys, std::size_t key_stride, std::size_t n,
                           std::uint32_t* out) const noexcept {
    // Keys between stages: enough to cover a DRAM miss per stage (bench, 1M, ns per key,
    // three runs: kDist 4: 60-67, 6: 55-59, 8: 53-55, 12: 49-52, 16: 50-52).
    constexpr std::size_t kDist = 12;
    constexpr std::size_t kStages = kSecond ? 3 : 2;  // stages before find()
    constexpr std::size_t kRing = 64;                 // > kStages * kDist, a power of two
    std::uint32_t hashes[kRing];
    for (std::size_t j = 0; j < n + kStages * kDist; ++j) {
      if (j < n) {
        const std::uint32_t h = hash_of<KS>(keys + j * key_stride);
        hashes[j % kRing] = h;
        __builtin_prefetch(&buckets_[h & bucket_mask_]);
      }
      if (j >= kDist && j - kDist < n) {
        const std::uint32_t h = hashes[(j - kDist) % kRing];
        // Relaxed: a hint; find() re-reads the word with the ordering it needs.
        const std::uint64_t w = buckets_[h & bucket_mask_].word_relaxed();
        if (!Bucket::proves_absent(w, h))
          prefetch_elem(Bucket::head_of(w));
      }
      if constexpr (kSecond) {
        if (j >= 2 * kDist && j - 2 * kDist < n) {
          const std::uint32_t h = hashes[(j - 2 * kDist) % kRing];
          // Relaxed: a hint, as above.
          const std::uint64_t w = buckets_[h & bucket_mask_].word_relaxed();
          if (!Bucket::proves_absent(w, h) && Bucket::head_tag_differs(w, h)) {
            // Relaxed: a hint; a stale link only prefetches the wrong element.
            const std::uint32_t second =
                header(Bucket::head_of(w)).next_ref().load(std::memory_order_relaxed);
            if ((second & kNullsBit) == 0)
              prefetch_elem(second);
          }
        }
      }
      if (j >= kStages * kDist) {
        const std::size_t k = j - kStages * kDist;
        out[k] = find<KS>(keys + k * key_stride, hashes[k % kRing]);
      }
    }
  }

  // Prefetches element i's header, key and (non-per-CPU) value: both lines where it straddles.
  [[gnu::always_inline]] inline void prefetch_elem(std::uint32_t i) const noexcept {
    const unsigned char* e = elem(i);
    __builtin_prefetch(e);
    __builtin_prefetch(e + stride_ - 1);
  }

  // One walk of bucket b's chain from the word `w` read with A1. Returns the element holding
  // the key, kNoElem for a miss that stands, or kRetry.
  template <std::size_t KS = 0>
  [[gnu::always_inline]] inline std::uint32_t walk(std::uint32_t b, std::uint64_t w,
                                                   const void* key, std::uint32_t hash,
                                                   std::uint32_t* seq_out) const noexcept {
    std::uint32_t i = Bucket::head_of(w);
    while ((i & kNullsBit) == 0) {
      const ElemHeader& h = header(i);
      // A2: pairs with R2/R3 in write_begin/write_end: see words.h for the seqlock protocol.
      const std::uint32_t s1 = h.seq_ref().load(std::memory_order_acquire);
      if ((s1 & 1U) != 0)
        return kRetry;  // being rewritten: wait for the writer
      // Acquire: part of the seqlock read (keeps the seq re-check below after it).
      if (h.hash_ref().load(std::memory_order_acquire) == hash &&
          equal_bytes<KS>(key_words(i), key, cfg_.key_size)) {
        // Relaxed: ordered after the acquire loads above; detects a rewrite during the compare.
        if (h.seq_ref().load(std::memory_order_relaxed) != s1)
          return kRetry;
        if (seq_out != nullptr)
          *seq_out = s1;
        return i;
      }
      // A1': pairs with R1 (a new head's link) and R4 (unlink): the next element is published.
      i = h.next_ref().load(std::memory_order_acquire);
    }
    // A miss stands if we ended on our own marker and the chain was neither changed nor being
    // changed meanwhile (the walk's acquire loads keep this reload after them). Otherwise an
    // element moved under us, or a writer is in the chain.
    if ((i & ~kNullsBit) == b && !Bucket::locked(w) && buckets_[b].snapshot() == w)
      return kNoElem;
    return kRetry;
  }

  // find() after a walk that met a writer: walk again, backing off, until one stands.
  template <std::size_t KS = 0>
  [[gnu::noinline, gnu::cold]] std::uint32_t find_slow(const void* key, std::uint32_t hash,
                                                       std::uint32_t* seq_out) const noexcept {
    const std::uint32_t b = hash & bucket_mask_;
    Backoff backoff;
    for (;;) {
      backoff.pause();
      const std::uint64_t w = buckets_[b].snapshot();  // A1
      if (Bucket::proves_absent(w, hash))
        return kNoElem;
      const std::uint32_t found = walk<KS>(b, w, key, hash, seq_out);
      if (found != kRetry)
        return found;
    }
  }

  // Caller holds the bucket lock: links are stable, relaxed loads suffice.
  [[nodiscard, gnu::always_inline]] inline std::uint32_t next_locked(
      std::uint32_t i) const noexcept {
    return header(i).next_ref().load(std::memory_order_relaxed);
  }

  // The writer path's helpers below are forced inline: in a large translation unit GCC's
  // unit-growth limit otherwise leaves each one a call (measured in hash_map_bench: u32 update
  // at 1K 29.2 ns with the calls, 20.7 ns inlined; bench/RESULTS.md).
  template <std::size_t KS = 0>
  [[nodiscard, gnu::always_inline]] inline std::uint32_t find_locked(
      const Bucket& b, const void* key, std::uint32_t hash) const noexcept {
    // The bucket word's tag settles most misses without touching an element (large maps: one
    // cache miss fewer for most inserts).
    for (std::uint32_t i = b.head_for_locked(hash); (i & kNullsBit) == 0; i = next_locked(i)) {
      // Relaxed: the element is linked in our locked bucket, so nobody rewrites it.
      if (header(i).hash_ref().load(std::memory_order_relaxed) == hash &&
          equal_bytes<KS>(key_words(i), key, cfg_.key_size)) {
        return i;
      }
    }
    return kNoElem;
  }

  // Caller holds the bucket lock.
  [[gnu::always_inline]] inline void link_head_locked(Bucket& b, std::uint32_t i) noexcept {
    const std::uint32_t old_head = b.head_locked();
    // Release: R4', a walker that still holds i from an earlier life follows a published link.
    header(i).next_ref().store(old_head, std::memory_order_release);
    set_chain_locked(b, i);  // R1: publishes the element's contents with the link
  }

  // Caller holds the lock: sets the head and the word's summary of the chain.
  [[gnu::always_inline]] inline void set_chain_locked(Bucket& b, std::uint32_t head) noexcept {
    if ((head & kNullsBit) != 0) {
      b.set_chain_locked(head, false, 0);
      return;
    }
    // Relaxed: under the bucket lock, the chain's links and hashes are stable.
    b.set_chain_locked(head, (next_locked(head) & kNullsBit) != 0,
                       header(head).hash_ref().load(std::memory_order_relaxed));
  }

  // Caller holds the bucket lock. i's own link is left as it is, so a walker standing on i
  // still reaches the rest of the chain (hlist_nulls_del_rcu).
  [[gnu::always_inline]] inline void unlink_locked(Bucket& b, std::uint32_t i) noexcept {
    const std::uint32_t head = b.head_locked();
    if (head == i) {
      set_chain_locked(b, next_locked(i));
      return;
    }
    std::uint32_t prev = head;
    while (next_locked(prev) != i)
      prev = next_locked(prev);
    // R4: pairs with A1' in find(); the successor was published when it was linked.
    header(prev).next_ref().store(next_locked(i), std::memory_order_release);
    if (prev == head)
      set_chain_locked(b, head);  // the head may now be alone
  }

  // Seqlock writer side; the element has a single writer (bucket lock or ownership).
  // Seqlock writer side. `fresh`: an element just taken for an insert, not linked, so the
  // lock-free replace cannot take it (a deleted one's seq also carries kSeqDead, which a stale
  // replace checks); a plain store makes it odd and clears kSeqDead. Otherwise, in a
  // map with the lock-free replace, the seq is taken by CAS (waiting while another writer has it
  // odd); in other maps the bucket lock (or LRU ownership) already makes this the only writer.
  [[gnu::always_inline]] inline void write_begin(std::uint32_t i, bool fresh) noexcept {
    if (inplace_lockfree_ && !fresh) {
      (void)own_linked(i);
      return;
    }
    ElemHeader& h = header(i);
    // Relaxed: R2, the words' release stores that follow keep this store before them (words.h).
    const std::uint32_t s0 = h.seq_ref().load(std::memory_order_relaxed);
    h.seq_ref().store(seq_next(s0 & ~kSeqDead), std::memory_order_relaxed);
  }
  [[gnu::always_inline]] inline void write_end(std::uint32_t i) noexcept {
    ElemHeader& h = header(i);
    // R3: pairs with A2 in find(); the element is stable again.
    h.seq_ref().store(seq_next(h.seq_ref().load(std::memory_order_relaxed)),
                      std::memory_order_release);
  }

  // seq: bit 0 odd while written, bit 31 kSeqDead (deleted: the lock-free replace must not
  // write it), bits 1-30 a counter that wraps without touching bit 31.
  static constexpr std::uint32_t kSeqDead = 1U << 31;
  static std::uint32_t seq_next(std::uint32_t s) noexcept { return (s + 1U) & ~kSeqDead; }

  // A linked element, with its bucket locked: in a map with the lock-free replace, waits for a
  // replace in progress and takes the seq (odd); returns the even seq it had. Other maps: no-op.
  [[gnu::always_inline]] inline std::uint32_t own_linked(std::uint32_t i) noexcept {
    if (!inplace_lockfree_)
      return 0;
    auto seq = header(i).seq_ref();
    // Relaxed: the CAS's expected value; the CAS orders.
    std::uint32_t s = seq.load(std::memory_order_relaxed);
    for (Backoff backoff;; backoff.pause()) {
      // Acquire: A8, pairs with R3/R8: the last writer's words are visible. The new value is
      // published by the release stores that follow (words.h), as write_begin's.
      if ((s & 1U) == 0 && seq.compare_exchange_weak(s, s + 1U, std::memory_order_acquire,
                                                     std::memory_order_relaxed)) {
        return s;
      }
      s = seq.load(std::memory_order_relaxed);  // Relaxed: as above.
    }
  }
  // Gives back what own_linked() took: the seq moves on (marked dead for an element being
  // deleted), or, for a read-only owner, returns to s0 (nothing changed).
  [[gnu::always_inline]] inline void disown_linked(std::uint32_t i, std::uint32_t s0,
                                                   bool dead) noexcept {
    if (!inplace_lockfree_)
      return;
    // R8: pairs with A2 in find() and A8; a reader that saw the odd seq retries.
    header(i).seq_ref().store(dead ? (seq_next(seq_next(s0)) | kSeqDead) : s0,
                              std::memory_order_release);
  }

  // update() of a present key at its chain's head, without the bucket lock (HASH, preallocated):
  // take the element's seq by CAS from the even value it had when the key was matched, so no
  // delete, reuse or other write came in between; check it is still the head (the kernel links
  // a replaced key at the head; if it is not there, the locked path moves it); write the value.
  // false: not done (absent, not the head, or a writer in the way); the caller takes the lock.
  template <std::size_t KS = 0, std::size_t VS = 0>
  [[gnu::always_inline]] inline bool replace_head_lockfree(const void* key, std::uint32_t hash,
                                                           const void* value) noexcept {
    const std::uint32_t b = hash & bucket_mask_;
    const std::uint32_t i = Bucket::head_of(buckets_[b].snapshot());  // A1
    if ((i & kNullsBit) != 0)
      return false;
    auto seq = header(i).seq_ref();
    // A2 (see walk()).
    std::uint32_t s = seq.load(std::memory_order_acquire);
    if ((s & (1U | kSeqDead)) != 0)
      return false;
    // Acquire: part of the seqlock read (keeps the CAS below after it).
    if (header(i).hash_ref().load(std::memory_order_acquire) != hash ||
        !equal_bytes<KS>(key_words(i), key, cfg_.key_size)) {
      return false;
    }
    // Acquire: A8 (see own_linked()); success means no writer came in since s.
    if (!seq.compare_exchange_strong(s, s + 1U, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return false;
    }
    // Still the head (A1), and still the key (this also settles a seq that wrapped around to s
    // while this thread stood between load and CAS). Relaxed hash load: the element is ours,
    // no one else writes it now, and the CAS's acquire made the last writer's words visible.
    if (Bucket::head_of(buckets_[b].snapshot()) != i ||
        header(i).hash_ref().load(std::memory_order_relaxed) != hash ||
        !equal_bytes<KS>(key_words(i), key, cfg_.key_size)) {
      // R8: nothing was written; readers that saw the odd seq retry and find s again.
      seq.store(s, std::memory_order_release);
      return false;
    }
    write_values<VS>(i, value, Side::program, 0, /*fresh=*/false);
    write_end(i);  // R3
    return true;
  }

  template <std::size_t VS = 0>
  [[gnu::always_inline]] inline void write_values(std::uint32_t i, const void* value, Side side,
                                                  std::size_t stride, bool fresh) noexcept {
    if (!cfg_.percpu) {
      store_bytes<VS>(value_words(i, 0), value, cfg_.value_size);
      return;
    }
    if (side == Side::user) {  // every CPU's slot; with the kernel's stride, padding included
      if (stride == 0)
        stride = vslot_;
      const auto* src = static_cast<const unsigned char*>(value);
      for (int c = 0; c < ncpus_; ++c) {
        store_bytes(value_words(i, c), src + static_cast<std::size_t>(c) * stride, stride);
      }
      return;
    }
    const int cpu = current_cpu();
    store_bytes<VS>(value_words(i, cpu), value, cfg_.value_size);
    if (fresh) {  // a program's new element: the other CPUs' slots start at zero
      for (int c = 0; c < ncpus_; ++c) {
        if (c != cpu)
          zero_words(value_words(i, c), vslot_);
      }
    }
  }

  template <std::size_t VS = 0>
  void read_value(std::uint32_t i, void* out, Side side, std::size_t stride) const noexcept {
    if (!cfg_.percpu) {
      load_bytes<VS>(out, value_words(i, 0), cfg_.value_size);
    } else if (side == Side::user) {
      if (stride == 0)
        stride = vslot_;
      auto* dst = static_cast<unsigned char*>(out);
      for (int c = 0; c < ncpus_; ++c) {
        load_bytes(dst + static_cast<std::size_t>(c) * stride, value_words(i, c), stride);
      }
    } else {
      load_bytes<VS>(out, value_words(i, current_cpu()), cfg_.value_size);
    }
  }

  // Copies element i's key if it is stable throughout; false if it was rewritten meanwhile.
  template <std::size_t KS = 0>
  bool copy_key(std::uint32_t i, void* out) const noexcept {
    // Acquire: A2 (see find()).
    const std::uint32_t s1 = header(i).seq_ref().load(std::memory_order_acquire);
    if ((s1 & 1U) != 0) {
      spin_pause();
      return false;
    }
    load_bytes<KS>(out, key_words(i), cfg_.key_size);
    // Relaxed: ordered after load_bytes' acquire loads (words.h).
    return header(i).seq_ref().load(std::memory_order_relaxed) == s1;
  }

  // check_flags() of hashtab.c, for a key found (old) or not.
  static Errc check_update_flags(std::uint32_t old, std::uint64_t flags) noexcept {
    if (old != kNoElem && flags == static_cast<std::uint64_t>(UpdateFlag::no_exist))
      return Errc::exists;
    if (old == kNoElem && flags == static_cast<std::uint64_t>(UpdateFlag::exist))
      return Errc::not_found;
    return Errc::ok;
  }

  // Writes a new element's hash, key and value (the element is not linked; stale readers that
  // still stand on it see the seqlock).
  template <std::size_t KS = 0, std::size_t VS = 0>
  void fill_elem(std::uint32_t i, const void* key, std::uint32_t hash, const void* value, Side side,
                 std::size_t stride) noexcept {
    write_begin(i, /*fresh=*/true);
    // Release: a word of the seqlock write (words.h).
    header(i).hash_ref().store(hash, std::memory_order_release);
    store_bytes<KS>(key_words(i), key, cfg_.key_size);
    write_values<VS>(i, value, side, stride, /*fresh=*/true);
    write_end(i);
  }

  // A free element for a new key. Caller holds the bucket lock (lock order: bucket -> list).
  Taken take_free(int cpu) noexcept {
    Taken t;
    if (cfg_.prealloc) {
      t.idx = freelist_.pop(cpu);
      if (t.idx == kNoElem)
        t.error = Errc::too_big;
      return t;
    }
    // NO_PREALLOC: the kernel's count check, then memory. Relaxed: the count orders no data.
    if (count_.fetch_add(1, std::memory_order_relaxed) >=
        static_cast<std::int64_t>(cfg_.max_entries)) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      t.error = Errc::too_big;
      return t;
    }
    t = alloc_fresh(cpu);
    if (t.idx == kNoElem)
      count_.fetch_sub(1, std::memory_order_relaxed);
    return t;
  }

  // NO_PREALLOC: a recycled slot, else never-used memory. Sets retry when every slot is
  // waiting for a grace period (the caller drops its lock and waits: rcu_flush()).
  Taken alloc_fresh(int cpu) noexcept {
    Taken t;
    t.idx = freelist_.pop(cpu);
    if (t.idx != kNoElem)
      return t;
    // Relaxed: a slot counter; the slot's contents are published by the bucket link (R1).
    const std::uint32_t n = next_unused_.fetch_add(1, std::memory_order_relaxed);
    if (n < capacity_) {
      t.idx = n;
      return t;
    }
    next_unused_.fetch_sub(1, std::memory_order_relaxed);
    t.retry = true;
    return t;
  }

  void free_elem(std::uint32_t i) noexcept {
    if (lru_ != nullptr) {
      lru_->push_free(i);  // the LRU counts its nodes in use itself
    } else if (cfg_.prealloc) {
      freelist_.push(current_cpu(), i);
    } else {
      // Relaxed: the capacity count orders no data (the kernel's inc/dec_elem_count).
      count_.fetch_sub(1, std::memory_order_relaxed);
      retire(i);
    }
  }

  // NO_PREALLOC: back to the free lists after a grace period.
  void retire(std::uint32_t i) noexcept {
    struct Retired {
      HashTable* table;
      std::uint32_t idx;
    };
    try {
      auto* retired = new Retired{this, i};
      // Relaxed: the increment happens before rcu_defer() on this thread; the destructor
      // waits for the decrement (A6/R6), which the grace period orders after it.
      pending_.fetch_add(1, std::memory_order_relaxed);
      rcu_defer(
          [](void* arg) {
            auto* r = static_cast<Retired*>(arg);
            HashTable* table = r->table;
            table->freelist_.push(current_cpu(), r->idx);
            delete r;
            // R6: pairs with A6 in the destructor.
            table->pending_.fetch_sub(1, std::memory_order_release);
          },
          retired);
    } catch (const std::bad_alloc&) {
      // No memory for the deferral node: wait for the grace period here instead.
      rcu_flush();
      freelist_.push(current_cpu(), i);
    }
  }

  HashConfig cfg_;
  int ncpus_;
  std::size_t kslot_;
  std::size_t vslot_;
  std::size_t lru_off_;  // LRU maps: offset of the element's reference bit (after key and value)
  std::size_t stride_;
  std::uint32_t n_buckets_ = 0;
  std::uint32_t bucket_mask_ = 0;
  std::uint32_t seed_ = 0;
  // HASH, preallocated, not per-CPU: update() of a key at its chain's head writes in place
  // without the bucket lock (replace_head_lockfree()), so every other writer of a linked
  // element takes its seq by CAS (own_linked()).
  bool inplace_lockfree_ = false;
  // find_many()'s way, by the table's bytes (buckets + elements): up to kCachedTableBytes
  // cached, up to kLlcTableBytes head, beyond that chain.
  enum class ManyMode : std::uint8_t { cached, head, chain };
  static constexpr std::size_t kCachedTableBytes = std::size_t{1} << 20;  // about one L2
  static constexpr std::size_t kLlcTableBytes = std::size_t{16} << 20;    // about one L3
  ManyMode many_mode_ = ManyMode::head;
  std::uint32_t capacity_ = 0;  // element slots: max_entries, or the NO_PREALLOC reserve
  Region bucket_region_;
  Bucket* buckets_ = nullptr;  // n_buckets_ buckets in bucket_region_
  Region elements_;
  Region pcpu_;
  Region lru_nodes_;  // LRU maps: one LruNode per element, then the list sentinels
  PerCpuFreelist<Link> freelist_;
  // LRU maps: the node lists that replace the free list (lru_list.h).
  std::unique_ptr<LruList<HashTable>> lru_;
  // LRU maps: called for every evicted element, under its bucket lock (set_evict_callback()).
  EvictFn on_evict_ = nullptr;
  void* evict_ctx_ = nullptr;
  // NO_PREALLOC: elements counted against max_entries (written by every insert and delete,
  // read by the capacity check). Own line: it is the one shared write of such maps.
  alignas(kCacheLine) std::atomic<std::int64_t> count_{0};
  // NO_PREALLOC: frees deferred to a grace period and not yet run (retire() / its callback).
  std::atomic<std::uint64_t> pending_{0};
  // NO_PREALLOC: slots handed out so far from the reserved region.
  alignas(kCacheLine) std::atomic<std::uint32_t> next_unused_{0};
};

}  // namespace xmaps::detail
