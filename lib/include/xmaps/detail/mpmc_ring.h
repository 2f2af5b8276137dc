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
//                 EXIST push helping an earlier one) counts one drop. The push takes effect at
//                 that moment; if a consumer got ticket t - cap first, the push was a plain push
//                 after that pop. Then it waits for its slot to be free and writes.
//   pop           takes ticket d = D (CAS) once slot d is written. If slot d is not written and
//                 E <= d while D is still d, the ring was empty: ENOENT. (If E > d, the producer
//                 of ticket d is still writing: wait for it.)
//   peek          reads slot D's value while it stays ticket D's (seqlock-style re-check).
//   bulk          a range of tickets per CAS: push_bulk / pop_bulk behave as n single pushes /
//                 pops in order, stopping at the first that finds the ring full / empty.
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
      : cap_(max_entries),
        mask_(std::has_single_bit(max_entries) ? max_entries - 1 : 0),
        pow2_(std::has_single_bit(max_entries)),
        value_size_(value_size),
        words_((static_cast<std::size_t>(value_size) + 7) / 8),
        stride_(8 * (1 + words_)) {
    if (value_size == 0 || max_entries == 0)
      throw std::invalid_argument("xmaps: queue value_size and max_entries must be > 0");
    slots_ = Region(static_cast<std::size_t>(cap_) * stride_, /*commit=*/true);
    for (std::uint64_t t = 0; t < cap_; ++t) {
      // Relaxed: construction is single-threaded; publishing the ring orders it.
      seq(t).store(free_for(t), std::memory_order_relaxed);
    }
  }
  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;
  MpmcRing(MpmcRing&&) = delete;
  MpmcRing& operator=(MpmcRing&&) = delete;
  ~MpmcRing() = default;

  [[nodiscard]] std::uint32_t capacity() const noexcept { return cap_; }
  [[nodiscard]] std::uint32_t value_size() const noexcept { return value_size_; }
  // Elements now: exact when nothing runs concurrently, else a snapshot in [0, capacity].
  [[nodiscard]] std::uint32_t size() const noexcept {
    // Acquire (both): a snapshot of the counters; D first, so E - D does not go negative.
    const std::uint64_t d = deq_.value.load(std::memory_order_acquire);
    const std::uint64_t e = enq_.value.load(std::memory_order_acquire);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(e > d ? e - d : 0, cap_));
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    // Relaxed: a statistic.
    return dropped_.value.load(std::memory_order_relaxed);
  }

  template <std::size_t VS = 0>
  [[nodiscard]] Errc push(const void* value, std::uint64_t flags) noexcept {
    if (const Errc err = check_push_flags(flags); err != Errc::ok)
      return err;
    if (flags == static_cast<std::uint64_t>(UpdateFlag::exist)) {
      push_exist<VS>(value);
      return Errc::ok;
    }
    std::uint64_t t = 0;
    if (claim_push(1, t) == 0)
      return Errc::too_big;
    publish<VS>(t, value);
    return Errc::ok;
  }

  // `zero_on_empty` false: `out` is left as it was on ENOENT (the bpf(2) path). `out` may be
  // null: the element is still taken (pop) or found (peek).
  template <std::size_t VS = 0>
  [[nodiscard]] Errc pop(void* out, bool zero_on_empty = true) noexcept {
    std::uint64_t d = 0;
    if (claim_pop(1, d) == 0) {
      if (out != nullptr && zero_on_empty)
        std::memset(out, 0, bytes<VS>());
      return Errc::not_found;
    }
    consume<VS>(d, out);
    return Errc::ok;
  }

  template <std::size_t VS = 0>
  [[nodiscard]] Errc peek(void* out, bool zero_on_empty = true) const noexcept {
    Backoff backoff;
    for (;;) {
      // Seq_cst: D in the total order of claims (the empty check below re-reads it).
      const std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
      // Acquire: pairs with publish()'s release of written(d): the value words are visible.
      const std::uint64_t s = seq(d).load(std::memory_order_acquire);
      if (s == written(d)) {
        if (out != nullptr)
          load_bytes<VS>(out, data(d), bytes<VS>());
        // Seq_cst (D): ordered after the word loads, in the claims' total order. Relaxed
        // (seq): ordered after them by the words' acquire loads (words.h). If D is still d,
        // nobody has taken ticket d, so no later lap has touched the slot: the copy is ticket
        // d's value.
        if (deq_.value.load(std::memory_order_seq_cst) == d &&
            seq(d).load(std::memory_order_relaxed) == written(d)) {
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
    if (flags == static_cast<std::uint64_t>(UpdateFlag::exist)) {
      for (std::size_t i = 0; i < n; ++i)
        push_exist<VS>(src + i * value_size_);
      return n;
    }
    std::size_t done = 0;
    while (done < n) {
      std::uint64_t t = 0;
      const std::size_t k = claim_push(n - done, t);
      if (k == 0)
        break;
      for (std::size_t i = 0; i < k; ++i)
        publish<VS>(t + i, src + (done + i) * value_size_);
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
    std::size_t done = 0;
    while (done < n) {
      std::uint64_t d = 0;
      const std::size_t k = claim_pop(n - done, d);
      if (k == 0)
        break;
      for (std::size_t i = 0; i < k; ++i)
        consume<VS>(d + i, dst + (done + i) * value_size_);
      done += k;
    }
    return done;
  }

 private:
  static constexpr std::uint64_t free_for(std::uint64_t t) noexcept { return 2 * t; }
  static constexpr std::uint64_t written(std::uint64_t t) noexcept { return 2 * t + 1; }
  [[nodiscard]] std::uint64_t index(std::uint64_t t) const noexcept {
    return pow2_ ? (t & mask_) : t % cap_;
  }
  [[nodiscard]] std::uint64_t* slot_words(std::uint64_t t) const noexcept {
    return reinterpret_cast<std::uint64_t*>(slots_.data() +
                                            static_cast<std::size_t>(index(t)) * stride_);
  }
  [[nodiscard]] std::atomic_ref<std::uint64_t> seq(std::uint64_t t) const noexcept {
    return std::atomic_ref<std::uint64_t>(*slot_words(t));
  }
  [[nodiscard]] std::uint64_t* data(std::uint64_t t) const noexcept { return slot_words(t) + 1; }
  template <std::size_t VS>
  [[nodiscard]] std::size_t bytes() const noexcept {
    if constexpr (VS != 0)
      return VS;
    return value_size_;
  }

  // Takes up to `want` consecutive push tickets, the first in `t`; 0 only when the ring was
  // full at some moment during the call (the linearization point of E2BIG).
  std::size_t claim_push(std::size_t want, std::uint64_t& t) noexcept {
    Backoff backoff;
    // Seq_cst (every E and D access of the claims): the full and empty verdicts reason about
    // "E was e when D was read", which needs the one total order of seq_cst operations; on
    // x86 seq_cst loads are plain moves and locked RMWs are seq_cst anyway.
    std::uint64_t e = enq_.value.load(std::memory_order_seq_cst);
    for (;;) {
      // Acquire: pairs with the consumers' release of seq = t (the previous lap is out), so
      // our writes to the slot come after their reads.
      const std::uint64_t s = seq(e).load(std::memory_order_acquire);
      const auto dif = static_cast<std::int64_t>(s - free_for(e));
      if (dif == 0) {
        // Free for ticket e. For a range, count the free slots after it (the consumers free
        // them in any order; stop at the first that is not).
        std::size_t k = 1;
        while (k < want && k < cap_ &&
               // Acquire: as above, for each slot of the range.
               seq(e + k).load(std::memory_order_acquire) == free_for(e + k)) {
          ++k;
        }
        // Seq_cst: see the first load.
        if (enq_.value.compare_exchange_weak(e, e + k, std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
          t = e;
          return k;
        }
        continue;  // e was reloaded by the failed CAS
      }
      if (dif < 0) {
        // The slot still holds ticket e - cap. Full if nobody has taken that ticket out (D <=
        // e - cap) while E is still e.
        // Seq_cst (this load and the next): "E was e when D was read" needs the single total
        // order of seq_cst operations; on x86 these loads are plain moves.
        const std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
        if (d + cap_ <= e) {
          const std::uint64_t again = enq_.value.load(std::memory_order_seq_cst);
          if (again == e)
            return 0;
          e = again;
          continue;
        }
        backoff.pause();  // ticket e - cap is being copied out (or dropped): wait for its slot
        e = enq_.value.load(std::memory_order_seq_cst);  // Seq_cst: see the first load
        continue;
      }
      // Another producer took ticket e. Seq_cst: see the first load.
      e = enq_.value.load(std::memory_order_seq_cst);
    }
  }

  // Takes up to `want` consecutive pop tickets, the first in `d`; 0 only when the ring was
  // empty at some moment during the call.
  std::size_t claim_pop(std::size_t want, std::uint64_t& d) noexcept {
    Backoff backoff;
    // Seq_cst: as in claim_push().
    std::uint64_t x = deq_.value.load(std::memory_order_seq_cst);
    for (;;) {
      // Acquire: pairs with publish()'s release of written(x): the value is visible.
      const std::uint64_t s = seq(x).load(std::memory_order_acquire);
      const auto dif = static_cast<std::int64_t>(s - written(x));
      if (dif == 0) {
        std::size_t k = 1;
        while (k < want && k < cap_ &&
               // Acquire: as above, for each slot of the range.
               seq(x + k).load(std::memory_order_acquire) == written(x + k)) {
          ++k;
        }
        // Seq_cst: see claim_push().
        if (deq_.value.compare_exchange_weak(x, x + k, std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
          d = x;
          return k;
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
        backoff.pause();                                 // ticket x is being written
        x = deq_.value.load(std::memory_order_seq_cst);  // Seq_cst: see claim_push()
        continue;
      }
      // Another consumer took ticket x. Seq_cst: see claim_push().
      x = deq_.value.load(std::memory_order_seq_cst);
    }
  }

  // Ticket t is ours: wait for its slot (a consumer or dropper of ticket t - cap may still be
  // at it), write, publish.
  template <std::size_t VS>
  void publish(std::uint64_t t, const void* value) noexcept {
    std::atomic_ref<std::uint64_t> s = seq(t);
    Backoff backoff;
    // Acquire: pairs with the release of free_for(t) by whoever took ticket t - cap out.
    while (s.load(std::memory_order_acquire) != free_for(t))
      backoff.pause();
    store_bytes<VS>(data(t), value, bytes<VS>());
    // Release: the value words before the seq that says they are there.
    s.store(written(t), std::memory_order_release);
  }

  // Ticket d is ours and written: copy it out and free the slot for ticket d + cap.
  template <std::size_t VS>
  void consume(std::uint64_t d, void* out) noexcept {
    std::atomic_ref<std::uint64_t> s = seq(d);
    Backoff backoff;
    // Acquire: pairs with publish()'s release (a range claim checked only the first slot's
    // seq when it raced; wait for each).
    while (s.load(std::memory_order_acquire) != written(d))
      backoff.pause();
    if (out != nullptr)
      load_bytes<VS>(out, data(d), bytes<VS>());
    // Release: our reads of the slot come before the next lap's writes (its producer acquires).
    s.store(free_for(d + cap_), std::memory_order_release);
  }

  // bpf_map_push_elem(BPF_EXIST).
  template <std::size_t VS>
  void push_exist(const void* value) noexcept {
    // Seq_cst: a claim in the total order of claims and checks (see claim_push()).
    const std::uint64_t t = enq_.value.fetch_add(1, std::memory_order_seq_cst);
    if (t >= cap_) {
      const std::uint64_t oldest = t - cap_;
      // Seq_cst: as every claim's access of D (claim_push()).
      std::uint64_t d = deq_.value.load(std::memory_order_seq_cst);
      while (d <= oldest) {
        // Ticket d (ours to drop, or an earlier EXIST push's) is still in: take it out.
        // Seq_cst: as the claim in claim_pop().
        if (deq_.value.compare_exchange_weak(d, d + 1, std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
          drop(d);
          ++d;
        }
      }
    }
    publish<VS>(t, value);
  }

  // Ticket d was taken out by a drop: wait until it is written (its producer must not write
  // into the next lap), then free the slot.
  void drop(std::uint64_t d) noexcept {
    std::atomic_ref<std::uint64_t> s = seq(d);
    Backoff backoff;
    // Acquire: pairs with publish()'s release; its writes are done before we free the slot.
    while (s.load(std::memory_order_acquire) != written(d))
      backoff.pause();
    // Release: the slot is free for ticket d + cap.
    s.store(free_for(d + cap_), std::memory_order_release);
    // Relaxed: a statistic.
    dropped_.value.fetch_add(1, std::memory_order_relaxed);
  }

  const std::uint32_t cap_;
  const std::uint64_t mask_;
  const bool pow2_;
  const std::uint32_t value_size_;
  const std::size_t words_;   // value words per slot
  const std::size_t stride_;  // bytes per slot: seq + words
  Region slots_;
  CacheAligned<std::atomic<std::uint64_t>> enq_;  // E
  CacheAligned<std::atomic<std::uint64_t>> deq_;  // D
  CacheAligned<std::atomic<std::uint64_t>> dropped_;
};

}  // namespace xmaps::detail
