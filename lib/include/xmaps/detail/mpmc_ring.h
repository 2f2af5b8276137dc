// SPDX-License-Identifier: MIT
//
// MpmcRing: the engine of Queue<T> (BPF_MAP_TYPE_QUEUE semantics) for any number of producers
// and consumers, without a lock. A ticket ring in the style of D. Vyukov's bounded MPMC queue
// (per-slot sequence numbers, separate producer and consumer counters), extended so that every
// result is linearizable, including E2BIG, ENOENT and the overwrite-oldest push:
//
//   E, D       tickets handed out to producers and consumers (u64, never wrap in practice),
//              each on its own cache line. Ticket t lives in slot t % cap.
//   seq        per slot: == 2t      free for ticket t (its previous lap has been taken out)
//                        == 2t + 1  ticket t's value is written
//              A consumer (or a dropper, below) of ticket t sets seq = 2(t + cap) when done.
//              (Twice the ticket, so that "written" and "free for the next lap" differ even
//              when cap is 1, where Vyukov's t + 1 / t + cap would be the same number.)
//   contents   tickets [max(D, E - cap), E): pushes take effect when they take a ticket from E,
//              pops when they take one from D.
//
//   push ANY      takes ticket t = E (CAS) only once slot t is free. If slot t still holds
//                 ticket t - cap and D <= t - cap while E is still t, the ring was full at that
//                 moment: E2BIG. (If D > t - cap, a consumer is still copying ticket t - cap out:
//                 wait for it.)
//   push EXIST    takes a ticket unconditionally (fetch_add). If ticket t - cap is still in the
//                 ring (D <= t - cap), it is dropped: whoever moves D past it (this push, or an
//                 EXIST push helping an earlier one) counts one drop, in the dropped slot's own
//                 counter (drops_: the dropper owns the slot, so a plain increment, and no
//                 counter shared by all producers; dropped() sums them). The push takes effect at
//                 that moment; if a consumer got ticket t - cap first, the push was a plain push
//                 after that pop. Then it waits for its slot to be free and writes.
//   pop           takes ticket d = D (CAS) once slot d is written. If slot d is not written and
//                 E <= d while D is still d, the ring was empty: ENOENT. (If E > d, the producer
//                 of ticket d is still writing: wait for it.)
//   peek          reads slot D's value while it stays ticket D's (seqlock-style re-check).
//   bulk          a range of tickets per CAS, sized by the other side's counter (room E - D <
//                 cap, or values E - D), each slot then waited for; push_bulk / pop_bulk behave
//                 as n single pushes / pops in order, stopping at the first that finds the ring
//                 full / empty (decided by a single claim, as above).
//
// Progress: claims are lock-free; a thread that claimed a ticket then waits only for the
// threads that hold lower tickets of the same slot (the writer it must follow, the reader it
// must not overwrite), never in a cycle. A thread descheduled between its claim and its
// release stalls the threads that follow it on that slot, as in every ticket ring (Vyukov's,
// DPDK's rte_ring): the waits spin with Backoff, which yields.
//
// Values are stored and read as 64-bit words through atomic_ref (detail/words.h), because a
// peek may read a slot while a later lap's producer writes it (it then retries).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/region.h"
#include "xmaps/detail/ring_table.h"  // check_push_flags
#include "xmaps/detail/spinlock.h"    // Backoff
#include "xmaps/detail/words.h"
#include "xmaps/errc.h"

namespace xmaps::detail {

class MpmcRing {
 public:
  // Throws std::invalid_argument (zero sizes), std::bad_alloc.
  MpmcRing(std::uint32_t value_size, std::uint32_t max_entries)
      : geo_{nullptr, 8 * (1 + (static_cast<std::size_t>(value_size) + 7) / 8),
             std::has_single_bit(max_entries) ? std::uint64_t{max_entries} - 1 : 0, max_entries,
             std::has_single_bit(max_entries)},
        value_size_(value_size) {
    if (value_size == 0 || max_entries == 0)
      throw std::invalid_argument("xmaps: queue value_size and max_entries must be > 0");
    slots_ = Region(static_cast<std::size_t>(max_entries) * geo_.stride, /*commit=*/true);
    geo_.base = slots_.data();
    // Not committed: a ring that never overwrites never touches it (zero pages read as 0).
    drops_ =
        Region(static_cast<std::size_t>(max_entries) * sizeof(std::uint64_t), /*commit=*/false);
    for (std::uint64_t t = 0; t < max_entries; ++t) {
      // Relaxed: construction is single-threaded; publishing the ring orders it.
      seq_of(geo_.slot<0>(t)).store(free_for(t), std::memory_order_relaxed);
    }
  }
  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;
  MpmcRing(MpmcRing&&) = delete;
  MpmcRing& operator=(MpmcRing&&) = delete;
  ~MpmcRing() = default;

  [[nodiscard]] std::uint32_t capacity() const noexcept { return geo_.cap; }
  [[nodiscard]] std::uint32_t value_size() const noexcept { return value_size_; }
  // Elements now: exact when nothing runs concurrently, else a snapshot in [0, capacity].
  [[nodiscard]] std::uint32_t size() const noexcept {
    // Seq_cst (both): a snapshot; D first, so E - D does not go negative.
    const std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
    const std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(e > d ? e - d : 0, geo_.cap));
  }
  // Sums one counter per slot: O(capacity), meant for statistics, not for a hot loop.
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    std::uint64_t n = 0;
    for (std::uint32_t i = 0; i < geo_.cap; ++i) {
      // Relaxed: a statistic; each counter only grows.
      n += drops_of(i).load(std::memory_order_relaxed);
    }
    return n;
  }

  template <std::size_t VS = 0>
  [[nodiscard]] Errc push(const void* value, std::uint64_t flags) noexcept {
    if (const Errc err = check_push_flags(flags); err != Errc::ok)
      return err;
    if (flags == static_cast<std::uint64_t>(UpdateFlag::exist)) {
      push_exist<VS>(value);
      return Errc::ok;
    }
    const Geometry g = geo_;
    std::uint64_t t = 0;
    unsigned char* slot = nullptr;
    if (claim_push<VS>(g, t, slot) == 0)
      return Errc::too_big;
    write_owned<VS>(slot, t, value);
    return Errc::ok;
  }

  // `zero_on_empty` false: `out` is left as it was on ENOENT (the bpf(2) path). `out` may be
  // null: the element is still taken (pop) or found (peek).
  template <std::size_t VS = 0>
  [[nodiscard]] Errc pop(void* out, bool zero_on_empty = true) noexcept {
    const Geometry g = geo_;
    std::uint64_t d = 0;
    unsigned char* slot = nullptr;
    if (claim_pop<VS>(g, d, slot) == 0) {
      if (out != nullptr && zero_on_empty)
        std::memset(out, 0, bytes<VS>());
      return Errc::not_found;
    }
    read_owned<VS>(g, slot, d, out);
    return Errc::ok;
  }

  template <std::size_t VS = 0>
  [[nodiscard]] Errc peek(void* out, bool zero_on_empty = true) const noexcept {
    const Geometry g = geo_;
    Backoff backoff;
    for (;;) {
      // Seq_cst: D in the total order of claims (the empty check below re-reads it).
      const std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
      unsigned char* const slot = g.slot<VS>(d);
      // Acquire: pairs with the release of written(d): the value words are visible.
      const std::uint64_t s = seq_of(slot).load(std::memory_order_acquire);
      if (s == written(d)) {
        if (out != nullptr)
          load_bytes<VS>(out, data_of(slot), bytes<VS>());
        // Seq_cst (D): ordered after the word loads, in the claims' total order. Relaxed
        // (seq): ordered after them by the words' acquire loads (words.h). If D is still d,
        // nobody has taken ticket d, so no later lap has touched the slot: the copy is ticket
        // d's value.
        if (deq_.value.load(std::memory_order_seq_cst) == d &&
            seq_of(slot).load(std::memory_order_relaxed) == written(d)) {
          return Errc::ok;
        }
        continue;
      }
      if (static_cast<std::int64_t>(s - written(d)) < 0) {
        // Not written. Empty if no producer holds ticket d (E <= d) while D is still d.
        // Seq_cst (both): as the empty check in claim_pop().
        const std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
        if (e <= d && deq_.value.load(std::memory_order_seq_cst) == d) {
          if (out != nullptr && zero_on_empty)
            std::memset(out, 0, bytes<VS>());
          return Errc::not_found;
        }
        if (e > d)
          backoff.pause();  // ticket d is being written
      }
    }
  }

  // As n pushes of the values (value_size stride), in order; returns how many went in. ANY
  // stops at the first that finds the ring full; EXIST pushes all n. Invalid flags: none.
  template <std::size_t VS = 0>
  std::size_t push_bulk(const void* values, std::size_t n, std::uint64_t flags,
                        Errc* err = nullptr) noexcept {
    const Errc e = check_push_flags(flags);
    if (err != nullptr)
      *err = e;
    if (e != Errc::ok)
      return 0;
    const auto* src = static_cast<const unsigned char*>(values);
    const std::size_t vs = bytes<VS>();
    if (flags == static_cast<std::uint64_t>(UpdateFlag::exist)) {
      for (std::size_t i = 0; i < n; ++i)
        push_exist<VS>(src + i * vs);
      return n;
    }
    const Geometry g = geo_;
    std::size_t done = 0;
    while (done < n) {
      std::uint64_t t = 0;
      const std::size_t k = claim_push_range(g, n - done, t);
      if (k == 0) {
        // No room by the counters: a single claim decides between "full" and a slot that is
        // about to be released.
        unsigned char* slot = nullptr;
        if (claim_push<VS>(g, t, slot) == 0)
          break;
        write_owned<VS>(slot, t, src + done * vs);
        ++done;
        continue;
      }
      for_each_slot<VS>(g, t, k, [&](unsigned char* slot, std::uint64_t ticket, std::size_t i) {
        wait_for(slot, free_for(ticket));
        write_owned<VS>(slot, ticket, src + (done + i) * vs);
      });
      done += k;
    }
    if (done < n && err != nullptr)
      *err = Errc::too_big;
    return done;
  }

  // As up to n pops, in order, stopping at the first that finds the ring empty.
  template <std::size_t VS = 0>
  std::size_t pop_bulk(void* out, std::size_t n) noexcept {
    auto* dst = static_cast<unsigned char*>(out);
    const std::size_t vs = bytes<VS>();
    const Geometry g = geo_;
    std::size_t done = 0;
    while (done < n) {
      std::uint64_t d = 0;
      const std::size_t k = claim_pop_range(n - done, d);
      if (k == 0) {
        // Nothing by the counters: a single claim decides between "empty" and a value that is
        // about to be written.
        unsigned char* slot = nullptr;
        if (claim_pop<VS>(g, d, slot) == 0)
          break;
        read_owned<VS>(g, slot, d, dst + done * vs);
        ++done;
        continue;
      }
      for_each_slot<VS>(g, d, k, [&](unsigned char* slot, std::uint64_t ticket, std::size_t i) {
        wait_for(slot, written(ticket));
        read_owned<VS>(g, slot, ticket, dst + (done + i) * vs);
      });
      done += k;
    }
    return done;
  }

 private:
  // Where ticket t's slot is. Copied into a local by every operation: the atomics would
  // otherwise make the compiler reload each member after each of them.
  struct Geometry {
    unsigned char* base;
    std::size_t stride;  // bytes per slot: the seq word, then the value words
    std::uint64_t mask;  // cap - 1 when cap is a power of two
    std::uint32_t cap;
    bool pow2;

    template <std::size_t VS>
    [[nodiscard]] unsigned char* slot(std::uint64_t t) const noexcept {
      // A typed ring knows its stride at compile time (a shift, not a multiply).
      const std::size_t st = VS != 0 ? 8 * (1 + (VS + 7) / 8) : stride;
      const std::uint64_t i = pow2 ? (t & mask) : t % cap;
      return base + static_cast<std::size_t>(i) * st;
    }
  };

  static constexpr std::uint64_t free_for(std::uint64_t t) noexcept { return 2 * t; }
  static constexpr std::uint64_t written(std::uint64_t t) noexcept { return 2 * t + 1; }
  static std::atomic_ref<std::uint64_t> seq_of(unsigned char* slot) noexcept {
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(slot));
  }
  [[nodiscard]] std::atomic_ref<std::uint64_t> drops_of(std::uint64_t slot_index) const noexcept {
    return std::atomic_ref<std::uint64_t>(
        *(reinterpret_cast<std::uint64_t*>(drops_.data()) + slot_index));
  }
  static std::uint64_t* data_of(unsigned char* slot) noexcept {
    return reinterpret_cast<std::uint64_t*>(slot) + 1;
  }
  template <std::size_t VS>
  [[nodiscard]] std::size_t bytes() const noexcept {
    if constexpr (VS != 0)
      return VS;
    return value_size_;
  }

  // Takes one push ticket `t` whose slot (`slot`) is free (its previous lap has been taken out
  // and released); 0 only when the ring was full at some moment during the call (the
  // linearization point of E2BIG). Ranges: claim_push_range().
  template <std::size_t VS>
  std::size_t claim_push(const Geometry& g, std::uint64_t& t, unsigned char*& slot) noexcept {
    Backoff backoff;
    // Seq_cst (every E and D access of the claims): the full and empty verdicts reason about
    // "E was e when D was read", which needs the one total order of seq_cst operations; on
    // x86 seq_cst loads are plain moves and locked RMWs are seq_cst anyway.
    std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
    for (;;) {
      // Acquire: pairs with the release of free_for(e) by whoever took ticket e - cap out, so
      // our writes to the slot come after their reads.
      unsigned char* const here = g.slot<VS>(e);
      const std::uint64_t s = seq_of(here).load(std::memory_order_acquire);
      const auto dif = static_cast<std::int64_t>(s - free_for(e));
      if (dif == 0) [[likely]] {
        // Free for ticket e. Seq_cst: see the first load. A slot seen free stays free until
        // its ticket's owner writes it, so no wait is needed after the claim.
        if (enq_.value.compare_exchange_weak(e, e + 1, std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
          t = e;
          slot = here;
          return 1;
        }
        continue;  // e was reloaded by the failed CAS
      }
      if (dif < 0) {
        // The slot still holds ticket e - cap. Full if nobody has taken that ticket out (D <=
        // e - cap) while E is still e. Seq_cst (this load and the next): see the first load.
        const std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
        if (d + g.cap <= e) {
          const std::uint64_t again = enq_.value.load(std::memory_order_seq_cst);
          if (again == e)
            return 0;
          e = again;
          continue;
        }
        backoff.pause();  // ticket e - cap is being copied out (or dropped): wait for its slot
      }
      // Another producer took ticket e (or we waited). Seq_cst: see the first load.
      e = enq_.value.load(std::memory_order_seq_cst);
    }
  }

  // Takes one pop ticket `d` whose value (in `slot`) is written; 0 only when the ring was empty
  // at some moment during the call. Ranges: claim_pop_range().
  template <std::size_t VS>
  std::size_t claim_pop(const Geometry& g, std::uint64_t& d, unsigned char*& slot) noexcept {
    Backoff backoff;
    // Seq_cst: as in claim_push().
    std::uint64_t x = deq_.value.load(std::memory_order_seq_cst);
    for (;;) {
      // Acquire: pairs with the release of written(x): the value is visible.
      unsigned char* const here = g.slot<VS>(x);
      const std::uint64_t s = seq_of(here).load(std::memory_order_acquire);
      const auto dif = static_cast<std::int64_t>(s - written(x));
      if (dif == 0) [[likely]] {
        // Seq_cst: see claim_push(). A slot seen written stays so until its ticket's owner
        // releases it.
        if (deq_.value.compare_exchange_weak(x, x + 1, std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
          d = x;
          slot = here;
          return 1;
        }
        continue;
      }
      if (dif < 0) {
        // Not written. Empty if no producer holds ticket x (E <= x) while D is still x.
        // Seq_cst (this load and the next): as the full check in claim_push().
        const std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
        if (e <= x) {
          const std::uint64_t again = deq_.value.load(std::memory_order_seq_cst);
          if (again == x)
            return 0;
          x = again;
          continue;
        }
        backoff.pause();  // ticket x is being written
      }
      // Another consumer took ticket x (or we waited). Seq_cst: see claim_push().
      x = deq_.value.load(std::memory_order_seq_cst);
    }
  }

  // Takes up to `want` consecutive push tickets (the first in `t`) that the counters show room
  // for: E - D < cap, D read after E. Their slots' previous laps have all been taken (D is past
  // them) but may still be being copied out: the caller waits for each slot. 0: no room by the
  // counters (the caller then decides with a single claim).
  std::size_t claim_push_range(const Geometry& g, std::size_t want, std::uint64_t& t) noexcept {
    // Seq_cst (E, D and the CAS): see claim_push().
    std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
    for (;;) {
      const std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
      const std::uint64_t used = e > d ? e - d : 0;  // D may have passed a stale e
      if (used >= g.cap)
        return 0;
      const std::uint64_t k = std::min<std::uint64_t>(want, g.cap - used);
      if (enq_.value.compare_exchange_weak(e, e + k, std::memory_order_seq_cst,
                                           std::memory_order_seq_cst)) {
        t = e;
        return static_cast<std::size_t>(k);
      }
    }
  }

  // Takes up to `want` consecutive pop tickets (the first in `d`) that producers hold: E - D,
  // E read after D. Their values may still be being written: the caller waits for each slot.
  // 0: none by the counters (the caller then decides with a single claim).
  std::size_t claim_pop_range(std::size_t want, std::uint64_t& d) noexcept {
    // Seq_cst (D, E and the CAS): see claim_push().
    std::uint64_t x = deq_.value.load(std::memory_order_seq_cst);
    for (;;) {
      const std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
      if (e <= x)
        return 0;
      const std::uint64_t k = std::min<std::uint64_t>(want, e - x);
      if (deq_.value.compare_exchange_weak(x, x + k, std::memory_order_seq_cst,
                                           std::memory_order_seq_cst)) {
        d = x;
        return static_cast<std::size_t>(k);
      }
    }
  }

  // fn(slot, ticket, i) for tickets first .. first + k - 1, walking the slots without a modulo
  // per ticket (at most one wrap).
  template <std::size_t VS, class Fn>
  static void for_each_slot(const Geometry& g, std::uint64_t first, std::size_t k, Fn&& fn) {
    const std::size_t st = VS != 0 ? 8 * (1 + (VS + 7) / 8) : g.stride;
    unsigned char* slot = g.slot<VS>(first);
    unsigned char* const end = g.base + static_cast<std::size_t>(g.cap) * st;
    for (std::size_t i = 0; i < k; ++i) {
      fn(slot, first + i, i);
      slot += st;
      if (slot == end)
        slot = g.base;
    }
  }

  // Spins (with Backoff) until the slot's seq is `want`.
  static void wait_for(unsigned char* slot, std::uint64_t want) noexcept {
    // Acquire: pairs with the release that stores `want` (a producer's written(t), or the
    // free_for(t) of whoever took the previous lap out): what it did to the slot is visible.
    if (seq_of(slot).load(std::memory_order_acquire) == want) [[likely]]
      return;
    Backoff backoff;
    // Acquire: as above.
    while (seq_of(slot).load(std::memory_order_acquire) != want)
      backoff.pause();
  }

  // Ticket t is ours and its slot free: write, publish.
  template <std::size_t VS>
  void write_owned(unsigned char* slot, std::uint64_t t, const void* value) noexcept {
    store_bytes<VS>(data_of(slot), value, bytes<VS>());
    // Release: the value words before the seq that says they are there.
    seq_of(slot).store(written(t), std::memory_order_release);
  }

  // Ticket d is ours and written: copy it out and free the slot for ticket d + cap.
  template <std::size_t VS>
  void read_owned(const Geometry& g, unsigned char* slot, std::uint64_t d, void* out) noexcept {
    if (out != nullptr)
      load_bytes<VS>(out, data_of(slot), bytes<VS>());
    // Release: our reads of the slot come before the next lap's writes (its producer acquires).
    seq_of(slot).store(free_for(d + g.cap), std::memory_order_release);
  }

  // bpf_map_push_elem(BPF_EXIST).
  template <std::size_t VS>
  void push_exist(const void* value) noexcept {
    const Geometry g = geo_;
    // Seq_cst: a claim in the total order of claims and checks (see claim_push()).
    const std::uint64_t t = enq_.value.fetch_add(1, std::memory_order_seq_cst);
    if (t >= g.cap) {
      const std::uint64_t oldest = t - g.cap;
      // Seq_cst: as every claim's access of D (claim_push()).
      std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
      while (d <= oldest) {
        // Ticket d (ours to drop, or an earlier EXIST push's) is still in: take it out.
        // Seq_cst: as the claim in claim_pop().
        if (deq_.value.compare_exchange_weak(d, d + 1, std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
          drop(g, d);
          ++d;
        }
      }
    }
    // The slot may still be being read (or dropped) for ticket t - cap: wait for it.
    unsigned char* const slot = g.slot<VS>(t);
    wait_for(slot, free_for(t));
    write_owned<VS>(slot, t, value);
  }

  // Ticket d was taken out by a drop: wait until it is written (its producer must not write
  // into the next lap), count the drop in the slot's counter, then free the slot.
  void drop(const Geometry& g, std::uint64_t d) noexcept {
    unsigned char* const slot = g.slot<0>(d);
    wait_for(slot, written(d));  // its producer's writes are done before we free the slot
    // The slot is ours until the release below, and the next dropper of this slot acquires
    // after it (through the next lap's written()): load + store, not a read-modify-write.
    // Relaxed (both): dropped() only sums; the release below orders the store for the next
    // dropper.
    const std::atomic_ref<std::uint64_t> count = drops_of(g.pow2 ? (d & g.mask) : d % g.cap);
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // Release: the slot is free for ticket d + cap.
    seq_of(slot).store(free_for(d + g.cap), std::memory_order_release);
  }

  Geometry geo_;
  const std::uint32_t value_size_;
  Region slots_;
  CacheAligned<std::atomic<std::uint64_t>> enq_;  // E
  CacheAligned<std::atomic<std::uint64_t>> deq_;  // D
  Region drops_;  // one u64 per slot: drops of the tickets that slot held
};

}  // namespace xmaps::detail
